"""The one exception the ESXi deployer raises for what a user can fix: its message is the whole story."""

from __future__ import annotations


class DeployError(Exception):
    """An operational failure: one line naming the cause and the fix, shown without a traceback."""
