"""Shared fixtures: the public capture corpus, the `nps-sensor` command, tshark.

The corpus (81 public captures, see its README.md and MANIFEST.tsv) lives outside
the repository: `$NPS_PCAPS`, else `<repo>/../shared/pcaps`. Tests that need it, or
tshark, skip with the reason when they are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
# Generous: the slowest shared capture takes seconds; a hang must still end.
SENSOR_TIMEOUT = 300.0


def pcaps_root() -> Path:
    """Where the shared captures are expected (whether or not they are there)."""
    env = os.environ.get("NPS_PCAPS")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "pcaps"


def list_captures(root: Path | None = None) -> list[str]:
    """Every capture below `root` as a sorted relative POSIX path ("dns/x.pcap"); [] if absent."""
    root = pcaps_root() if root is None else root
    if not root.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix in CAPTURE_SUFFIXES
    )


NO_CORPUS = "(no shared captures)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test with a `shared_capture` argument runs once per shared capture, named by its path.

    Without the corpus it runs once with a placeholder; its `pcaps_dir` fixture skips.
    """
    if "shared_capture" in metafunc.fixturenames:
        metafunc.parametrize("shared_capture", list_captures() or [NO_CORPUS])


@pytest.fixture(scope="session")
def pcaps_dir() -> Path:
    """The shared capture folder; skips when it is absent or holds no capture."""
    root = pcaps_root()
    if not root.is_dir():
        pytest.skip(f"shared captures not found at {root} (set NPS_PCAPS to the folder of the corpus)")
    if not list_captures(root):
        pytest.skip(f"no .pcap/.pcapng files below {root}")
    return root


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Parsed fingerprint databases (nps_sensor.discovery.fingerprints.cache) go to the
    session's temporary folder, not the home directory of whoever runs the tests."""
    before = os.environ.get("NPS_CACHE_DIR")
    os.environ["NPS_CACHE_DIR"] = str(tmp_path_factory.mktemp("nps-cache"))
    yield
    if before is None:
        del os.environ["NPS_CACHE_DIR"]
    else:
        os.environ["NPS_CACHE_DIR"] = before


def sensor_command() -> list[str]:
    """The `nps-sensor` console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("nps-sensor")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "nps_sensor.cli"]


def sensor_env() -> dict[str, str]:
    """The environment for sensor runs: ours, with single-threaded BLAS.

    The sensor does no linear algebra; numpy's BLAS thread pool only adds start-up
    CPU time, which adds up when tests start many runs side by side.
    """
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    return env


SensorRun = tuple[int, dict[str, Any] | None, str]


def run_analyze(
    *captures: str | Path,
    config: str | Path | None = None,
    timeout: float = SENSOR_TIMEOUT,
    cpu_limit: int | None = None,
) -> SensorRun:
    """Run `nps-sensor analyze CAPTURE... [--config FILE]` in a subprocess.

    Returns (exit code, the parsed JSON result or None if stdout is not a JSON object, stderr).
    With `cpu_limit` (seconds of CPU time, which unlike wall time does not depend on
    what else the machine runs) the kernel ends the run with SIGXCPU when it is used
    up: the exit code is then `-signal.SIGXCPU`.
    """
    cmd = [*sensor_command(), "analyze", *(str(c) for c in captures)]
    if config is not None:
        cmd += ["--config", str(config)]
    if cpu_limit is not None:
        cmd = ["/bin/sh", "-c", f'ulimit -t {int(cpu_limit)} && exec "$@"', "sh", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=sensor_env())
    try:
        parsed = json.loads(proc.stdout)
    except ValueError:
        parsed = None
    return proc.returncode, parsed if isinstance(parsed, dict) else None, proc.stderr


@pytest.fixture(scope="session")
def analyze() -> Callable[..., SensorRun]:
    """The `run_analyze` helper: `analyze(capture, ..., config=None)` -> (exit code, JSON, stderr)."""
    return run_analyze


def image_tools_missing() -> str | None:
    """Why the appliance image cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building the image needs root (mmdebstrap, chroot)"
    for tool in ("mmdebstrap", "mke2fs", "sfdisk", "grub-mkimage", "qemu-system-x86_64", "xorriso", "ssh"):
        if not shutil.which(tool):
            return f"{tool} is not installed (run ./bootstrap)"
    return None


@pytest.fixture(scope="session")
def release_pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A throwaway CA and code-signing certificate (tests.support.pki.Pki): the test image's
    release key, which its update bundles must be signed with."""
    from tests.support import pki

    return pki.make(tmp_path_factory.mktemp("release-pki"))


@pytest.fixture(scope="session")
def appliance_dist(tmp_path_factory: pytest.TempPathFactory, release_pki: Any) -> Path:
    """The deliverables of `inv image.build` (version 0.0.0-test), built once per run,
    signed with `release_pki` (so the image trusts bundles signed with it).

    The image build's tests and the Ansible roles' tests (which boot it) share it;
    skips where the image cannot be built.
    """
    reason = image_tools_missing()
    if reason is not None:
        pytest.skip(reason)
    from nps_image.build import Build, build
    from nps_image.signing import load

    out = tmp_path_factory.mktemp("dist")
    build(Build("0.0.0-test", out, REPO / "build" / "cache", signer=load(release_pki.key, release_pki.chain)))
    return out


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of the tshark executable; skips when it is not installed."""
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian: apt-get install tshark); it is the decoding oracle")
    try:
        subprocess.run([path, "--version"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"tshark at {path} does not run: {e}")
    return path


@pytest.fixture(scope="session")
def fingerprints_root() -> Path:
    """Where the shared fingerprint databases are expected (whether or not they are
    there): `$NPS_FINGERPRINTS`, else `<repo>/../shared/fingerprints`."""
    env = os.environ.get("NPS_FINGERPRINTS")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "fingerprints"


@pytest.fixture(scope="session")
def shared_fingerprints(fingerprints_root: Path) -> Path:
    """The shared fingerprint databases' folder; skips when they are absent."""
    if not (fingerprints_root / "p0f" / "p0f.fp").is_file():
        pytest.skip(
            f"fingerprint databases not found at {fingerprints_root} "
            "(set NPS_FINGERPRINTS to the shared/fingerprints folder)"
        )
    return fingerprints_root
