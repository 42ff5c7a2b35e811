"""The appliance's software bill of materials: CycloneDX 1.5, JSON.

Every Debian package of the image (version, architecture, its source package and
version, its licenses) and every Python package of the sensor's environment (version,
licenses), each with its package URL (purl) so that scanners (Dependency-Track, Grype,
Trivy) match them against advisories; the release's own version and the hashes of its
inputs (the Debian base, the wheels, the templates) as properties of the appliance.

Licenses, and how sure each is:

- Debian: the package's `/usr/share/doc/PKG/copyright` (the image keeps those files).
  When it is machine-readable (DEP-5, read with python-debian), every license its
  `License:` fields name, as an SPDX id where Debian's short name has an exact SPDX
  equivalent (`GPL-2+` is `GPL-2.0-or-later`, `Expat` is `MIT`) and by name otherwise.
  When it is free text, the licenses it refers to in `/usr/share/common-licenses`, by
  name; when it names none, no license (the property `nps:license` says so).
- Python: the installed wheel's `License-Expression` (PEP 639) when it has one, else
  its `License` field when that is an SPDX id, else its `License ::` classifiers (as
  SPDX ids where one names a license exactly: "MIT License" does, "BSD License" not).

The same inputs give the same bytes: components sorted, the timestamp is
SOURCE_DATE_EPOCH, the serial number is derived from the content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import uuid
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCHEMA_DIR = Path(__file__).resolve().parent / "sbom-schema"
SPEC_VERSION = "1.5"
DISTRO = "debian-12"
# Debian's short license names (DEP-5, "Short name") whose SPDX equivalent is exact.
DEBIAN_TO_SPDX = {
    "expat": "MIT",
    "gpl-1": "GPL-1.0-only",
    "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "agpl-3": "AGPL-3.0-only",
    "agpl-3+": "AGPL-3.0-or-later",
    "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "mpl-2.0": "MPL-2.0",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "zlib": "Zlib",
    "psf-2": "PSF-2.0",
}
# Trove classifiers that name one license exactly ("BSD License" and "Apache Software License" do not).
_CLASSIFIERS = {
    "MIT License": {"license": {"id": "MIT"}},
    "ISC License (ISCL)": {"license": {"id": "ISC"}},
    "Mozilla Public License 2.0 (MPL 2.0)": {"license": {"id": "MPL-2.0"}},
    "Python Software Foundation License": {"license": {"id": "PSF-2.0"}},
}
_COMMON_LICENSES = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])")
_SPLIT = re.compile(r"\s*(?:,\s*)?\b(?:and/or|or|and|with)\b\s*|[()]", re.IGNORECASE)


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    arch: str
    source: str
    source_version: str


@dataclass(frozen=True)
class PyPackage:
    name: str
    version: str
    license_expression: str = ""
    license: str = ""
    classifiers: tuple[str, ...] = ()


@dataclass
class Inputs:
    """What the release is made of, for the appliance's own entry."""

    name: str
    version: str
    epoch: int
    hashes: dict[str, str] = field(default_factory=dict)  # input -> digest or name


@lru_cache(maxsize=1)
def spdx_ids() -> dict[str, str]:
    """SPDX license ids by lower case, from the schema CycloneDX validates them with."""
    ids = json.loads((SCHEMA_DIR / "spdx.schema.json").read_text())["enum"]
    return {i.lower(): i for i in ids}


def _license(token: str) -> dict[str, Any]:
    key = token.strip().lower()
    spdx = DEBIAN_TO_SPDX.get(key) or spdx_ids().get(key)
    return {"license": {"id": spdx}} if spdx else {"license": {"name": token.strip()}}


def _unique(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for c in choices:
        seen.setdefault(json.dumps(c, sort_keys=True), c)
    return [seen[k] for k in sorted(seen)]


def debian_licenses(text: str) -> tuple[list[dict[str, Any]], str]:
    """The licenses a copyright file names, and how they were found (the nps:license property)."""
    from debian.copyright import Copyright, Error, NotMachineReadableError

    with warnings.catch_warnings():  # python-debian warns about old Format URLs it then accepts
        warnings.simplefilter("ignore")
        logging.getLogger("debian.copyright").setLevel(logging.ERROR)
        try:
            copyright_ = Copyright(text.splitlines(keepends=True), strict=False)
        except NotMachineReadableError:
            names = sorted(set(_COMMON_LICENSES.findall(text)))
            how = "copyright file is free text: the common licenses it refers to" if names else "not stated"
            return [{"license": {"name": n}} for n in names], how
        except (Error, ValueError) as e:
            return [], f"copyright file unreadable ({e})"
    tokens: list[str] = []
    paragraphs = [copyright_.header, *copyright_.all_files_paragraphs()]
    for paragraph in paragraphs:
        lic = getattr(paragraph, "license", None)
        if lic is not None and lic.synopsis:
            tokens += [t for t in _SPLIT.split(lic.synopsis) if t and t.strip()]
    return _unique([_license(t) for t in tokens]), "DEP-5 copyright file"


def python_licenses(p: PyPackage) -> list[dict[str, Any]]:
    if p.license_expression:
        return [{"expression": p.license_expression}]
    short = p.license.strip()
    if short and "\n" not in short and all(t.strip().lower() in spdx_ids() for t in _SPLIT.split(short) if t.strip()):
        if " " in short:
            return [{"expression": short}]
        return [{"license": {"id": spdx_ids()[short.lower()]}}]
    names = [c.split(" :: ")[-1] for c in p.classifiers if c.startswith("License ::") and c.count(" :: ") >= 1]
    return _unique([_CLASSIFIERS.get(n) or {"license": {"name": n}} for n in names if n != "OSI Approved"])


def _deb_component(p: DebPackage, licenses: list[dict[str, Any]], how: str) -> dict[str, Any]:
    qualifiers = f"arch={p.arch}&distro={DISTRO}"
    if p.source != p.name:
        qualifiers += f"&upstream={quote(p.source, safe='')}"
    purl = f"pkg:deb/debian/{quote(p.name, safe='')}@{quote(p.version, safe='')}?{qualifiers}"
    component: dict[str, Any] = {
        "type": "library" if p.name.startswith("lib") else "application",
        "bom-ref": purl,
        "supplier": {"name": "Debian"},
        "name": p.name,
        "version": p.version,
        "purl": purl,
        "properties": [
            {"name": "nps:debian:source", "value": f"{p.source} {p.source_version}"},
            {"name": "nps:license", "value": how},
        ],
    }
    if licenses:
        component["licenses"] = licenses
    return component


def _py_component(p: PyPackage) -> dict[str, Any]:
    purl = f"pkg:pypi/{quote(p.name.lower().replace('_', '-'), safe='')}@{quote(p.version, safe='')}"
    component: dict[str, Any] = {"type": "library", "bom-ref": purl, "name": p.name, "version": p.version, "purl": purl}
    licenses = python_licenses(p)
    if licenses:
        component["licenses"] = licenses
    return component


def document(
    inputs: Inputs,
    debian: list[DebPackage],
    python: list[PyPackage],
    copyright_text: dict[str, str],
) -> dict[str, Any]:
    """The CycloneDX document; `copyright_text` maps a Debian package to its copyright file."""
    components = [
        _deb_component(p, *debian_licenses(copyright_text.get(p.name, "")))
        if p.name in copyright_text
        else _deb_component(p, [], "no copyright file")
        for p in debian
    ]
    components += [_py_component(p) for p in python]
    components.sort(key=lambda c: c["bom-ref"])
    when = dt.datetime.fromtimestamp(inputs.epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    properties = [{"name": f"nps:input:{k}", "value": v} for k, v in sorted(inputs.hashes.items())]
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": when,
            "tools": {"components": [{"type": "application", "name": "nps-kit", "version": _kit_version()}]},
            "component": {
                "type": "operating-system",
                "bom-ref": f"{inputs.name}@{inputs.version}",
                "name": inputs.name,
                "version": inputs.version,
                "description": "Network passive sensor appliance: Debian 12 with the sensor",
                "properties": [*properties, {"name": "nps:source_date_epoch", "value": str(inputs.epoch)}],
            },
        },
        "components": components,
    }
    content = json.dumps(doc, sort_keys=True).encode()
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "nps-sbom:" + hashlib.sha256(content).hexdigest())
    doc["serialNumber"] = f"urn:uuid:{serial}"
    return doc


def _kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nps-kit")
    except PackageNotFoundError:
        return "0"


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def copyright_files(root: Path, names: list[str]) -> dict[str, str]:
    """Each package's copyright file in the image at `root` (symbolic links resolved inside it)."""
    out = {}
    for name in names:
        path = inside(root, f"/usr/share/doc/{name}/copyright")
        if path.is_file():
            out[name] = path.read_text(encoding="utf-8", errors="replace")
    return out


def inside(root: Path, path: str) -> Path:
    """`path` of the image at `root`, following links as the image would: an absolute link
    is the image's, not this host's, and ".." stops at the image's root."""
    resolved: list[str] = []
    parts = [p for p in path.split("/") if p not in ("", ".")]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink() and hops < 40:
            hops += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)
