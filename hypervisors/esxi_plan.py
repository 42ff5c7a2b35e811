"""A deploy is a plan: the changes that bring vSphere to what was asked, each one line.

Planning only reads; `--dry-run` prints the plan and stops there, a real run prints
each step as it applies it. An empty plan is the idempotent case: nothing to do,
and the run says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One change: what it does, in words (no secret in them), and how."""

    text: str
    run: Callable[[], None]


def execute(steps: Sequence[Step], *, dry_run: bool, subject: str, say: Callable[[str], None]) -> bool:
    """Print and (unless `dry_run`) apply `steps`; True when something changed or would change."""
    if not steps:
        say(f"{subject}: nothing to change, it is as asked")
        return False
    if dry_run:
        say(f"{subject}: plan (dry run, nothing changed):")
        for step in steps:
            say(f"  - {step.text}")
        return True
    for step in steps:
        say(f"- {step.text}")
        step.run()
    say(f"{subject}: done")
    return True
