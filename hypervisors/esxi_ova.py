"""Reading an OVA for upload: its descriptor, its members' places in the tar, its manifest checked.

The disks are streamed to the host straight out of the archive (offset and size of
each member), so nothing is extracted. The manifest is checked before anything is
uploaded: a damaged or altered OVA is refused on this side, with the file that does
not match, instead of half-way through an import on the host.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from pyVmomi import vim
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from nps_image.ovf import NS, properties

from .esxi_connect import listing
from .esxi_errors import DeployError

_MANIFEST_LINE = re.compile(r"^(SHA256|SHA1|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$")
_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Member:
    """A file inside the OVA: where its bytes are."""

    name: str
    offset: int
    size: int


@dataclass
class Ova:
    """An opened OVA: the descriptor's text, the members by name, the manifest's digests."""

    path: Path
    descriptor_name: str
    descriptor: str
    members: dict[str, Member]
    digests: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (algorithm, hex)

    def read(self, name: str) -> bytes:
        m = self.members[name]
        with open(self.path, "rb") as f:
            f.seek(m.offset)
            return f.read(m.size)


def progress_bar(transient: bool = False) -> Progress:
    """The byte-counting bar of the long steps (checking, uploading)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=transient,
    )


def open_ova(path: Path) -> Ova:
    """Index `path`: DeployError with one line if it is missing, not a tar, or has no descriptor."""
    if not path.is_file():
        raise DeployError(f"{path}: no such OVA (build one with `inv image.build`)")
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = {
                info.name: Member(info.name, info.offset_data, info.size) for info in tar.getmembers() if info.isfile()
            }
    except (tarfile.TarError, OSError) as exc:
        raise DeployError(f"{path}: not a readable OVA (tar archive): {exc}") from None
    ovfs = [n for n in members if n.lower().endswith(".ovf")]
    if len(ovfs) != 1:
        raise DeployError(f"{path}: an OVA holds exactly one .ovf descriptor; found {len(ovfs)}")
    ova = Ova(path, ovfs[0], "", members)
    try:
        ova.descriptor = ova.read(ovfs[0]).decode("utf-8")
    except UnicodeDecodeError:
        raise DeployError(f"{path}: {ovfs[0]} is not UTF-8 text") from None
    mfs = [n for n in members if n.lower().endswith(".mf")]
    if not mfs:
        raise DeployError(f"{path}: no manifest (.mf): the OVA's integrity cannot be checked; rebuild it")
    for number, line in enumerate(ova.read(mfs[0]).decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.match(line)
        if not match:
            raise DeployError(f"{path}: {mfs[0]} line {number}: not a manifest line (`SHA256(name)= hex`)")
        ova.digests[match[2]] = (match[1], match[3].lower())
    return ova


def verify(ova: Ova, quiet: bool = False) -> None:
    """Check every file the manifest lists against its digest; DeployError on the first mismatch."""
    try:
        _verify(ova, quiet)
    except OSError as exc:
        raise DeployError(f"{ova.path}: cannot be read ({exc.strerror or exc})") from None


def _verify(ova: Ova, quiet: bool) -> None:
    for name in ova.members:
        # The manifest lists neither itself nor the certificate that signs it (DSP0243 5.3).
        if name != ova.descriptor_name and not name.lower().endswith((".mf", ".cert")) and name not in ova.digests:
            raise DeployError(f"{ova.path}: {name} is not in the manifest; the OVA was altered: rebuild it")
    total = sum(ova.members[n].size for n in ova.digests if n in ova.members)
    with progress_bar(transient=True) as bar:
        task = bar.add_task(f"checking {ova.path.name}", total=total, visible=not quiet)
        for name, (algorithm, expected) in ova.digests.items():
            if name not in ova.members:
                raise DeployError(f"{ova.path}: the manifest lists {name}, which the OVA does not hold: rebuild it")
            member = ova.members[name]
            h = hashlib.new(algorithm.lower())
            with open(ova.path, "rb") as f:
                f.seek(member.offset)
                left = member.size
                while left:
                    chunk = f.read(min(_CHUNK, left))
                    if not chunk:
                        break
                    h.update(chunk)
                    left -= len(chunk)
                    bar.advance(task, len(chunk))
            if h.hexdigest() != expected:
                raise DeployError(
                    f"{ova.path}: manifest mismatch for {name} ({algorithm} {h.hexdigest()[:16]}…, "
                    f"manifest says {expected[:16]}…): the OVA is damaged or altered; copy or build it again"
                )


# --- the descriptor ------------------------------------------------------------------


def ovf_networks(ova: Ova) -> list[str]:
    doc = etree.fromstring(ova.descriptor.encode())
    return [str(n.get(f"{{{NS['ovf']}}}name")) for n in doc.iter(f"{{{NS['ovf']}}}Network")]


def ovf_configurations(ova: Ova) -> list[str]:
    doc = etree.fromstring(ova.descriptor.encode())
    return [str(c.get(f"{{{NS['ovf']}}}id")) for c in doc.iter(f"{{{NS['ovf']}}}Configuration")]


def check_properties(ova: Ova, values: Mapping[str, str]) -> None:
    """Every key must be one the descriptor declares (vSphere drops unknown ones without a word),
    and the values must be ones the appliance's first boot accepts."""
    declared = properties(ova.descriptor.encode())
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise DeployError(
            f"unknown OVF propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
            f"the OVA declares: {listing(declared)}"
        )
    from nps_sensor.appliance.firstboot import settings_from
    from nps_sensor.appliance.settings import SettingsError

    try:
        # The first boot sees the descriptor's defaults for what is not given.
        defaults = {k: str(p.get(f"{{{NS['ovf']}}}value", "")) for k, p in declared.items()}
        settings_from({**defaults, **values}).check()
    except SettingsError as exc:
        raise DeployError(f"OVF properties: {exc}") from None


def property_fixes(vapp: vim.vApp.VmConfigInfo | None, values: Mapping[str, str]) -> dict[str, vim.vApp.PropertySpec]:
    """The vApp property edits, by key, that make the VM's values the ones asked for; [] when they are.

    vSphere applies the property mapping of the import spec, except when it does not (a
    key it does not match, an older host): the imported VM is read back and corrected.
    The simulator keeps the mapping in extraConfig and has no vApp configuration (None).
    """
    if vapp is None:
        return {}
    by_key = {".".join(p for p in (prop.classId, prop.id, prop.instanceId) if p): prop for prop in vapp.property}
    return {
        k: vim.vApp.PropertySpec(operation="edit", info=vim.vApp.PropertyInfo(key=by_key[k].key, value=v))
        for k, v in values.items()
        if k in by_key and (by_key[k].value or "") != v
    }


def disk_bytes(ova: Ova, thin: bool) -> int:
    """What the VM's disks take on the datastore: the data they hold (thin) or their capacity (thick)."""
    doc = etree.fromstring(ova.descriptor.encode())
    total = 0
    for disk in doc.iter(f"{{{NS['ovf']}}}Disk"):
        capacity = int(disk.get(f"{{{NS['ovf']}}}capacity", "0"))
        populated = int(disk.get(f"{{{NS['ovf']}}}populatedSize", "0") or capacity)
        total += populated if thin else capacity
    return total
