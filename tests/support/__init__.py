"""Helpers the test suites share: peers started by the tests (vcsim, a WS-Management
host, a serial bridge), a terminal driven through tmux, and waiting for a condition."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root: templates, roles and the shared corpus are found from it."""
