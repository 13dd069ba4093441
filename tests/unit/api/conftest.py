"""Fixtures of the API's unit tests."""

import pytest

from nativesnap import policy


@pytest.fixture
def default_policies(tmp_path, config):
    """The policy rules' defaults in code (the policy file named does not
    exist), reset before and after the test."""
    policy.reset()
    policy.get_enforcer()  # registers [oslo_policy]
    config("policy_file", str(tmp_path / "no-such-policy.yaml"),
           group="oslo_policy")
    policy.reset()
    yield
    policy.reset()
