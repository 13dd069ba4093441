"""libvirt XML is built with lxml: user text is escaped, spawned domains get
their own identity, disk swaps touch only the disks named."""

from lxml import etree

from nativesnap.virt.libvirt import xml as lxml_xml

DOMAIN = """<domain type='qemu'>
  <name>src</name><uuid>11111111-2222-3333-4444-555555555555</uuid>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='/a/vda.qcow2'/><backingStore type='file'>
      <format type='qcow2'/><source file='/a/base.qcow2'/></backingStore>
      <target dev='vda' bus='virtio'/><serial>vol-1</serial></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='/a/vdb.raw'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/a/cd.iso'/>
      <target dev='hdc' bus='ide'/><readonly/></disk>
    <disk type='network' device='disk'><driver name='qemu' type='raw'/>
      <source protocol='rbd' name='pool/img'/><target dev='vdc' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/>
      <source network='default'/><target dev='vnet7'/></interface>
    <channel type='unix'><source mode='bind' path='/run/src.agent'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <serial type='file'><source path='/a/console.log'/><target port='0'/></serial>
  </devices>
</domain>"""


def test_disks_are_parsed_with_format_source_serial_and_kind():
    disks = {d.target: d for d in lxml_xml.disks(DOMAIN)}
    assert disks["vda"].source == "/a/vda.qcow2" and disks["vda"].serial == "vol-1"
    assert disks["vda"].driver_type == "qcow2" and disks["vda"].is_snapshottable
    assert disks["vdb"].driver_type == "raw"
    assert not disks["hdc"].is_snapshottable  # a read-only CD-ROM
    assert disks["vdc"].protocol == "rbd" and disks["vdc"].source == "pool/img"


def test_snapshot_xml_escapes_the_user_text_and_names_the_snapshot_by_id():
    doc = lxml_xml.snapshot_xml("7d3e", "<a & 'b'> \"c\"", {"vda": "/o/x.qcow2"})
    root = etree.fromstring(doc)
    assert root.findtext("name") == "7d3e"
    assert root.findtext("description") == "<a & 'b'> \"c\""
    assert "&lt;a &amp; 'b'&gt;" in doc
    assert root.find("memory").get("snapshot") == "no"
    disk = root.find("disks/disk")
    assert disk.get("snapshot") == "external"
    assert disk.find("source").get("file") == "/o/x.qcow2"


def test_snapshot_xml_with_memory_names_the_memory_file():
    doc = lxml_xml.snapshot_xml("id", None, {"vda": "/o/x.qcow2"},
                                memory_file="/o/id.mem")
    memory = etree.fromstring(doc).find("memory")
    assert memory.get("snapshot") == "external" and memory.get("file") == "/o/id.mem"


def test_set_disk_sources_swaps_only_the_named_disks_and_drops_their_old_chain():
    out = lxml_xml.set_disk_sources(DOMAIN, {"vda": "/new/vda.qcow2"})
    disks = {d.target: d for d in lxml_xml.disks(out)}
    assert disks["vda"].source == "/new/vda.qcow2"
    assert disks["vdb"].source == "/a/vdb.raw"
    vda = [n for n in etree.fromstring(out).findall("devices/disk")
           if n.find("target").get("dev") == "vda"][0]
    assert vda.find("backingStore") is None


def test_a_spawned_domain_gets_a_new_name_uuid_macs_agent_socket_and_console():
    out = lxml_xml.for_new_domain(DOMAIN, "nativesnap-new", "99999999-8888-7777-"
                                  "6666-555555555555", {"vda": "/c/vda.qcow2"},
                                  "/c/console.log")
    root = etree.fromstring(out)
    assert root.findtext("name") == "nativesnap-new"
    assert root.findtext("uuid") == "99999999-8888-7777-6666-555555555555"
    assert root.find("devices/interface/mac") is None  # libvirt makes a new one
    assert root.find("devices/interface/target") is None
    assert root.find("devices/channel/source").get("path") is None
    assert root.find("devices/serial/source").get("path") == "/c/console.log"
    assert all(d.serial is None for d in lxml_xml.disks(out))
    assert {d.target: d.source for d in lxml_xml.disks(out)}["vda"] == "/c/vda.qcow2"


def test_spawned_domain_leaves_out_writable_disks_the_snapshot_does_not_hold():
    out = lxml_xml.for_new_domain(DOMAIN, "nativesnap-new", "99999999-8888-7777-"
                                  "6666-555555555555", {"vda": "/c/vda.qcow2"},
                                  "/c/console.log")
    # vdb and vdc (e.g. attached volumes) would be opened by two domains at
    # once; the read-only cdrom can be shared.
    assert sorted(d.target for d in lxml_xml.disks(out)) == ["hdc", "vda"]


def test_agent_connected_reads_the_agent_channel_state_of_the_live_xml():
    live = DOMAIN.replace("name='org.qemu.guest_agent.0'/>",
                          "name='org.qemu.guest_agent.0' state='{}'/>")
    assert lxml_xml.agent_connected(live.format("connected"))
    assert not lxml_xml.agent_connected(live.format("disconnected"))
    assert not lxml_xml.agent_connected(DOMAIN)  # inactive XML: no state
    assert not lxml_xml.agent_connected(
        "<domain><devices><channel type='pty'><target type='virtio' "
        "name='org.other'/></channel></devices></domain>")
