"""`inv test` and `inv lint`: what CI runs (`.ci/run` calls `inv test --all`)."""

from __future__ import annotations

import shlex
import sys

from invoke.context import Context
from invoke.tasks import task

from .settings import BIN, PY, ROOT, ansible_env


@task(
    auto_shortflags=False,
    help={
        "all": "also the slow suites (image builds, QEMU boots, live capture), as CI does",
        "k": "only tests matching this expression (pytest -k)",
    },
)
def test(c: Context, all: bool = False, k: str = "") -> None:
    """Run the test suite (the fast part unless --all), after ruff and mypy."""
    lint(c)
    args = ["-q"]
    if not all:
        args += ["-m", "not slow and not live"]
    if k:
        args += ["-k", k]
    c.run(f"{shlex.quote(PY)} -m pytest {' '.join(shlex.quote(a) for a in args)}", pty=sys.stdout.isatty())


@task
def lint(c: Context) -> None:
    """ruff (lint and format check), mypy (strict), ansible-lint (production profile)."""
    with c.cd(str(ROOT)):
        c.run(f"{shlex.quote(str(BIN / 'ruff'))} check .")
        c.run(f"{shlex.quote(str(BIN / 'ruff'))} format --check .")
        c.run(f"{shlex.quote(str(BIN / 'mypy'))}")
        c.run(
            f"{shlex.quote(str(BIN / 'ansible-lint'))} --profile production --offline -q "
            "site.yml hub.yml roles inventory galaxy.yml plugins",
            env=ansible_env(),
        )
