"""A text console in a real terminal for tests: tmux (80x25) runs the program, keys go
in by `tmux send-keys`, the screen comes back by `tmux capture-pane`. Every wait is for
text on the screen, with a timeout (no fixed sleeps). Screens are saved as text
(tmp_path/captures, and $NPS_CONSOLE_CAPTURES when set: the README's screenshots).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


class Screen:
    """One console in a private tmux server, 80 columns by 25 lines."""

    def __init__(self, tmp: Path, command: str) -> None:
        """`command` (a shell command line) runs in the pane: the console, or a bridge to a serial line."""
        self.socket = tmp / "tmux.sock"
        self.captures = tmp / "captures"
        self.captures.mkdir(exist_ok=True)
        cmd = f"{command}; echo console-exited; sleep 600"
        self._tmux("new-session", "-d", "-x", "80", "-y", "25", "-s", "console", cmd)
        self._tmux("set-option", "-g", "status", "off")

    def _tmux(self, *args: str) -> str:
        r = subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30, check=True
        )
        return r.stdout

    def text(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "console")

    def wait(self, *texts: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            flat = " ".join(line.strip() for line in screen.splitlines())  # wrapped messages as one line
            if all(t in screen or t in flat for t in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{texts} not on the screen after {timeout} s:\n{screen}")
            time.sleep(0.1)

    def gone(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on the screen after {timeout} s:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        for k in keys:
            self._tmux("send-keys", "-t", "console", k)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "console", "-l", text)

    def save(self, name: str) -> None:
        screen = self.text()
        (self.captures / f"{name}.txt").write_text(screen)
        extra = os.environ.get("NPS_CONSOLE_CAPTURES")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            (Path(extra) / f"{name}.txt").write_text(screen)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, check=False)

    def menu(self, position: int) -> None:
        """From the main menu, open its `position`th item (0: Personalize)."""
        self.wait("Main menu", "Root shell")
        self.keys(*(["Down"] * position), "Enter")
