"""PowerShell for Hyper-V: rendered from templates/hyperv, and what the host prints back.

Every script is a Jinja2 template (one source of truth, golden-tested). Values reach a
script only as PowerShell literals made by `ps_literal`: a template that prints a plain
string fails to render, so a VM or switch name can never become code. The scripts print
one JSON line per step; `parse` turns standard output, standard error (CLIXML or text,
UTF-8 or not) and the exit code into steps and one line for a failure.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "hyperv"
ACTIONS = ("deploy", "probe", "resize", "nic", "status", "upload", "bootstrap")
# PowerShell treats the typographic single quotes as quotes too: each is doubled inside a
# single-quoted string, as the engine's own EscapeSingleQuotedStringContent does.
_SINGLE_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
POWERSHELL = "powershell.exe"
POWERSHELL_ARGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand")


class Literal(str):
    """Text that is already PowerShell code (a quoted literal, a number, $true, $null)."""


def ps_literal(value: object) -> Literal:
    """The PowerShell literal of a Python value: strings single-quoted, None as $null."""
    if value is None:
        return Literal("$null")
    if isinstance(value, bool):
        return Literal("$true" if value else "$false")
    if isinstance(value, int):
        return Literal(str(value))
    if isinstance(value, str | Path):
        text = str(value)
        if _CONTROL.search(text):
            raise ValueError(f"{text!r}: control characters have no place in a name or path")
        return Literal("'" + _SINGLE_QUOTES.sub(r"\1\1", text) + "'")
    raise TypeError(f"no PowerShell literal for {type(value).__name__}")


def _finalize(value: object) -> object:
    if isinstance(value, Literal | int) and not isinstance(value, bool):
        return value
    raise TypeError(f"template prints {value!r} without the ps filter: quote every value")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # PowerShell, not HTML: values are quoted by the ps filter
        finalize=_finalize,
    )
    env.filters["ps"] = ps_literal
    return env


def render(action: str, *, apply: bool = True, **values: object) -> str:
    """The script of `action` (templates/hyperv/ACTION.ps1.j2) with `values`."""
    if action not in ACTIONS:
        raise ValueError(f"no script for {action!r}")
    template = _environment().get_template(f"{action}.ps1.j2")
    text = template.render(action=Literal(action), apply=ps_literal(apply), **values)
    return re.sub(r"\n{3,}", "\n\n", text)


def encoded_command(script: str) -> str:
    """`-EncodedCommand`'s argument: the script in UTF-16LE, base64."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def command_line(script: str) -> tuple[str, list[str]]:
    """The command and arguments that run `script` as powershell.exe's encoded command."""
    return POWERSHELL, [*POWERSHELL_ARGS, encoded_command(script)]


# --- results ------------------------------------------------------------------------

STATUSES = ("ok", "changed", "change", "failed")


@dataclass(frozen=True)
class Step:
    """One step's report: ok, changed, change (dry run) or failed."""

    step: str
    status: str
    detail: str


@dataclass
class Output:
    """What a script printed, parsed."""

    exit_code: int
    steps: list[Step] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # JSON lines that are not steps
    text: list[str] = field(default_factory=list)  # lines that are not JSON
    errors: str = ""  # standard error, as text

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed is None

    def record(self, key: str) -> Any:
        """The value of the first JSON line that has `key` (status, probe)."""
        for record in self.records:
            if key in record:
                return record[key]
        return None

    def error_line(self) -> str:
        """One line that says what went wrong (empty when nothing did)."""
        failed = self.failed
        if failed is not None:
            return f"step {failed.step} failed: {failed.detail}"
        if self.exit_code == 0:
            return ""
        first = next((line.strip() for line in self.errors.splitlines() if line.strip()), "")
        if not first:
            first = next((line.strip() for line in reversed(self.text) if line.strip()), "no message")
        return f"the script stopped with exit code {self.exit_code}: {first}"


def decode(data: bytes) -> str:
    """Host output as text: UTF-8 (the shell's code page 65001); anything else is kept
    readable with replacement characters rather than lost."""
    return data.decode("utf-8", errors="replace")


_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clixml_text(data: bytes) -> str:
    """Standard error as text: PowerShell serialises its error stream as CLIXML when its
    output is redirected; the error records' strings are kept, progress records dropped."""
    text = decode(data)
    if not text.startswith("#< CLIXML"):
        return text
    from xml.etree import ElementTree

    body = text.split("\n", 1)[1] if "\n" in text else ""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return body
    parts = [node.text or "" for node in root.iter() if node.tag.endswith("}S") and node.get("S") == "Error"]
    joined = "".join(parts)
    return _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), joined)


def parse_lines(lines: Iterable[str], output: Output) -> list[Step]:
    """Add `lines` of standard output to `output`; the steps among them, in order."""
    new: list[Step] = []
    for raw in lines:
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            value = json.loads(line) if line.startswith("{") else None
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            output.text.append(line)
            continue
        if isinstance(value.get("step"), str) and value.get("status") in STATUSES:
            step = Step(value["step"], value["status"], str(value.get("detail") or ""))
            output.steps.append(step)
            new.append(step)
        else:
            output.records.append(value)
    return new


def parse(stdout: bytes, stderr: bytes, exit_code: int) -> Output:
    """A finished script's output."""
    output = Output(exit_code=exit_code, errors=clixml_text(stderr))
    parse_lines(decode(stdout).splitlines(), output)
    return output
