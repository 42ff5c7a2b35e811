"""The `inv` tasks as users meet them: every option explained, flags that mean one
thing, and shared settings taken from the command line, the environment or
invoke.yaml, in that order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from invoke.context import Context

from tasks import ns
from tasks.deploy import VSPHERE
from tasks.settings import Option, Shared, with_shared

INV = str(Path(sys.executable).parent / "inv")


def _tasks() -> list[str]:
    names = []
    for name in ns.task_names:
        names.append(name)
    return sorted(names)


def test_every_option_of_every_task_has_help() -> None:
    for name in _tasks():
        task = ns[name]
        documented = set(task.help)
        arguments = {arg.name for arg in task.get_arguments()}
        assert arguments <= documented, f"inv {name}: no help for {sorted(arguments - documented)}"
        assert task.__doc__, f"inv {name} has no docstring"


def test_no_short_flag_means_two_things() -> None:
    meaning: dict[str, str] = {}
    for name in _tasks():
        for arg in ns[name].get_arguments():
            for flag in arg.names[1:]:
                if len(flag) == 1:
                    assert meaning.setdefault(flag, arg.name) == arg.name, (
                        f"-{flag} is --{meaning[flag]} and --{arg.name}"
                    )


def test_help_of_a_task_lists_the_shared_options() -> None:
    out = subprocess.run([INV, "--help", "deploy.esxi-resize"], capture_output=True, text=True, check=True).stdout
    for option in ("--server", "--user", "--ca-bundle", "--insecure", "--datacenter", "--name", "--mbps"):
        assert option in out


SHARED = Shared("lab", {"server": Option("", "s"), "port": Option(443, "p"), "tls": Option(False, "t")})


@pytest.mark.parametrize(
    ("given", "env", "config", "expected"),
    [
        ({}, {}, {}, {"server": "", "port": 443, "tls": False}),
        ({}, {}, {"server": "file", "port": 8443}, {"server": "file", "port": 8443, "tls": False}),
        (
            {},
            {"NPS_LAB_SERVER": "env", "NPS_LAB_TLS": "yes"},
            {"server": "file"},
            {"server": "env", "port": 443, "tls": True},
        ),
        (
            {"server": "cli"},
            {"NPS_LAB_SERVER": "env"},
            {"server": "file"},
            {"server": "cli", "port": 443, "tls": False},
        ),
    ],
)
def test_shared_options_settle_cli_then_environment_then_file(
    monkeypatch: pytest.MonkeyPatch,
    given: dict[str, Any],
    env: dict[str, str],
    config: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    for key in list(os.environ):
        if key.startswith("NPS_LAB_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen: list[dict[str, Any]] = []

    @with_shared(SHARED)
    def body(c: Context, lab: dict[str, Any], extra: int = 1) -> None:
        seen.append({**lab, "extra": extra})

    context = Context()
    context.config["lab"] = config  # type: ignore[assignment]
    body(context, extra=2, **given)
    assert seen == [{**expected, "extra": 2}]


def test_vsphere_settings_name_the_vm_everywhere() -> None:
    assert "name" in VSPHERE.options
    for name in ("deploy.esxi", "deploy.esxi-resize", "deploy.esxi-nic", "deploy.esxi-status", "deploy.hyperv-status"):
        assert "name" in {arg.name for arg in ns[name].get_arguments()}
