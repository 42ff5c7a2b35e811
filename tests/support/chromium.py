"""Debian's chromium driven by Playwright, for the hub's UI tests, and where their
screenshots are kept (build/test-artifacts/NAME, or $NPS_TEST_ARTIFACTS/NAME): one
place for the skip reasons and the artefact folder the UI suites share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]


def sync_api() -> ModuleType:
    """playwright.sync_api, or the calling test module skipped with what to install."""
    api: ModuleType = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (./bootstrap)")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (./bootstrap)", allow_module_level=True)
    return api


def artifacts(name: str) -> Path:
    root = Path(os.environ.get("NPS_TEST_ARTIFACTS", REPO / "build" / "test-artifacts")) / name
    root.mkdir(parents=True, exist_ok=True)
    return root
