"""The OVF descriptor, the OVA and the zipped VHDX that `package()` makes from a raw disk.

The descriptor is validated against the DMTF schema with lxml: libxml2, the
validator xmllint runs, in process, so a failure points at the line. The rest is
read back with independent readers: tarfile's own header parsing for the ustar
fields, zipfile for the zip (CRC checked on every byte), qemu-img for the VHDX.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from nps_image.formats.vmdk import FORMAT_URL
from nps_image.ova import manifest, write_ova
from nps_image.ovf import NETWORKS, NS, PROPERTY_KEYS, OvfDisk, properties, render_ovf, schema_errors
from nps_image.package import package
from nps_image.sizing import DEFAULT, PROFILES, profile_for
from nps_image.ziparchive import write_zip

MiB = 1024 * 1024
EPOCH = 1_700_000_000
OVF = "{" + NS["ovf"] + "}"
RASD = "{" + NS["rasd"] + "}"
# Restated on purpose, not imported: the OVF properties are the deployers' and users'
# contract (docs/image.md), so dropping or renaming one must fail here.
EXPECTED_KEYS = [
    "hostname",
    "mgmt.mode",
    "mgmt.address",
    "mgmt.netmask",
    "mgmt.gateway",
    "mgmt.dns1",
    "mgmt.dns2",
    "proxy.address",
    "proxy.port",
    "proxy.auth",
    "proxy.user",
    "proxy.password",
    "ssh.authorized_key",
    "registration.code",
    "registration.hub",
    "registration.fingerprint",
]


class _Reading(dict[str, str]):
    """The properties, noting each key the first boot asks for."""

    def __init__(self, props: dict[str, str]) -> None:
        super().__init__(props)
        self.keys_read: set[str] = set()

    def get(self, key: str, default: str = "") -> str:  # type: ignore[override]
        self.keys_read.add(key)
        return super().get(key, default)


def descriptor() -> etree._Element:
    xml = render_ovf("nps-sensor", "1.2.3", OvfDisk("nps-sensor-1.2.3-disk1.vmdk", 123456, 50 * 1024**3, 987654))
    return etree.fromstring(xml.encode())


def items(doc: etree._Element, resource_type: str) -> list[etree._Element]:
    return [i for i in doc.iter(OVF + "Item") if i.findtext(RASD + "ResourceType") == resource_type]


def test_descriptor_validates_against_the_dmtf_schema() -> None:
    assert schema_errors(etree.tostring(descriptor())) == []


def test_schema_check_catches_rasd_out_of_order() -> None:
    xml = etree.tostring(descriptor()).decode()
    description = "<rasd:Description>SCSI controller</rasd:Description>"
    element_name = "<rasd:ElementName>SCSI controller 0</rasd:ElementName>"
    indent = "\n        "
    swapped = xml.replace(description + indent + element_name, element_name + indent + description)
    assert swapped != xml
    errors = schema_errors(swapped.encode())
    assert errors and "Description" in errors[0] and errors[0].startswith("line ")


def test_schema_check_reports_broken_xml() -> None:
    assert schema_errors(b"<Envelope><References>")[0].startswith("line 1: not well-formed XML")


def test_deployment_options_are_the_throughput_chart() -> None:
    doc = descriptor()
    configurations = list(doc.iter(OVF + "Configuration"))
    assert [c.get(OVF + "id") for c in configurations] == [p.id for p in PROFILES]
    assert [c.get(OVF + "id") for c in configurations if c.get(OVF + "default") == "true"] == ["1000mbps"]
    chart = {p.id: (p.vcpus, p.memory_mib) for p in PROFILES}
    cpus = {i.get(OVF + "configuration"): int(i.findtext(RASD + "VirtualQuantity") or 0) for i in items(doc, "3")}
    memory = {i.get(OVF + "configuration"): int(i.findtext(RASD + "VirtualQuantity") or 0) for i in items(doc, "4")}
    assert {k: (cpus[k], memory[k]) for k in chart} == chart
    assert chart["1000mbps"] == (8, 16 * 1024) and DEFAULT.id == "1000mbps"
    assert all(i.findtext(RASD + "AllocationUnits") == "byte * 2^20" for i in items(doc, "4"))


def test_sizing_chart_rounds_up() -> None:
    assert [(p.mbps, p.vcpus, p.memory_gib) for p in PROFILES] == [
        (500, 4, 8),
        (750, 6, 12),
        (1000, 8, 16),
        (1250, 10, 18),
        (1500, 12, 20),
        (1750, 14, 22),
        (2000, 16, 24),
    ]
    assert profile_for(1).mbps == 500 and profile_for(1001).mbps == 1250 and profile_for(2000).mbps == 2000
    with pytest.raises(ValueError, match="chart ends"):
        profile_for(2001)


def test_product_properties_are_the_first_boot_keys() -> None:
    """The OVF environment names them class.key; the keys themselves have no "." or ":" (DSP0243)."""
    doc = descriptor()
    props = properties(etree.tostring(doc))
    assert list(props) == EXPECTED_KEYS == list(PROPERTY_KEYS)
    for prop in doc.iter(OVF + "Property"):
        assert not set(prop.get(OVF + "key") or ".") & {".", ":"}
    for key, prop in props.items():
        assert prop.get(OVF + "userConfigurable") == "true", key
        assert prop.findtext(OVF + "Label") and prop.findtext(OVF + "Description"), key
    assert [k for k, p in props.items() if p.get(OVF + "password") == "true"] == ["proxy.password"]
    assert props["mgmt.mode"].get(OVF + "value") == "dhcp"
    assert props["mgmt.mode"].get(OVF + "qualifiers") == 'ValueMap{"dhcp","static"}'
    assert props["proxy.auth"].get(OVF + "qualifiers") == 'ValueMap{"none","basic","ntlm"}'
    assert props["proxy.auth"].get(OVF + "value") == "none"
    assert props["hostname"].get(OVF + "qualifiers") == "MinLen(1),MaxLen(63)"
    assert props["proxy.port"].get(OVF + "type") == "uint16"


def test_first_boot_reads_the_environment_the_descriptor_implies() -> None:
    """An OVF environment with every property, as vSphere writes it, gives the first boot its settings."""
    firstboot = pytest.importorskip("nps_sensor.appliance.firstboot")
    values = {
        "hostname": "sensor-7",
        "mgmt.mode": "static",
        "mgmt.address": "192.0.2.10",
        "mgmt.netmask": "255.255.255.0",
        "mgmt.gateway": "192.0.2.1",
        "mgmt.dns1": "192.0.2.53",
        "mgmt.dns2": "",
        "proxy.address": "proxy.example.net",
        "proxy.port": "3128",
        "proxy.auth": "basic",
        "proxy.user": "sensor",
        "proxy.password": "pw",
        "ssh.authorized_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBasic test@host",
        "registration.code": "12345678901234",
        "registration.hub": "https://hub.example.net:8443/",
        "registration.fingerprint": "AB:" * 31 + "AB",
    }
    names = list(properties(etree.tostring(descriptor())))
    env = (
        '<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" '
        'xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"><PropertySection>'
        + "".join(f'<Property oe:key="{k}" oe:value="{values[k]}"/>' for k in names)
        + "</PropertySection></Environment>"
    )
    read = _Reading(firstboot.parse_environment(env))
    settings = firstboot.settings_from(read)
    assert read.keys_read == set(PROPERTY_KEYS)  # the first boot's contract: it reads every key, no other
    assert settings.hostname == "sensor-7"
    assert (settings.management.mode, settings.management.address, settings.management.dns) == (
        "static",
        "192.0.2.10",
        ["192.0.2.53"],
    )
    assert (settings.proxy.address, settings.proxy.port, settings.proxy.auth) == ("proxy.example.net", 3128, "basic")
    assert settings.registration_code == "12345678901234"
    assert (settings.registration_hub, settings.registration_fingerprint) == ("https://hub.example.net:8443", "ab" * 32)
    assert settings.ssh_keys == ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBasic test@host"]


def test_hardware_is_what_the_appliance_kernel_drives() -> None:
    doc = descriptor()
    hardware = next(doc.iter(OVF + "VirtualHardwareSection"))
    assert hardware.get(OVF + "transport") == "iso com.vmware.guestInfo"
    assert doc.findtext(".//vssd:VirtualSystemType", namespaces=NS) == "vmx-13"
    os_section = next(doc.iter(OVF + "OperatingSystemSection"))
    assert os_section.get("{" + NS["vmw"] + "}osType") == "debian10_64Guest"
    assert [i.findtext(RASD + "ResourceSubType") for i in items(doc, "6")] == ["VirtualSCSI"]
    nics = items(doc, "10")
    assert [(n.findtext(RASD + "ResourceSubType"), n.findtext(RASD + "Connection")) for n in nics] == [
        ("VmxNet3", "Management"),
        ("VmxNet3", "Sniffing Interface"),
    ]
    assert all(n.findtext(RASD + "AutomaticAllocation") == "true" for n in nics)  # connected at power-on
    assert [n.get(OVF + "name") for n in doc.iter(OVF + "Network")] == list(NETWORKS)
    disks = items(doc, "17")
    assert [d.findtext(RASD + "HostResource") for d in disks] == ["ovf:/disk/vmdisk1"]
    assert len(items(doc, "15")) == 1  # the CD-ROM drive the ISO transport needs


def test_disk_declaration() -> None:
    doc = descriptor()
    disk = next(doc.iter(OVF + "Disk"))
    assert disk.get(OVF + "capacity") == str(50 * 1024**3)
    assert disk.get(OVF + "capacityAllocationUnits") == "byte"
    assert disk.get(OVF + "populatedSize") == "987654"
    assert disk.get(OVF + "format") == FORMAT_URL
    assert FORMAT_URL == "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
    file = next(doc.iter(OVF + "File"))
    assert (file.get(OVF + "href"), file.get(OVF + "size")) == ("nps-sensor-1.2.3-disk1.vmdk", "123456")


def test_names_are_escaped() -> None:
    xml = render_ovf("a&b<c", "1", OvfDisk("d.vmdk", 1, 512, 0))
    assert schema_errors(xml.encode()) == []
    assert etree.fromstring(xml.encode()).findtext(OVF + "VirtualSystem/" + OVF + "Name") == "a&b<c"


@pytest.fixture(scope="module")
def raw_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("raw") / "disk.raw"
    with open(path, "wb") as f:
        f.truncate(8 * MiB)
        f.write(b"\xeb\x63" + os.urandom(510))
        f.seek(2 * MiB)
        f.write(b"the root file system " * 50_000)
    return path


@pytest.fixture(scope="module")
def built(raw_disk: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    outputs: list[Path] = package(raw_disk, "nps-sensor", "1.2.3", tmp_path_factory.mktemp("dist"), EPOCH)
    return outputs


def test_package_makes_the_deliverables(built: list[Path]) -> None:
    assert [p.name for p in built] == ["nps-sensor-1.2.3.ova", "nps-sensor-1.2.3-vhdx.zip", "SHA256SUMS"]
    out = built[0].parent
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in built)  # no leftovers
    sums = built[2].read_text().splitlines()
    assert sums == [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in built[:2]]


def test_ova_members_order_format_and_metadata(built: list[Path]) -> None:
    with tarfile.open(built[0]) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "nps-sensor-1.2.3.ovf",
            "nps-sensor-1.2.3.mf",
            "nps-sensor-1.2.3-disk1.vmdk",
        ]
        for m in members:
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (EPOCH, 0, 0, "", "", 0o644)
            assert m.isreg()
        files = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    data = built[0].read_bytes()
    header_offsets = [0]  # each header carries the POSIX ustar magic and version

    for m in members[:-1]:
        header_offsets.append(header_offsets[-1] + 512 + -(-m.size // 512) * 512)
    assert all(data[o + 257 : o + 265] == b"ustar\x0000" for o in header_offsets)
    lines = files["nps-sensor-1.2.3.mf"].decode().splitlines()
    assert lines == [
        f"SHA256({name})= {hashlib.sha256(files[name]).hexdigest()}"
        for name in ("nps-sensor-1.2.3.ovf", "nps-sensor-1.2.3-disk1.vmdk")
    ]
    ovf = etree.fromstring(files["nps-sensor-1.2.3.ovf"])
    assert schema_errors(files["nps-sensor-1.2.3.ovf"]) == []
    file = next(ovf.iter(OVF + "File"))
    assert int(file.get(OVF + "size") or 0) == len(files["nps-sensor-1.2.3-disk1.vmdk"])
    assert files["nps-sensor-1.2.3-disk1.vmdk"][:4] == b"KDMV"


def test_zip_holds_the_vhdx_of_the_same_disk(built: list[Path], raw_disk: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(built[1]) as z:
        assert z.testzip() is None  # every member inflates and matches its CRC
        [info] = z.infolist()
        assert info.filename == "nps-sensor-1.2.3-disk1.vhdx"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.date_time == (2023, 11, 14, 22, 13, 20)
        z.extract(info, tmp_path)
    vhdx = tmp_path / info.filename
    assert vhdx.read_bytes()[:8] == b"vhdxfile"
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        pytest.skip("qemu-img not found: install the Debian package qemu-utils (./bootstrap does)")
    compare = subprocess.run(
        [qemu_img, "compare", "-f", "raw", "-F", "vhdx", str(raw_disk), str(vhdx)], capture_output=True, check=False
    )
    assert compare.returncode == 0, compare.stdout


def test_package_is_reproducible(raw_disk: Path, built: list[Path], tmp_path: Path) -> None:
    again = package(raw_disk, "nps-sensor", "1.2.3", tmp_path, EPOCH)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in built]


def test_package_rejects_a_bad_name(raw_disk: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        package(raw_disk, "nps sensor", "1", tmp_path, EPOCH)


def test_sha1_manifest_for_old_hosts(tmp_path: Path) -> None:
    f = tmp_path / "x.ovf"
    f.write_bytes(b"<Envelope/>")
    assert manifest([("x.ovf", f)], "SHA1") == f"SHA1(x.ovf)= {hashlib.sha1(b'<Envelope/>').hexdigest()}\n"
    with pytest.raises(ValueError, match="SHA256, SHA1"):
        manifest([("x.ovf", f)], "MD5")


def test_ustar_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="at most 100 bytes"):
        write_ova(tmp_path / "a.ova", [("n" * 101, f)], EPOCH)
    big = tmp_path / "big"
    with open(big, "wb") as b:
        b.truncate(8 * 1024**3)
    with pytest.raises(ValueError, match="below 8 GiB"):
        write_ova(tmp_path / "b.ova", [("big", big)], EPOCH)


def test_zip64_fields_read_back(tmp_path: Path) -> None:
    """Zip64 size fields (local and central), as a member over 4 GiB gets them."""
    out = tmp_path / "forced.zip"
    write_zip(out, [("a.txt", Path(__file__)), ("b.txt", Path(__file__))], EPOCH, force_zip64=True)
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        assert [z.read(i) for i in z.infolist()] == [Path(__file__).read_bytes()] * 2
        assert all(i.extract_version == 45 for i in z.infolist())


@pytest.mark.slow
def test_zip64_for_a_member_over_4_gib(tmp_path: Path) -> None:
    """A real 4 GiB member (sparse, so it is quick to write; zipfile inflates it all to check the CRC)."""
    big = tmp_path / "big.vhdx"
    with open(big, "wb") as f:
        f.truncate(4 * 1024**3 + 3 * MiB)
        f.seek(4 * 1024**3 + MiB)
        f.write(b"tail")
    out = tmp_path / "big.zip"
    write_zip(out, [("small.txt", Path(__file__)), ("big.vhdx", big)], EPOCH)
    with zipfile.ZipFile(out) as z:
        small, large = z.infolist()
        assert z.read(small) == Path(__file__).read_bytes()
        assert large.file_size == big.stat().st_size and large.compress_size < 8 * MiB
        assert large.extract_version == 45
        assert z.testzip() is None
