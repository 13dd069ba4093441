"""The policy sample is the generator's output for the rules as they are in
code (`make sample-policy`), as the configuration sample is for the options."""

import difflib
import os
import re
import subprocess
import sys

from nativesnap import policies
from tests import fixtures

SAMPLE = os.path.join("etc", "nativesnap", "policy.yaml.sample")
GENERATOR_CONF = os.path.join("etc", "nativesnap",
                              "nativesnap-policy-generator.conf")
BIN = os.path.dirname(sys.executable)
# A rule's default in the sample: commented out, no space after the '#'
# (the deprecation notes are '# "name":"check" has been deprecated ...').
DEFAULT_LINE = re.compile(r'^#"([^"]+)": "(.*)"$')


def _generate(tmp_path):
    out = tmp_path / "policy.yaml.sample"
    subprocess.run([os.path.join(BIN, "oslopolicy-sample-generator"),
                    "--config-file", GENERATOR_CONF, "--output-file", str(out)],
                   cwd=fixtures.REPO, check=True, capture_output=True, text=True,
                   timeout=120)
    return out.read_text()


def _sample():
    path = os.path.join(fixtures.REPO, SAMPLE)
    assert os.path.exists(path), f"{SAMPLE} is missing: run `make sample-policy`"
    with open(path) as f:
        return f.read()


def test_the_generator_config_writes_the_sample():
    with open(os.path.join(fixtures.REPO, GENERATOR_CONF)) as f:
        text = f.read()
    assert f"output_file = {SAMPLE}\n" in text
    assert "namespace = nativesnap\n" in text


def test_sample_policy_is_what_the_generator_produces_now(tmp_path):
    generated = _generate(tmp_path)
    sample = _sample()
    diff = "".join(difflib.unified_diff(
        sample.splitlines(True), generated.splitlines(True),
        fromfile=SAMPLE, tofile="generated", n=1))
    assert sample == generated, (
        f"{SAMPLE} is out of date: run `make sample-policy` and commit the "
        f"result.\n{diff[:4000]}")


def test_sample_shows_every_rule_with_its_default():
    shown = {}
    for line in _sample().splitlines():
        match = DEFAULT_LINE.match(line)
        if match:
            assert match.group(1) not in shown, f"{match.group(1)} twice"
            shown[match.group(1)] = match.group(2)
    assert shown == {r.name: r.check_str for r in policies.list_rules()}


def test_sample_says_the_intended_scope_and_the_deprecated_defaults():
    sample = _sample()
    assert "# Intended scope(s): project\n" in sample
    assert ('# "nativesnap:servers:show":"rule:project_member_or_admin" has '
            "been") in sample
    assert "enforce_new_defaults" in sample


def test_oslo_policy_tools_see_the_effective_policy_of_a_policy_file(tmp_path):
    # oslopolicy-policy-generator finds nativesnap's enforcer by its entry
    # point (oslo.policy.enforcer) and prints the rules in force: the
    # file's where it sets one, the default elsewhere.
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"nativesnap:snapshots:delete": "rule:context_is_admin"\n')
    conf = tmp_path / "nativesnap.conf"
    conf.write_text(f"[oslo_policy]\npolicy_file = {policy_file}\n")
    done = subprocess.run(
        [os.path.join(BIN, "oslopolicy-policy-generator"),
         "--namespace", "nativesnap", "--config-file", str(conf)],
        cwd=fixtures.REPO, check=True, capture_output=True, text=True,
        timeout=120)
    assert '"nativesnap:snapshots:delete": "rule:context_is_admin"' in done.stdout
    assert ('"nativesnap:snapshots:show": "rule:project_reader_or_admin"'
            in done.stdout)
