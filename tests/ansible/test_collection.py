"""The repository as the Ansible collection nps.appliance: it builds, installs from its
tarball and from the repository (git), its roles answer `ansible-doc` by their fully
qualified names, and each role's README lists exactly its argument specs' variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.collection import role_readme, roles

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLES = ("appliance", "hub", "network", "proxy", "registration", "sniffing", "updates")

if not (BIN / "ansible-galaxy").exists():
    pytest.skip("ansible-galaxy is not installed (./bootstrap)", allow_module_level=True)


def _galaxy(*args: str, cwd: Path, collections: Path | None = None) -> subprocess.CompletedProcess[str]:
    """ansible-galaxy away from the repository's ansible.cfg (as a user's machine has it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_role_has_its_readme_from_its_argument_specs() -> None:
    assert sorted(r.name for r in roles()) == sorted(ROLES)
    for role in roles():
        readme = role / "README.md"
        assert readme.exists() and readme.read_text() == role_readme(role), (
            f"{readme} is out of date: run inv collection.docs"
        )
        options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
        for name in options.get("options", {}):
            assert f"| `{name}` |" in readme.read_text()


def test_the_collection_builds_and_installs_from_its_tarball(tmp_path: Path) -> None:
    built = _galaxy("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (tarball,) = tmp_path.glob("nps-appliance-*.tar.gz")
    listing = subprocess.run(["tar", "tzf", str(tarball)], capture_output=True, text=True, check=True).stdout
    assert "roles/hub/tasks/main.yml" in listing and "plugins/action/nps_appliance.py" in listing
    assert "sensor/" not in listing and "tests/" not in listing  # the collection, not the kit
    collections = tmp_path / "collections"
    installed = _galaxy("ansible-galaxy", "collection", "install", "-p", str(collections), str(tarball), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    for role in ROLES:
        doc = _galaxy("ansible-doc", "-t", "role", f"nps.appliance.{role}", cwd=tmp_path, collections=collections)
        assert doc.returncode == 0 and f"nps.appliance.{role}" in doc.stdout and "main" in doc.stdout, doc.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_collection_installs_from_the_repository(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    collections = tmp_path / "collections"
    installed = _galaxy("ansible-galaxy", "collection", "install", "-p", str(collections), f"git+file://{ROOT}",
                        cwd=tmp_path)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (collections / "ansible_collections/nps/appliance/roles/registration/tasks/main.yml").exists()
    # The playbooks name the roles by their fully qualified names; they resolve in the installed collection.
    check = _galaxy("ansible-playbook", "--syntax-check", "-i", "localhost,", str(ROOT / "hub.yml"),
                    str(ROOT / "site.yml"), cwd=tmp_path, collections=collections)  # fmt: skip
    assert check.returncode == 0, check.stderr + check.stdout
