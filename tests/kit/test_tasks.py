"""The `inv` tasks as users meet them: every option explained, flags that mean one
thing, and shared settings taken from the command line, the environment or
invoke.yaml, in that order."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
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


SHARED = Shared("lab", {"server": Option("", "s", ("LAB_URL",)), "port": Option(443, "p"), "tls": Option(False, "t")})


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
            {},
            {"LAB_URL": "alias", "NPS_LAB_PORT": "8443"},
            {"server": "file"},
            {"server": "alias", "port": 8443, "tls": False},
        ),
        (
            {},
            {"LAB_URL": "alias", "NPS_LAB_SERVER": "env"},
            {},
            {"server": "env", "port": 443, "tls": False},
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
        if key.startswith(("NPS_LAB_", "LAB_")):
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


# --- the commands: nps-sensor and nps-hub ------------------------------------------


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (sub)command of a parser, with its path of command names."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from nps_hub.cli import parser as hub_parser
    from nps_sensor.cli import parser as sensor_parser

    return {"nps-sensor": sensor_parser(), "nps-hub": hub_parser()}


@pytest.mark.parametrize("program", ["nps-sensor", "nps-hub"])
def test_every_option_of_every_command_has_help(program: str) -> None:
    for path, parser in _commands(_parsers()[program]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            name = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
            assert action.help, f"{program} {' '.join(path)}: {name} has no help"


@pytest.mark.parametrize("program", ["nps-sensor", "nps-hub"])
def test_no_short_flag_of_a_command_means_two_things(program: str) -> None:
    meaning: dict[str, str] = {}
    for path, parser in _commands(_parsers()[program]):
        for action in parser._actions:
            shorts = [o for o in action.option_strings if len(o) == 2 and o != "-h"]
            longs = [o for o in action.option_strings if o.startswith("--")]
            for flag in shorts:
                assert meaning.setdefault(flag, longs[0]) == longs[0], (
                    f"{program} {' '.join(path)}: {flag} is {meaning[flag]} and {longs[0]}"
                )


@pytest.mark.parametrize("program", ["nps-sensor", "nps-hub"])
def test_every_command_answers_help(program: str) -> None:
    executable = str(Path(sys.executable).parent / program)
    for path, _ in _commands(_parsers()[program]):
        out = subprocess.run([executable, *path, "--help"], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0 and out.stdout.startswith("usage:"), (path, out.stderr)


def test_every_task_answers_help() -> None:
    for name in _tasks():
        out = subprocess.run([INV, "--help", name], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0 and "Docstring:" in out.stdout, (name, out.stderr)


def test_hub_options_go_before_or_after_the_command(tmp_path: Path) -> None:
    hub = str(Path(sys.executable).parent / "nps-hub")
    after = subprocess.run(
        [hub, "sensor", "add", "s1", "--data", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert after.returncode == 0, after.stderr
    before = subprocess.run(
        [hub, "--data", str(tmp_path), "sensor", "list"], capture_output=True, text=True, check=False
    )
    assert before.returncode == 0 and before.stdout.splitlines()[1].split()[:2] == ["s1", "Unregistered"]
    user = subprocess.run(
        [hub, "user", "admin2", "--admin", "--data", str(tmp_path)], input="long-enough-pw\n", capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert user.returncode == 0, user.stderr


def test_inv_hub_serve_mirrors_nps_hub_serve() -> None:
    """Every option of nps-hub serve, by the same name, so that what works for one works for the other
    (inv's --workers reaches nps-hub only when it is not 1)."""
    import re

    hub = str(Path(sys.executable).parent / "nps-hub")
    direct = subprocess.run([hub, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    through = subprocess.run([INV, "--help", "hub.serve"], capture_output=True, text=True, check=True).stdout
    options = set(re.findall(r"(--[a-z][a-z-]+)", direct)) - {"--help"}
    assert options <= set(re.findall(r"^\s+(--[a-z][a-z-]+)", through, re.M))


def test_wait_sensing_needs_the_ssh_key_property() -> None:
    """--wait-sensing logs in with the key the deployment gives: without one it stops before any change."""
    out = subprocess.run(
        [INV, "deploy.esxi", "--wait-sensing", "60", "--ova", "/nonexistent.ova", "--prop", "hostname=s-1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "deploy.esxi: --wait-sensing needs the property ssh.authorized_key (the appliance lets SSH in)"
    ]


def test_govc_variables_are_the_vsphere_options_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("NPS_VSPHERE_", "GOVC_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GOVC_URL", "vc.example.net")
    monkeypatch.setenv("GOVC_USERNAME", "administrator@vsphere.local")
    monkeypatch.setenv("GOVC_INSECURE", "1")
    settled = VSPHERE.settle(Context(), {})
    assert (settled["server"], settled["user"], settled["insecure"]) == (
        "vc.example.net", "administrator@vsphere.local", True
    )  # fmt: skip
    monkeypatch.setenv("NPS_VSPHERE_SERVER", "esx1.example.net")  # the kit's own variable first
    assert VSPHERE.settle(Context(), {})["server"] == "esx1.example.net"
