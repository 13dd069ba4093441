"""nativesnap's ids in vSphere snapshot names, and the tree read from a VM's
``rootSnapshotList``."""

import types

from nativesnap.virt.vmware import inventory

ID_1 = "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a"
ID_2 = "1c2b5d9f-8a1f-4d49-8b66-0e6a5a2f3d4b"


def test_a_snapshot_s_vsphere_name_is_its_label_and_its_id():
    snap = types.SimpleNamespace(name="before <upgrade> [x]", id=ID_1)
    name = inventory.snapshot_name(snap)
    assert name == f"before <upgrade> [x] [{ID_1}]"
    assert inventory.snapshot_id_of(name) == ID_1


def test_names_without_an_id_are_not_nativesnap_s():
    for name in ("made in vCenter", f"x [{ID_1}] trailing", "", None,
                 f"x [{ID_1.upper()}]"):
        assert inventory.snapshot_id_of(name) is None


def test_the_tree_gives_parents_and_the_current_snapshot():
    def node(name, ref, children=()):
        return types.SimpleNamespace(name=name, snapshot=ref,
                                     childSnapshotList=list(children))

    root = node(f"a [{ID_1}]", "ref-1", [node(f"b [{ID_2}]", "ref-2"),
                                         node("vcenter's own", "ref-3")])
    walked = inventory.walk([root], current="ref-2")
    assert [(n.snapshot_id, n.parent_id, n.current) for n in walked] == [
        (ID_1, None, False), (ID_2, ID_1, True), (None, ID_1, False)]
    assert inventory.walk(None, None) == []
