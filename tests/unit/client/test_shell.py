"""The CLI's settings, command table and openstackclient plugin (no server)."""

import configparser
import os

from keystoneauth1.identity import generic
from keystoneauth1 import token_endpoint
import pytest

from nativesnap.client import commands
from nativesnap.client import exceptions
from nativesnap.client import osc_plugin
from nativesnap.client import shell

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture
def env(monkeypatch):
    """A clean environment of NATIVESNAP_*/OS_* variables; returns a setter."""
    for name in list(os.environ):
        if name.startswith(("NATIVESNAP_", "OS_")):
            monkeypatch.delenv(name)
    return lambda **values: [monkeypatch.setenv(k, v) for k, v in values.items()]


def options(argv=("server", "list")):
    app = shell.NativesnapApp(list(argv))
    parsed, _ = app.parser.parse_known_args(list(argv))
    return parsed


def test_url_and_token_from_the_environment_make_a_noauth2_client(env):
    env(NATIVESNAP_URL="http://api:8779/v1", NATIVESNAP_TOKEN="admin:demo",
        NATIVESNAP_API_VERSION="1.0")
    client = shell.make_client(options())
    assert isinstance(client.session.auth, token_endpoint.Token)
    assert client.session.auth.token == "admin:demo"
    assert client.endpoint == "http://api:8779"
    assert client._conn._requested_version == "1.0"


def test_flags_override_the_environment(env):
    env(NATIVESNAP_URL="http://env:1", NATIVESNAP_TOKEN="env:env")
    argv = ["--url", "http://flag:2", "--token", "flag:flag", "server", "list"]
    client = shell.make_client(options(argv))
    assert client.endpoint == "http://flag:2"
    assert client.session.auth.token == "flag:flag"


def test_missing_settings_say_what_to_set(env):
    with pytest.raises(exceptions.ClientException, match="NATIVESNAP_URL"):
        shell.make_client(options())
    env(NATIVESNAP_URL="http://api:8779")
    with pytest.raises(exceptions.ClientException, match="NATIVESNAP_TOKEN"):
        shell.make_client(options())


def test_os_variables_load_a_keystone_password_plugin(env):
    env(OS_AUTH_URL="http://keystone:5000/v3", OS_USERNAME="demo",
        OS_PASSWORD="secret", OS_PROJECT_NAME="demo",
        OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
        OS_REGION_NAME="RegionTwo", OS_INTERFACE="internal")
    client = shell.make_client(options())
    auth = client.session.auth
    assert isinstance(auth, generic.Password)
    assert auth.auth_url == "http://keystone:5000/v3"
    assert auth._username == "demo" and auth._project_name == "demo"
    adapter = client._conn.adapter
    assert adapter.service_type == "snapshot"
    assert adapter.region_name == "RegionTwo" and adapter.interface == "internal"
    assert adapter.endpoint_override is None  # from the catalog


def test_a_keystone_token_plugin_by_os_auth_type(env):
    env(OS_AUTH_TYPE="token", OS_AUTH_URL="http://keystone:5000/v3",
        OS_TOKEN="gAAAA", OS_PROJECT_ID="p1", NATIVESNAP_URL="http://api:8779")
    client = shell.make_client(options())
    assert isinstance(client.session.auth, generic.Token)
    assert client.endpoint == "http://api:8779"  # --url overrides the catalog


def test_a_noauth2_token_wins_over_os_variables_unless_a_type_is_set(env):
    env(OS_AUTH_URL="http://keystone:5000/v3", NATIVESNAP_URL="http://api:1",
        NATIVESNAP_TOKEN="admin:demo")
    assert isinstance(shell.make_client(options()).session.auth,
                      token_endpoint.Token)


def test_incomplete_keystone_settings_say_so(env):
    env(OS_AUTH_TYPE="password")
    with pytest.raises(exceptions.AuthenticationFailed, match="password"):
        shell.make_client(options())


def test_no_command_option_can_be_taken_for_a_global_one(env):
    # cliff reads global options from the whole command line: a command's
    # option with a global option's name would be swallowed by the app.
    app = shell.NativesnapApp(["server", "list"])
    global_opts = {o for a in app.parser._actions for o in a.option_strings}
    for name, cls in commands.COMMANDS.items():
        parser = cls(app, None, cmd_name=name).get_parser(f"nativesnap {name}")
        own = {o for a in parser._actions for o in a.option_strings}
        assert own & global_opts <= {"-h", "--help"}, (name, own & global_opts)
    assert app.parser.allow_abbrev is False


def test_every_command_has_a_description_and_an_example_epilog(env):
    app = shell.NativesnapApp(["server", "list"])
    for name, cls in commands.COMMANDS.items():
        cmd = cls(app, None, cmd_name=name)
        assert cmd.get_description(), name
        assert f"examples:\n  nativesnap {name}" in cmd.get_epilog(), name
        assert "--help" not in cmd.get_epilog()


def test_long_operations_have_wait_and_timeout_options(env):
    app = shell.NativesnapApp(["server", "list"])
    for name in ("snapshot create", "snapshot delete", "snapshot export",
                 "server spawn", "server revert"):
        parser = commands.COMMANDS[name](app, None, cmd_name=name).get_parser(
            name)
        parsed = parser.parse_args(
            {"snapshot create": ["n", "--server", "s"],
             "snapshot delete": ["x"],
             "snapshot export": ["x", "--image-name", "i"],
             "server spawn": ["n", "--snapshot", "x"],
             "server revert": ["s", "x"]}[name] + ["--wait", "--timeout", "2.5"])
        assert parsed.wait is True and parsed.timeout == 2.5


def test_setup_cfg_registers_the_console_script_and_every_command_for_osc():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    eps = cfg["options.entry_points"]

    def entries(group):
        return dict(line.split(" = ") for line in eps[group].strip().splitlines())

    assert entries("console_scripts")["nativesnap"] == \
        "nativesnap.client.shell:main"
    assert entries("openstack.cli.extension") == {
        "native": "nativesnap.client.osc_plugin"}
    expected = {"native_" + name.replace(" ", "_"):
                f"{cls.__module__}:{cls.__name__}"
                for name, cls in commands.COMMANDS.items()}
    assert entries("openstack.native.v1") == expected


def test_the_osc_plugin_module_has_what_openstackclient_needs():
    import argparse

    assert osc_plugin.API_NAME == "native"
    assert osc_plugin.API_VERSION_OPTION == "os_native_api_version"
    assert osc_plugin.DEFAULT_API_VERSION in osc_plugin.API_VERSIONS
    assert set(osc_plugin.API_VERSIONS) == {"1", "1.0", "1.1", "1.2"}
    assert osc_plugin.check_api_version("1.1")
    assert not osc_plugin.check_api_version("2")
    parser = osc_plugin.build_option_parser(argparse.ArgumentParser())
    assert parser.parse_args([]).os_native_api_version == "1"
    assert parser.parse_args(["--os-native-api-version", "1.0"]) \
        .os_native_api_version == "1.0"


def test_the_osc_plugin_makes_a_client_on_openstackclients_session():
    from keystoneauth1 import session as ks_session

    class Instance:  # the parts of openstackclient's ClientManager it uses
        region_name = "R1"
        interface = "public"
        _api_version = {"native": "1.0"}
        session = ks_session.Session(auth=token_endpoint.Token("http://a:1",
                                                               "t:t"))

        def get_endpoint_for_service_type(self, service_type, region_name,
                                          interface):
            assert (service_type, region_name, interface) == (
                "snapshot", "R1", "public")
            return "http://a:1/v1"

    client = osc_plugin.make_client(Instance())
    assert client.endpoint == "http://a:1"
    assert client.session is Instance.session
    assert client._conn._requested_version == "1.0"
    Instance._api_version = {"native": "1"}
    assert osc_plugin.make_client(Instance())._conn._requested_version is None
