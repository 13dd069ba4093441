"""oslo.policy enforcement, with nativesnap's rule: another project's resource is
invisible (404), not forbidden (403), so that ids of other projects leak nothing.

The defaults (nativesnap/policies/) follow Keystone's default roles, project
scoped; docs/policy.md, and the generated etc/nativesnap/policy.yaml.sample."""

import threading

from oslo_policy import policy

from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap import policies

_ENFORCER = None
_LOCK = threading.Lock()


def get_enforcer():
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is None:
            # A missing policy file is fine: every rule has its default in code.
            _ENFORCER = policy.Enforcer(CONF)
            _ENFORCER.register_defaults(policies.list_rules())
    return _ENFORCER


def enforcer_for_tools():
    """The enforcer for oslo.policy's command-line tools
    (``oslopolicy-policy-generator``, ``oslopolicy-list-redundant``, ...),
    through the ``oslo.policy.enforcer`` entry point: they call it before
    anything has read nativesnap's configuration, so it is read here (the
    tools' own ``--config-file`` arguments are already parsed by then, into
    the same CONF)."""
    if not CONF.config_file and not CONF.config_dir:
        CONF([], project="nativesnap")
    return get_enforcer()


def reset():
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is not None:
            _ENFORCER.clear()
        _ENFORCER = None


def authorize(context, action, target, fatal=True):
    """Check ``action`` against ``target``; raise Forbidden when ``fatal``."""
    enforcer = get_enforcer()
    try:
        return enforcer.authorize(action, target, context, do_raise=fatal,
                                  exc=exception.Forbidden, action=action)
    except policy.PolicyNotRegistered:
        raise exception.Forbidden(action=action) from None
    except policy.InvalidScope:
        # Every rule is for project-scoped tokens (policies/base.py); a
        # system- or domain-scoped one is refused as any other denial is.
        raise exception.Forbidden(action=action) from None


def authorize_resource(context, action, project_id, not_found):
    """Authorise acting on a resource owned by ``project_id``.

    Raises ``not_found`` when the caller is of another project and the policy
    denies it (no existence leak), Forbidden when the caller's own project is
    denied by an operator's stricter rule.
    """
    if authorize(context, action, {"project_id": project_id}, fatal=False):
        return
    if project_id != context.project_id:
        raise not_found
    raise exception.Forbidden(action=action)
