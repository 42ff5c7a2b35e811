"""`inv configure`: the Ansible roles (site.yml) on running appliances."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from .settings import BIN, ROOT, ansible_env


@task(
    auto_shortflags=False,
    name="configure",
    help={
        "inventory": "the Ansible inventory of the appliances (see inventory/example/)",
        "limit": "only these hosts or groups (ansible-playbook --limit)",
        "check": "say what would change, with the differences, and change nothing",
    },
)
def configure_appliances(c: Context, inventory: str, limit: str = "", check: bool = False) -> None:
    """Configure running appliances with the Ansible roles (site.yml): management network, proxy, sniffing."""
    if not Path(inventory).exists():
        raise Exit(f"configure: {inventory}: no such inventory (see inventory/example/hosts.yml)", code=2)
    playbook = BIN / "ansible-playbook"
    if not playbook.exists():
        raise Exit("configure: ansible-playbook is not installed; run ./bootstrap (the dev extra has it)", code=2)
    args = [str(playbook), "-i", inventory, str(ROOT / "site.yml")]
    if limit:
        args += ["--limit", limit]
    if check:
        args += ["--check", "--diff"]
    result = c.run(shlex.join(args), env=ansible_env(), pty=sys.stdout.isatty(), warn=True)
    if result is None or result.failed:
        code = result.exited if result is not None else 1
        raise Exit(f"configure: ansible-playbook failed on some hosts (exit {code}); the recap above names them", code)
