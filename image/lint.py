"""Check an OVA for what makes VMware reject it, before anyone tries it on a host.

VMware turns many home-made OVAs away for the same few reasons, with errors that
name neither the file nor the fix; each rule here is one of those reasons, and each
failure is one line: `rule: problem: fix`. The checks read the archive as ESXi
does, as a stream of tar headers, and look inside the disk for its real format.

The hardware rules are the appliance's: its kernel (linux-image-cloud-amd64) has
vmw_pvscsi and vmxnet3 but neither LSI Logic nor e1000, and it must import on
ESXi 6.7 (virtual hardware 14 at most).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from .formats.vmdk import FORMAT_URL, VERSION, SparseHeader, read_descriptor
from .ovf import NETWORKS, NS, OVF_NS, schema_errors
from .ovfsig import check_certificate_member

RULES: dict[str, str] = {
    "tar-format": "the OVA is a plain ustar archive of regular files (no GNU or PAX headers)",
    "tar-order": "the .ovf comes first, the .mf right after it, then the files in the order of References",
    "manifest-syntax": "every manifest line is exactly `ALGO(name)= hex`",
    "manifest-digest": "every digest in the manifest matches its file",
    "manifest-entries": "the manifest lists every file of the OVA, and only those",
    "signature": "a certificate member (.cert) signs the manifest as it is, with the first certificate's key",
    "ovf-schema": "the descriptor validates against the DMTF OVF 1.1 schema",
    "ovf-references": "every file the descriptor references is in the OVA with the declared size",
    "hardware-family": "the virtual hardware family is vmx-NN with NN at most 14 (ESXi 6.7)",
    "scsi-controller": "SCSI controllers are VirtualSCSI (pvscsi), which the appliance's kernel drives",
    "nic-type": "network adapters are VmxNet3, which the appliance's kernel drives",
    "disk-format": "disks are streamOptimized VMDKs, in the descriptor and in the file itself",
    "network-names": "adapters connect to declared networks, the appliance's Management and Sniffing Interface",
    "guest-os": "the guest OS id is one ESXi 6.7 knows",
}
MAX_HARDWARE_VERSION = 14  # ESXi 6.7
# Guest ids that ESXi 6.7 does not know (introduced with 7.0 and 8.0) that Linux appliances reach for.
_NEWER_GUESTS = re.compile(r"^(debian1[1-9]|other[5-9]xLinux|rhel(9|1\d)|centos9|rockylinux|almalinux|oracleLinux9)")
_DIGEST_LENGTHS = {"SHA1": 40, "SHA256": 64, "SHA512": 128}
_MANIFEST_LINE = re.compile(r"^(SHA1|SHA256|SHA512)\(([^()]+)\)= ([0-9a-fA-F]+)$")
_LOOSE_LINE = re.compile(r"^\s*(SHA1|SHA256|SHA512)\s*\(([^()]+)\)\s*=\s*([0-9a-fA-F]+)\s*$", re.IGNORECASE)
_MAX_SCHEMA_LINES = 10
_MAX_OVF_BYTES = 16 * 1024 * 1024
RASD = "{" + NS["rasd"] + "}"
OVF = "{" + OVF_NS + "}"


@dataclass(frozen=True)
class Finding:
    """One reason VMware would reject the OVA."""

    rule: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.problem}: {self.fix}"


@dataclass(frozen=True)
class Member:
    name: str
    offset: int  # of the data
    size: int


def _octal(field: bytes) -> int | None:
    text = field.rstrip(b"\0 ").lstrip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def read_members(f: BinaryIO) -> tuple[list[Member], list[Finding]]:
    """The archive's members, header by header, with every header that is not plain ustar."""
    members: list[Member] = []
    findings: list[Finding] = []
    offset = 0
    fix = "write the OVA as ustar (tar --format=ustar, or inv image.build)"
    while True:
        f.seek(offset)
        header = f.read(512)
        if len(header) < 512:
            if not members:
                findings.append(Finding("tar-format", "not a tar archive (too short)", fix))
            elif header:
                findings.append(Finding("tar-format", "the archive ends inside a header", fix))
            break
        if header == bytes(512):
            break
        name = header[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        checksum = _octal(header[148:156])
        if checksum != sum(header[:148]) + 32 * 8 + sum(header[156:]):
            what = f"header at byte {offset} has a bad checksum" if members else "not a tar archive"
            findings.append(Finding("tar-format", what, fix))
            break
        magic, typeflag = header[257:265], header[156:157]
        if magic == b"ustar  \0":
            findings.append(Finding("tar-format", f"{name!r} has a GNU tar header", fix))
        elif magic != b"ustar\x0000":
            findings.append(Finding("tar-format", f"{name!r} has a pre-POSIX (v7) header", fix))
        prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
        if prefix and magic == b"ustar\x0000":
            name = f"{prefix}/{name}"
        if header[124] & 0x80:
            findings.append(Finding("tar-format", f"{name!r} has a base-256 size (GNU, over 8 GiB)", fix))
            break
        size = _octal(header[124:136])
        if size is None:
            findings.append(Finding("tar-format", f"{name!r} has an unreadable size field", fix))
            break
        if typeflag in (b"x", b"g"):
            findings.append(Finding("tar-format", f"a PAX extended header ({name!r}) precedes a member", fix))
        elif typeflag in (b"L", b"K"):
            findings.append(Finding("tar-format", f"a GNU long-name header ({name!r}) precedes a member", fix))
        elif typeflag not in (b"0", b"\0"):
            findings.append(Finding("tar-format", f"{name!r} is not a regular file (type {typeflag!r})", fix))
        else:
            members.append(Member(name, offset + 512, size))
        offset += 512 + -(-size // 512) * 512
    return members, findings


def _read(f: BinaryIO, m: Member, limit: int | None = None) -> bytes:
    f.seek(m.offset)
    return f.read(m.size if limit is None else min(m.size, limit))


def _digest(f: BinaryIO, m: Member, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    f.seek(m.offset)
    left = m.size
    while left:
        chunk = f.read(min(left, 4 * 1024 * 1024))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h.hexdigest()


def check_manifest(f: BinaryIO, members: list[Member], mf: Member) -> list[Finding]:
    findings: list[Finding] = []
    text = _read(f, mf).decode("utf-8", "replace")
    listed: dict[str, tuple[str, str]] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the end of the last line
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.removesuffix("\r")
        if line != raw_line:
            findings.append(
                Finding("manifest-syntax", f"line {number} ends with a carriage return", "end lines with LF")
            )
        strict = _MANIFEST_LINE.match(line)
        # A line VMware would refuse is still read for what it names, so that one
        # stray space is reported once, as syntax, and not again as a missing file.
        loose = strict or _LOOSE_LINE.match(line)
        algorithm = loose.group(1).upper() if loose else "SHA256"
        if strict is None:
            problem = f"line {number} {_manifest_problem(line)}"
            findings.append(Finding("manifest-syntax", problem, f"write {algorithm}(name)= hex"))
        if loose is None:
            continue
        name, digest = loose.group(2), loose.group(3).lower()
        if len(digest) != _DIGEST_LENGTHS[algorithm]:
            problem = f"line {number} has a {len(digest)}-digit {algorithm} digest, not {_DIGEST_LENGTHS[algorithm]}"
            findings.append(Finding("manifest-syntax", problem, f"write the full {algorithm} digest in hex"))
            digest = ""
        listed[name] = (algorithm, digest)
    by_name = {m.name: m for m in members}
    for name, (algorithm, digest) in listed.items():
        member = by_name.get(name)
        if member is None:
            problem = f"{name} is listed but not in the OVA"
            findings.append(Finding("manifest-entries", problem, "list only the files of the OVA"))
        elif digest and _digest(f, member, algorithm.lower()) != digest:
            fix = "regenerate the manifest from the files as packed"
            findings.append(Finding("manifest-digest", f"{algorithm} of {name} does not match", fix))
    for m in members:
        if m.name not in listed and not m.name.endswith((".mf", ".cert")):
            findings.append(Finding("manifest-entries", f"{m.name} is not in the manifest", "list every file"))
    return findings


def _check_signature(f: BinaryIO, members: list[Member], mf: Member) -> list[Finding]:
    """The OVF certificate member, if there is one, against the manifest as packed."""
    certs = [m for m in members if m.name.endswith(".cert")]
    if not certs:
        return []  # unsigned: vSphere says so, and imports it
    checked = check_certificate_member(certs[0].name, _read(f, certs[0], 1 << 20), mf.name, _read(f, mf))
    fix = "sign the OVA again (inv image.build --sign-key, or inv image.sign)"
    return [Finding("signature", problem, fix) for problem in checked.problems]


def _manifest_problem(line: str) -> str:
    """Say what is wrong with a manifest line in the words of the rule."""
    if not line.strip():
        return "is empty"
    if re.match(r"^\w+ \(", line):
        return 'has a space before "("'
    if re.search(r"\)\s+=", line):
        return 'has a space before "="'
    if re.search(r"\)=\S", line):
        return 'has no space after "="'
    if re.search(r"\)= {2,}", line):
        return 'has more than one space after "="'
    if line != line.strip():
        return "has spaces at its start or end"
    if not re.match(r"^(SHA1|SHA256|SHA512)\(", line):
        return "does not start with SHA1(, SHA256( or SHA512("
    return "is not ALGO(name)= hex"


def _check_order(names: list[str], references: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    order = "put the .ovf first, the .mf second, then the files as References lists them"
    ovfs = [i for i, n in enumerate(names) if n.endswith(".ovf")]
    if len(ovfs) != 1:
        findings.append(Finding("tar-order", f"{len(ovfs)} .ovf descriptors in the OVA, not one", order))
    elif ovfs[0] != 0:
        findings.append(Finding("tar-order", f"{names[ovfs[0]]} is member {ovfs[0] + 1}, not the first", order))
    expected = 1
    for suffix in (".mf", ".cert"):
        found = [i for i, n in enumerate(names) if n.endswith(suffix)]
        if found and found[0] != expected:
            problem = f"{names[found[0]]} is member {found[0] + 1}, not member {expected + 1}"
            findings.append(Finding("tar-order", problem, order))
        expected += bool(found)
    packed = [n for n in names if n in references]
    wanted = [r for r in references if r in packed]
    if packed != wanted:
        problem = f"files are packed as {', '.join(packed)} but referenced as {', '.join(wanted)}"
        findings.append(Finding("tar-order", problem, order))
    return findings


def _items(doc: etree._Element, resource_type: str) -> list[etree._Element]:
    return [
        item for item in doc.iter(OVF + "Item") if (item.findtext(RASD + "ResourceType") or "").strip() == resource_type
    ]


def _element_name(item: etree._Element) -> str:
    return (item.findtext(RASD + "ElementName") or item.findtext(RASD + "InstanceID") or "?").strip()


def _check_hardware(doc: etree._Element) -> list[Finding]:
    types = " ".join(t.text or "" for t in doc.iter("{" + NS["vssd"] + "}VirtualSystemType")).split()
    fix = f"declare vmx-13 (ESXi 6.5+) or at most vmx-{MAX_HARDWARE_VERSION} in VirtualSystemType"
    versions = [int(t[4:]) for t in types if re.fullmatch(r"vmx-\d+", t)]
    if not versions:
        shown = " ".join(types) or "nothing"
        return [Finding("hardware-family", f"VirtualSystemType is {shown}, no vmx-NN family", fix)]
    if min(versions) > MAX_HARDWARE_VERSION:
        problem = f"vmx-{min(versions)} is newer than ESXi 6.7 runs (vmx-{MAX_HARDWARE_VERSION})"
        return [Finding("hardware-family", problem, fix)]
    return []


def _check_subtype(doc: etree._Element, resource_type: str, wanted: str, rule: str) -> list[Finding]:
    """Every Item of `resource_type` must be of ResourceSubType `wanted` (VMware compares without case)."""
    findings = []
    for item in _items(doc, resource_type):
        subtype = (item.findtext(RASD + "ResourceSubType") or "").strip()
        if subtype.lower() != wanted.lower():
            kind = subtype or "of no named type"
            problem = f"{_element_name(item)} is {kind}, for which the appliance's kernel has no driver"
            findings.append(Finding(rule, problem, f"use ResourceSubType {wanted}"))
    return findings


def _check_controllers(doc: etree._Element) -> list[Finding]:
    return _check_subtype(doc, "6", "VirtualSCSI", "scsi-controller")  # 6: parallel SCSI HBA


def _check_nics(doc: etree._Element) -> list[Finding]:
    return _check_subtype(doc, "10", "VmxNet3", "nic-type")  # 10: Ethernet adapter


def _check_networks(doc: etree._Element) -> list[Finding]:
    findings = []
    declared = {n.get(OVF + "name") for n in doc.iter(OVF + "Network")}
    used = set()
    for item in _items(doc, "10"):
        connection = (item.findtext(RASD + "Connection") or "").strip()
        used.add(connection)
        if connection not in declared:
            problem = f"{_element_name(item)} connects to {connection!r}, which NetworkSection does not declare"
            findings.append(Finding("network-names", problem, "declare the network or fix the adapter's Connection"))
    for name in NETWORKS:
        if name not in declared or name not in used:
            problem = f"no adapter on a network named {name!r}"
            fix = f"name the networks {' and '.join(repr(n) for n in NETWORKS)}, which the deployers map by name"
            findings.append(Finding("network-names", problem, fix))
    return findings


def _check_guest(doc: etree._Element) -> list[Finding]:
    for section in doc.iter(OVF + "OperatingSystemSection"):
        guest = section.get("{" + NS["vmw"] + "}osType") or ""
        if _NEWER_GUESTS.match(guest):
            fix = "use debian10_64Guest or other4xLinux64Guest"
            return [Finding("guest-os", f"{guest} is unknown to ESXi 6.7 (it came with 7.0 or 8.0)", fix)]
    return []


def _check_references(doc: etree._Element, members: dict[str, Member]) -> tuple[list[Finding], dict[str, str]]:
    """Files of References against the archive; also returns file id -> href for the disks."""
    findings = []
    hrefs: dict[str, str] = {}
    for file in doc.iter(OVF + "File"):
        href, file_id, size = file.get(OVF + "href", ""), file.get(OVF + "id", ""), file.get(OVF + "size")
        hrefs[file_id] = href
        member = members.get(href)
        if member is None:
            findings.append(Finding("ovf-references", f"{href} is referenced but not in the OVA", "pack it"))
        elif size is not None and size.isdigit() and int(size) != member.size:
            problem = f"{href} is declared {size} bytes but holds {member.size}"
            findings.append(Finding("ovf-references", problem, "write the file's size in ovf:size"))
    for disk in doc.iter(OVF + "Disk"):
        ref = disk.get(OVF + "fileRef")
        if ref is not None and ref not in hrefs:
            problem = f"disk {disk.get(OVF + 'diskId')} refers to file id {ref!r}, which References lacks"
            findings.append(Finding("ovf-references", problem, "reference the disk's file"))
    return findings, hrefs


def _check_disks(f: BinaryIO, doc: etree._Element, hrefs: dict[str, str], members: dict[str, Member]) -> list[Finding]:
    findings = []
    fix = "convert the disk to a streamOptimized VMDK (nps_image.formats.vmdk)"
    for disk in doc.iter(OVF + "Disk"):
        disk_id = disk.get(OVF + "diskId")
        declared = disk.get(OVF + "format", "")
        if declared != FORMAT_URL:
            findings.append(Finding("disk-format", f"disk {disk_id} is declared as {declared or 'no format'}", fix))
        member = members.get(hrefs.get(disk.get(OVF + "fileRef") or "", ""))
        if member is None:
            continue
        problem = _vmdk_problem(f, member)
        if problem:
            findings.append(Finding("disk-format", f"{member.name} {problem}", fix))
    return findings


def _vmdk_problem(f: BinaryIO, member: Member) -> str:
    """What keeps the member from being a streamOptimized VMDK, or ""."""
    try:
        header = SparseHeader.unpack(_read(f, member, 512))
    except ValueError as exc:
        return f"is not a sparse VMDK ({exc})"
    if header.version != VERSION:
        return f"is a version {header.version} sparse extent, streamOptimized is version {VERSION}"
    if not header.stream_optimized:
        return f"does not have compressed grains with markers (flags {header.flags:#x})"
    text = read_descriptor(f, header, member.offset)
    match = re.search(r'^createType\s*=\s*"?([A-Za-z0-9]+)"?', text, re.MULTILINE)
    if match is None or match.group(1) != "streamOptimized":
        return f"has createType {match.group(1) if match else 'missing'} in its descriptor"
    return ""


def lint_ova(path: Path) -> list[Finding]:
    """Every reason found to reject the OVA at `path`; [] if VMware should take it."""
    with open(path, "rb") as f:
        member_list, findings = read_members(f)
        if not member_list:
            return findings or [Finding("tar-format", "the archive is empty", "pack the .ovf, .mf and disk")]
        members = {m.name: m for m in member_list}
        names = [m.name for m in member_list]
        descriptor = next((m for m in member_list if m.name.endswith(".ovf")), None)
        doc = None
        if descriptor is not None:
            xml = _read(f, descriptor, _MAX_OVF_BYTES)
            errors = schema_errors(xml)
            shown = errors[:_MAX_SCHEMA_LINES]
            if len(errors) > len(shown):
                shown.append(f"and {len(errors) - len(shown)} more errors")
            fix = "fix the descriptor (xmllint --schema image/ovf-schema/dsp8023_1.1.1.xsd shows the same)"
            findings += [Finding("ovf-schema", f"{descriptor.name} {e}", fix) for e in shown]
            try:
                doc = etree.fromstring(xml, etree.XMLParser(no_network=True, resolve_entities=False))
            except etree.XMLSyntaxError:
                doc = None
        references = [e.get(OVF + "href", "") for e in doc.iter(OVF + "File")] if doc is not None else []
        findings += _check_order(names, references)
        manifests = [m for m in member_list if m.name.endswith(".mf")]
        if manifests:
            findings += check_manifest(f, member_list, manifests[0])
            findings += _check_signature(f, member_list, manifests[0])
        if doc is not None:
            ref_findings, hrefs = _check_references(doc, members)
            findings += ref_findings
            checks: list[Callable[[etree._Element], list[Finding]]] = [
                _check_hardware,
                _check_controllers,
                _check_nics,
                _check_networks,
                _check_guest,
            ]
            for check in checks:
                findings += check(doc)
            findings += _check_disks(f, doc, hrefs, members)
    return findings


lint = lint_ova  # the shorter name the build's end-to-end test uses
