"""The sample configuration is the generator's output for the code as it is,
and shows the defaults the services really start with."""

import difflib
import json
import os
import subprocess
import sys

from tests import fixtures

SAMPLE = os.path.join("etc", "nativesnap", "nativesnap.conf.sample")
GENERATOR_CONF = os.path.join("etc", "nativesnap",
                              "nativesnap-config-generator.conf")
BIN = os.path.dirname(sys.executable)


def _generate(tmp_path):
    out = tmp_path / "nativesnap.conf.sample"
    subprocess.run([os.path.join(BIN, "oslo-config-generator"), "--config-file",
                    GENERATOR_CONF, "--output-file", str(out)],
                   cwd=fixtures.REPO, check=True, capture_output=True, text=True,
                   timeout=120)
    return out.read_text()


def _sample():
    path = os.path.join(fixtures.REPO, SAMPLE)
    assert os.path.exists(path), f"{SAMPLE} is missing: run `make sample-config`"
    with open(path) as f:
        return f.read()


def test_sample_config_is_what_the_generator_produces_now(tmp_path):
    generated = _generate(tmp_path)
    sample = _sample()
    diff = "".join(difflib.unified_diff(
        sample.splitlines(True), generated.splitlines(True),
        fromfile=SAMPLE, tofile="generated", n=1))
    assert sample == generated, (
        f"{SAMPLE} is out of date: run `make sample-config` and commit the "
        f"result.\n{diff[:4000]}")


def test_sample_shows_nativesnaps_own_defaults():
    sample = _sample()
    for line in ("#connection = sqlite:///$state_path/nativesnap.sqlite",
                 "#state_path = /var/lib/nativesnap",
                 "#host = <hostname>",  # not the generating machine's name
                 "#enabled_drivers = libvirt",
                 "#policy_file = policy.yaml",
                 "#auth_strategy = noauth2"):
        assert line + "\n" in sample, (
            f"{line!r} missing from {SAMPLE}; run `make sample-config`")
    assert "cheroot=WARNING" in sample
    # The generating machine's name is nowhere a default (a short host name
    # such as "vm" may well appear inside other words).
    assert f"= {os.uname().nodename}\n" not in sample


def test_services_start_with_the_library_defaults_the_sample_shows(tmp_path):
    # A fresh interpreter, as nativesnap-api starts: parse no config file.
    code = (
        "import json\n"
        "from nativesnap.common import service\n"
        "from nativesnap.conf import CONF\n"
        "service.parse_args(['nativesnap-api', '--config-dir', %r])\n"
        "print(json.dumps({'connection': CONF.database.connection,\n"
        "                  'levels': CONF.default_log_levels,\n"
        "                  'policy_file': CONF.oslo_policy.policy_file}))\n"
    ) % str(tmp_path)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code],
                         cwd=fixtures.REPO, check=True, capture_output=True,
                         text=True, timeout=60)
    values = json.loads(out.stdout.strip().splitlines()[-1])
    sample = _sample()
    assert f"#default_log_levels = {','.join(values['levels'])}\n" in sample
    assert "cheroot=WARNING" in values["levels"]
    assert values["policy_file"] == "policy.yaml"
    assert values["connection"] == "sqlite:////var/lib/nativesnap/nativesnap.sqlite"
