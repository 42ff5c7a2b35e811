"""The SBOM (CycloneDX 1.5): valid against the published schema, every package with its
version, source and licenses, the same bytes from the same inputs.

The schema is CycloneDX's own (image/sbom-schema, Apache-2.0, with the SPDX license list
and JSF schemas it refers to), checked by jsonschema. The packages are a made-up image
with each kind of copyright file, then this Debian host's own packages and copyright
files, which are what an appliance's are (bookworm's).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from nps_image import sbom
from nps_image.sbom import DebPackage, PyPackage

DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foo

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: lib/*
Copyright: 2021 Someone Else
License: Expat or BSD-3-clause

Files: odd/*
Copyright: 2022 A Third
License: Custom-Thing
 whatever the text says

License: GPL-2+
 /usr/share/common-licenses/GPL-2
"""
FREE_TEXT = """This package was debianized by someone.

It is under the GNU GPL version 3; on Debian systems see /usr/share/common-licenses/GPL-3.
Parts are under /usr/share/common-licenses/LGPL-2.1.
"""
DEBIAN = [
    DebPackage("libfoo1", "1.2-3+deb12u1", "amd64", "foo", "1.2-3+deb12u1"),
    DebPackage("libfoo-dev", "1.2-3+deb12u1", "amd64", "foo", "1.2-3+deb12u1"),
    DebPackage("bar", "4:0.9", "all", "bar", "4:0.9"),
    DebPackage("baz", "1", "amd64", "baz", "1"),
]
PYTHON = [
    PyPackage("httpx", "0.28.1", license_expression="BSD-3-Clause"),
    PyPackage("PyYAML", "6.0.2", license="MIT"),
    PyPackage("python-pam", "2.0.2", license="", classifiers=("License :: OSI Approved :: MIT License",)),
    PyPackage("Jinja2", "3.1.6", classifiers=("License :: OSI Approved :: BSD License",)),
]


def validator() -> Draft7Validator:
    resources = []
    for name in ("bom-1.5.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
        doc = json.loads((sbom.SCHEMA_DIR / name).read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    schema = json.loads((sbom.SCHEMA_DIR / "bom-1.5.schema.json").read_text())
    return Draft7Validator(schema, registry=Registry().with_resources(resources))


def schema_errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(doc)]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    doc = tmp_path / "usr/share/doc"
    (doc / "libfoo1").mkdir(parents=True)
    (doc / "libfoo1/copyright").write_text(DEP5)
    (doc / "libfoo-dev").symlink_to("/usr/share/doc/libfoo1")  # absolute: the image's, not the host's
    (doc / "bar").mkdir()
    (doc / "bar/copyright").write_text(FREE_TEXT)
    return tmp_path


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["components"]}


def test_every_package_with_version_source_and_licenses(image: Path) -> None:
    inputs = sbom.Inputs("nps-sensor", "1.4.0", 1_767_225_600, {"wheels": "ab" * 32, "base": "base-x.tar"})
    doc = sbom.document(inputs, DEBIAN, PYTHON, sbom.copyright_files(image, [p.name for p in DEBIAN]))
    assert schema_errors(doc) == []
    c = by_name(doc)
    assert set(c) == {p.name for p in DEBIAN} | {p.name for p in PYTHON}
    foo = c["libfoo1"]
    assert foo["purl"] == "pkg:deb/debian/libfoo1@1.2-3%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=foo"
    assert {"name": "nps:debian:source", "value": "foo 1.2-3+deb12u1"} in foo["properties"]
    assert foo["licenses"] == [
        {"license": {"id": "BSD-3-Clause"}},
        {"license": {"id": "GPL-2.0-or-later"}},
        {"license": {"id": "MIT"}},
        {"license": {"name": "Custom-Thing"}},
    ]
    assert c["libfoo-dev"]["licenses"] == foo["licenses"]  # its doc folder is a link to libfoo1's
    assert c["bar"]["licenses"] == [{"license": {"name": "GPL-3"}}, {"license": {"name": "LGPL-2.1"}}]
    assert {"name": "nps:license", "value": "no copyright file"} in c["baz"]["properties"]
    assert "licenses" not in c["baz"]
    assert c["httpx"]["licenses"] == [{"expression": "BSD-3-Clause"}]
    assert c["PyYAML"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert c["PyYAML"]["purl"] == "pkg:pypi/pyyaml@6.0.2"
    assert c["python-pam"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert c["Jinja2"]["licenses"] == [{"license": {"name": "BSD License"}}]  # which BSD is not said
    meta = doc["metadata"]
    assert meta["timestamp"] == "2026-01-01T00:00:00Z"
    assert (meta["component"]["name"], meta["component"]["version"]) == ("nps-sensor", "1.4.0")
    assert {"name": "nps:input:wheels", "value": "ab" * 32} in meta["component"]["properties"]


def test_the_same_inputs_give_the_same_bytes(image: Path) -> None:
    def made(epoch: int) -> str:
        inputs = sbom.Inputs("nps-sensor", "1.4.0", epoch, {})
        text: str = sbom.dumps(sbom.document(inputs, DEBIAN, PYTHON, sbom.copyright_files(image, ["libfoo1", "bar"])))
        return text

    first = made(1_767_225_600)
    assert made(1_767_225_600) == first
    other = made(1_767_225_601)
    assert other != first and json.loads(other)["serialNumber"] != json.loads(first)["serialNumber"]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian host")
def test_this_debian_hosts_packages_make_a_valid_sbom() -> None:
    """Bookworm's real copyright files, machine-readable or not, the appliance's kind."""
    fields = "${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\n"
    out = subprocess.run(["dpkg-query", "-W", f"-f={fields}"], capture_output=True, text=True, check=True).stdout
    debian = [DebPackage(*line.split("\t")) for line in out.splitlines() if line.count("\t") == 4]
    doc = sbom.document(
        sbom.Inputs("host", "1", 0, {}), debian, [], sbom.copyright_files(Path("/"), [p.name for p in debian])
    )
    assert schema_errors(doc) == []
    assert len(doc["components"]) == len({(p.name, p.arch) for p in debian})
    with_license = [c for c in doc["components"] if c.get("licenses")]
    assert len(with_license) > 0.75 * len(doc["components"]), "most Debian packages name their licenses"
    for c in doc["components"]:  # and the others say why they have none
        how = {p["value"] for p in c["properties"] if p["name"] == "nps:license"}
        assert c.get("licenses") or how & {"not stated", "no copyright file", "DEP-5 copyright file"}, c["name"]
