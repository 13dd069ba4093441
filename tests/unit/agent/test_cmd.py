"""The command line refuses what cannot work (half a TLS pair, half the
heartbeat options, a bad hint) and the token comes only from its file."""

import pytest

from nativesnap.agent import cmd


def test_defaults_and_a_full_command_line(tmp_path):
    args = cmd.parse_args(["--token-file", "t", "--listen", "127.0.0.1:0",
                           "--root-device-hint", '{"name": "/dev/sdb", "size": 10}',
                           "--conductor-url", "https://c:8779", "--node-id", "n1"])
    assert args.listen == ("127.0.0.1", 0)
    assert args.root_device_hint == {"name": "/dev/sdb", "size": 10}
    assert args.heartbeat_interval == 30.0
    assert cmd.own_url(args, ("127.0.0.1", 4321)) == "http://127.0.0.1:4321"


@pytest.mark.parametrize("argv", [
    [],                                                    # no token file
    ["--token-file", "t", "--cert-file", "c"],
    ["--token-file", "t", "--node-id", "n"],
    ["--token-file", "t", "--listen", "nohostport"],
    ["--token-file", "t", "--root-device-hint", "not json"],
    ["--token-file", "t", "--root-device-hint", '{"colour": "red"}'],
    ["--token-file", "t", "--heartbeat-interval", "0"],
])
def test_bad_command_lines_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cmd.parse_args(argv)
    assert exit_.value.code == 2


def test_the_token_is_read_stripped_and_an_empty_file_refused(tmp_path):
    token = tmp_path / "token"
    token.write_text("  abc\n")
    token.chmod(0o600)
    assert cmd.read_token(str(token)) == "abc"
    token.write_text("\n")
    with pytest.raises(ValueError, match="holds no token"):
        cmd.read_token(str(token))


def test_https_is_advertised_with_a_certificate():
    args = cmd.parse_args(["--token-file", "t", "--cert-file", "c", "--key-file", "k",
                           "--listen", "[::1]:9999"])
    assert cmd.own_url(args, ("::1", 9999)) == "https://[::1]:9999"
    args = cmd.parse_args(["--token-file", "t", "--advertise-url", "https://n:1/"])
    assert cmd.own_url(args, ("0.0.0.0", 1)) == "https://n:1"
