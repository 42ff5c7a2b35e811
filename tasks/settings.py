"""What the task collections share: the repository's paths, and option sets that
several tasks take (a hypervisor connection) declared once.

Invoke builds a task's command-line options from its function's signature, so a
connection's six options would otherwise be written again in every deploy task. A
`Shared` set is declared once here; `with_shared` adds its options to a task and
hands the task one settled value instead. Each option is settled in this order: the
command line, then the environment (`NPS_VSPHERE_SERVER`), then Invoke's
configuration (`invoke.yaml` beside the repository's tasks, `INVOKE_VSPHERE_SERVER`),
then the built-in default — so a site writes its hosts and users once.
"""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent


def run(args: list[str], env: Mapping[str, str] | None = None) -> None:
    """Run a command with this process's standard streams: its output reaches the
    terminal, pipe or file untouched (the same bytes as run directly; Invoke's runner
    would decode and re-encode it chunk by chunk), and its exit status is the task's."""
    try:
        code = subprocess.run(args, check=False, env={**os.environ, **env} if env else None).returncode
    except OSError as e:
        raise Exit(f"{args[0]}: {e.strerror or e}", code=127) from None
    except KeyboardInterrupt:
        raise Exit(code=130) from None
    if code:
        raise Exit(code=code if code > 0 else 128 - code)


COLLECTIONS = ROOT / "build" / "collections"


def ansible_env() -> dict[str, str]:
    """Ansible's settings are the repository's (ansible.cfg); its tools are in this venv; the
    collection nps.appliance is this checkout (linked where ansible.cfg looks for collections)."""
    link = COLLECTIONS / "ansible_collections" / "nps" / "appliance"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT, target_is_directory=True)
    return {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@dataclass(frozen=True)
class Option:
    """One shared option: its default, its help text, and other tools' environment
    variables that mean the same (govc's GOVC_URL), read after the kit's own."""

    default: str | bool | int
    help: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shared:
    """A named set of options several tasks take, settled into one mapping."""

    name: str
    """Its section in Invoke's configuration and its environment prefix (NPS_NAME_...)."""
    options: Mapping[str, Option]

    def defaults(self) -> dict[str, Any]:
        return {key: option.default for key, option in self.options.items()}

    def settle(self, c: Context, given: Mapping[str, Any]) -> dict[str, Any]:
        """Each option's value: the command line, the environment, the configuration, the default."""
        section = c.config.get(self.name, {}) or {}
        values: dict[str, Any] = {}
        for key, option in self.options.items():
            value = given.get(key)
            if value in (None, "", 0, False) or value == option.default:
                names = (f"NPS_{self.name}_{key}".upper(), *option.aliases)
                env = next((os.environ[n] for n in names if os.environ.get(n)), None)
                if env is not None:
                    value = _typed(env, option.default)
                elif key in section and section[key] not in (None, ""):
                    value = _typed(section[key], option.default)
                else:
                    value = option.default if value is None else value
            values[key] = value
        return values


def _typed(value: Any, default: str | bool | int) -> Any:
    if isinstance(default, bool):
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    return str(value)


def with_shared(shared: Shared) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a task the shared options: its body takes `(c, settings, ...its own)`.

    The wrapper's signature (what Invoke reads to make options) is the body's own
    parameters followed by the shared ones; the body receives them settled, as one
    mapping, in its second parameter.
    """

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        params = list(inspect.signature(body).parameters.values())
        context, own = params[0], params[2:]
        names = {p.name for p in own}
        extra = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option.default)
            for key, option in shared.options.items()
            if key not in names
        ]

        @functools.wraps(body)
        def task_body(c: Context, **kwargs: Any) -> Any:
            given = {key: kwargs.pop(key) for key in shared.options if key in kwargs and key not in names}
            return body(c, shared.settle(c, given), **kwargs)

        own_kw = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        task_body.__signature__ = inspect.Signature([context, *own_kw, *extra])  # type: ignore[attr-defined]
        return task_body

    return decorate


def shared_help(shared: Shared, **own: str) -> dict[str, str]:
    """The help texts of a task: the shared options' and its own."""
    return {**{key: option.help for key, option in shared.options.items()}, **own}
