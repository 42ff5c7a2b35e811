"""`inv collection.*`: the repository as the Ansible collection nps.appliance (galaxy.yml).

Each role's README is written from its `meta/argument_specs.yml` (what `ansible-doc -t
role` and Ansible's own argument check read), so the variables a README lists are the
ones the role takes, with their types and defaults: `inv collection.docs` writes them,
a test checks that they are up to date.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .settings import BIN, ROOT, ansible_env, run

ROLES = ROOT / "roles"
GENERATED = "<!-- Generated from meta/argument_specs.yml by `inv collection.docs`: edit those, not this. -->"


def _text(value: str) -> str:
    """Ansible's doc markup (C(x), I(x)) as Markdown; table cells on one line."""
    value = re.sub(r"[CI]\(([^)]*)\)", r"`\1`", str(value))
    return " ".join(value.split()).replace("|", "\\|")


def _default(spec: dict[str, Any]) -> str:
    if spec.get("required"):
        return "required"
    if "default" not in spec:
        return ""
    return f"`{yaml.safe_dump(spec['default'], default_flow_style=True).strip().removesuffix('...').strip()}`"


def role_readme(role: Path) -> str:
    """The README of a role, from its argument specs and its galaxy_info."""
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    info = yaml.safe_load((role / "meta" / "main.yml").read_text()) or {}
    main = specs["main"]
    deps = [d["role"] if isinstance(d, dict) else d for d in info.get("dependencies") or []]
    lines = [
        f"# nps.appliance.{role.name}",
        "",
        GENERATED,
        "",
        _text(info.get("galaxy_info", {}).get("description", main.get("short_description", ""))) + ".",
        "",
    ]
    lines += [_text(p) + "\n" for p in main.get("description", [])]
    platforms = info.get("galaxy_info", {}).get("platforms", [])
    lines += ["## Requirements", ""]
    lines += [f"- {p['name']} {', '.join(str(v) for v in p.get('versions', []))}" for p in platforms] or ["- any"]
    lines += [f"- Ansible {info.get('galaxy_info', {}).get('min_ansible_version', '2.16')} or later"]
    lines += [f"- depends on {', '.join(f'`{d}`' for d in deps)}"] if deps else []
    lines += ["", "## Variables", "", "| variable | type | default | description |", "|---|---|---|---|"]
    for name, spec in sorted(main.get("options", {}).items()):
        kind = spec.get("type", "str") + (f" of {spec['elements']}" if spec.get("elements") else "")
        choices = f" One of {', '.join(f'`{c}`' for c in spec['choices'])}." if spec.get("choices") else ""
        secret = " A secret: vault it; never logged." if spec.get("no_log") else ""
        lines.append(
            f"| `{name}` | {kind} | {_default(spec)} | {_text(spec.get('description', ''))}{choices}{secret} |"
        )
    others = [k for k in specs if k != "main"]
    if others:
        lines += ["", "## Entry points", ""]
        lines += [f"- `main`: {_text(main.get('short_description', ''))}"]
        lines += [
            f"- `{k}` (`tasks_from: {k}`): {_text(specs[k].get('short_description', ''))}"
            + (" (checks the variables only; nothing changes)" if k == "validate" else "")
            for k in others
        ]
    required = {n: f"{{{{ vault_{n} }}}}" for n, s in main.get("options", {}).items() if s.get("required")}
    example = {"name": f"Apply nps.appliance.{role.name}", "hosts": "all", "become": True}
    example["roles"] = [{"role": f"nps.appliance.{role.name}", **required}]
    lines += ["", "## Example", "", "```yaml", yaml.safe_dump([example], sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def roles() -> list[Path]:
    return sorted(p for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())


@task(name="docs", auto_shortflags=False, help={"check": "write nothing; fail when a README is out of date"})
def docs(c: Context, check: bool = False) -> None:
    """Write each role's README.md from its meta/argument_specs.yml."""
    stale = []
    for role in roles():
        readme, text = role / "README.md", role_readme(role)
        if not readme.exists() or readme.read_text() != text:
            stale.append(str(readme.relative_to(ROOT)))
            if not check:
                readme.write_text(text)
    if check and stale:
        raise Exit(f"collection.docs: out of date: {', '.join(stale)} (run inv collection.docs)", code=1)
    print(f"collection.docs: {len(stale)} README(s) {'out of date' if check else 'written'}")


@task(
    name="build",
    auto_shortflags=False,
    help={"output": "where the collection's tarball goes (default dist/)"},
)
def build(c: Context, output: str = "dist") -> None:
    """Build the Ansible collection nps.appliance: OUTPUT/nps-appliance-VERSION.tar.gz (ansible-galaxy)."""
    docs(c, check=True)
    run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", output, str(ROOT)],
        env=ansible_env(),
    )


collection = Collection("collection", docs, build)
