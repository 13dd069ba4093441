"""Reading and writing libvirt XML with lxml.

Every document is built as a tree and serialised by lxml, so user text (a
snapshot's name and description) is always escaped; no XML is ever made by
string formatting.
"""

import dataclasses

from lxml import etree


@dataclasses.dataclass
class Disk:
    target: str  # e.g. vda
    device: str  # disk | cdrom | floppy | lun
    type: str  # file | block | network | volume
    driver_type: str | None  # qcow2 | raw | ...
    source: str | None  # file path (or rbd name for network disks)
    protocol: str | None
    serial: str | None
    readonly: bool
    shareable: bool

    @property
    def is_snapshottable(self):
        return self.device == "disk" and not self.readonly and not self.shareable


@dataclasses.dataclass(frozen=True)
class NetworkSource:
    """A network disk's new source for ``set_disk_sources``: the same
    protocol, hosts and auth, another image (``pool/image`` for rbd)."""
    protocol: str
    name: str


def parse(xml_text):
    return etree.fromstring(xml_text.encode() if isinstance(xml_text, str)
                            else xml_text)


def tostring(tree):
    return etree.tostring(tree, encoding="unicode")


def disks(domain_xml):
    root = parse(domain_xml)
    found = []
    for node in root.findall("./devices/disk"):
        target = node.find("target")
        source = node.find("source")
        driver = node.find("driver")
        serial = node.find("serial")
        disk_type = node.get("type", "file")
        if source is None:
            path = None
        elif disk_type == "file":
            path = source.get("file")
        elif disk_type == "block":
            path = source.get("dev")
        else:
            path = source.get("name")
        found.append(Disk(
            target=target.get("dev") if target is not None else None,
            device=node.get("device", "disk"),
            type=disk_type,
            driver_type=driver.get("type") if driver is not None else None,
            source=path,
            protocol=source.get("protocol") if source is not None else None,
            serial=serial.text if serial is not None else None,
            readonly=node.find("readonly") is not None,
            shareable=node.find("shareable") is not None,
        ))
    return found


def agent_connected(domain_xml):
    """Whether a guest agent is connected to the domain's agent channel (the
    live XML's ``state='connected'``)."""
    for target in parse(domain_xml).findall("./devices/channel/target"):
        if target.get("name") == "org.qemu.guest_agent.0":
            return target.get("state") == "connected"
    return False


def snapshot_xml(name, description, disk_files, memory_file=None,
                 internal=False, excluded=()):
    """A <domainsnapshot> document.

    ``disk_files``: {target: new overlay path} for external snapshots, or the
    targets to snapshot internally when ``internal``. ``memory_file``: an
    external memory file, or None for disk-only (or internal memory).
    """
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    if internal:
        pass  # libvirt snapshots memory internally when the domain runs
    elif memory_file:
        etree.SubElement(root, "memory", snapshot="external", file=memory_file)
    else:
        etree.SubElement(root, "memory", snapshot="no")
    disks_node = etree.SubElement(root, "disks")
    for target in sorted(disk_files):
        if internal:
            etree.SubElement(disks_node, "disk", name=target, snapshot="internal")
            continue
        disk = etree.SubElement(disks_node, "disk", name=target,
                                snapshot="external", type="file")
        etree.SubElement(disk, "driver", type="qcow2")
        etree.SubElement(disk, "source", file=disk_files[target])
    for target in sorted(excluded):
        etree.SubElement(disks_node, "disk", name=target, snapshot="no")
    return tostring(root)


def set_disk_sources(domain_xml, sources):
    """The domain XML with each disk in ``sources`` ({target: qcow2 path, or
    a NetworkSource}) pointing at its new file or image; libvirt re-reads the
    backing chain itself."""
    root = parse(domain_xml)
    for node in root.findall("./devices/disk"):
        target = node.find("target")
        if target is None or target.get("dev") not in sources:
            continue
        path = sources[target.get("dev")]
        if isinstance(path, NetworkSource):
            _set_network_source(node, path)
            continue
        node.set("type", "file")
        for child in node.findall("source") + node.findall("backingStore"):
            node.remove(child)
        driver = node.find("driver")
        if driver is None:
            driver = etree.SubElement(node, "driver", name="qemu")
        driver.set("type", "qcow2")
        source = etree.Element("source", file=path)
        node.insert(list(node).index(driver) + 1, source)
    return tostring(root)


def _set_network_source(node, new):
    source = node.find("source")
    if (node.get("type") != "network" or source is None
            or source.get("protocol") != new.protocol):
        raise ValueError(f"disk is not a {new.protocol} network disk")
    source.set("name", new.name)
    for child in node.findall("backingStore"):
        node.remove(child)


def for_new_domain(domain_xml, name, uuid, sources, console_log):
    """A copy of a domain's XML for a spawned server: new name and UUID, its
    own disk files, new MAC addresses (libvirt generates them when absent),
    its own agent socket and console log."""
    root = parse(set_disk_sources(domain_xml, sources))
    devices = root.find("devices")
    for node in root.findall("./devices/disk"):
        target = node.find("target")
        writable = (node.get("device", "disk") == "disk"
                    and node.find("readonly") is None
                    and node.find("shareable") is None)
        if writable and (target is None or target.get("dev") not in sources):
            # A writable disk the snapshot does not hold (an attached Cinder
            # volume) must not be opened by two domains at once.
            devices.remove(node)
    for channel in root.findall("./devices/channel[@type='unix']"):
        for source in channel.findall("source"):
            source.attrib.pop("path", None)  # libvirt picks one per domain
    for device in root.findall("./devices/serial[@type='file']") + root.findall(
            "./devices/console[@type='file']"):
        for source in device.findall("source"):
            source.set("path", console_log)
    root.find("name").text = name
    uuid_node = root.find("uuid")
    if uuid_node is None:
        uuid_node = etree.SubElement(root, "uuid")
    uuid_node.text = uuid
    for iface in root.findall("./devices/interface"):
        for mac in iface.findall("mac"):
            iface.remove(mac)
        for target in iface.findall("target"):
            iface.remove(target)  # the tap device name belongs to the source
    for node in root.findall("./devices/disk"):
        serial = node.find("serial")
        if serial is not None:
            node.remove(serial)  # a serial names the source's volume
    for graphics in root.findall("./devices/graphics"):
        graphics.set("autoport", "yes")
        graphics.attrib.pop("port", None)
    for seclabel in root.findall("seclabel"):
        root.remove(seclabel)
    return tostring(root)
