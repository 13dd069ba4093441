"""The view of a project's quota set (Nova's and Cinder's shape): its id
and each resource's limit, or with usage each resource's
``{"limit", "in_use"}``."""

RESOURCES = ("snapshots", "snapshots_per_server")


def show(quota_set):
    view = {"id": quota_set["id"]}
    view.update((name, quota_set[name]) for name in RESOURCES)
    return view
