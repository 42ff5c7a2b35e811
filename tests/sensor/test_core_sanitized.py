"""The packet core under AddressSanitizer and UndefinedBehaviorSanitizer, on hostile input.

Two builds of sensor/csrc, both with -DNPS_STRICT (a read the core's own checks should
have kept inside its frame aborts instead of returning 0):

* libFuzzer (clang) drives the core's C API alone (csrc/fuzz.c) from the seed corpus in
  tests/sensor/fuzz_corpus: capture files, ring blocks and frames of every encapsulation
  and discovery protocol, mutated, for at least FUZZ_FRAMES frames, with small tables so
  that growth, eviction and wrap-around run all the time;
* the Python module itself (gcc), loaded into a Python run with the sanitizers'
  runtime, analyzes every shared capture (the malformed ones included) and the seed
  corpus's frames through the whole pipeline.

No finding is allowed. Both need compilers (bootstrap --test installs clang-14 and
libclang-rt-14-dev); they skip, saying what is missing, where they are not there. Cost
on this 2-core VM: about 10 s to build and 15 s to run (slow suite).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from nps_sensor import packetcore, roles
from nps_sensor.discovery.dispatch import selection
from tests.conftest import REPO, list_captures, pcaps_root
from tests.support import fuzz_corpus

CSRC = REPO / "sensor" / "csrc"
CORE = ["dec", "roles", "flows", "hosts", "dedupe", "frags", "select", "engine", "readers"]
STRICT = ["-g", "-O1", "-std=c11", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all", "-DNPS_STRICT"]
# Small tables for the fuzzer: a fresh engine per input is cheap and every bound is reached.
SMALL = ["-DNPS_SEEN_LIMIT=64", "-DNPS_RING_BITS=6", "-DNPS_TABLE_BITS=4", "-DNPS_FRAG_BITS=6"]
FUZZ_FRAMES = 1_000_000
FUZZ_RUNS = 60_000  # inputs; each seed-derived input carries tens of frames
pytestmark = pytest.mark.slow


def _clang() -> str:
    for name in ("clang-14", "clang"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("clang is not installed (Debian: apt-get install clang-14 libclang-rt-14-dev); libFuzzer needs it")


def _run(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, env=env, cwd=cwd)


def test_the_seed_corpus_is_what_the_builders_make() -> None:
    want = {fuzz_corpus.name(data) for data in fuzz_corpus.seeds().values()}
    have = {p.name for p in fuzz_corpus.CORPUS.iterdir()}
    assert have == want, "regenerate it: .venv/bin/python -m tests.support.fuzz_corpus"


def test_libfuzzer_finds_nothing_in_a_million_frames(tmp_path: Path) -> None:
    clang = _clang()
    binary = tmp_path / "fuzz"
    sources = [str(CSRC / f"{n}.c") for n in [*CORE, "fuzz"]]
    cmd = [clang, "-fsanitize=fuzzer,address,undefined", *STRICT, *SMALL, *sources, "-lm", "-o", str(binary)]
    built = _run(cmd)
    if built.returncode and "libclang_rt.fuzzer" in built.stderr:
        pytest.skip("libFuzzer's runtime is not installed (Debian: apt-get install libclang-rt-14-dev)")
    assert built.returncode == 0, built.stderr[-2000:]
    tables = tmp_path / "tables.bin"
    tables.write_bytes(packetcore.tables_blob(roles.tables(), selection()))
    work = tmp_path / "corpus"
    shutil.copytree(fuzz_corpus.CORPUS, work)  # the fuzzer adds what it finds: not to the repository
    env = {**os.environ, "NPS_FUZZ_TABLES": str(tables), "ASAN_OPTIONS": "detect_leaks=1"}
    run = _run([str(binary), f"-runs={FUZZ_RUNS}", "-max_len=8192", "-seed=20", str(work)], env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    found = re.search(r"fuzzed frames: (\d+)", run.stderr)
    assert found and int(found.group(1)) >= FUZZ_FRAMES, run.stderr[-1000:]


SANITIZED_RUN = """
import importlib.util, sys
import nps_sensor
spec = importlib.util.spec_from_file_location("nps_sensor.packetcore", sys.argv[1])
core = importlib.util.module_from_spec(spec)
sys.modules["nps_sensor.packetcore"] = nps_sensor.packetcore = core
spec.loader.exec_module(core)
from nps_sensor.analyze import analyze
from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.pipeline import Engine
from nps_sensor.pipeline import Collector
assert Collector.__init__.__globals__["Core"] is core.Core
packets = 0
for path in sys.argv[3:]:
    packets += analyze([path], Config()).result["stats"]["packets"]
engine = Engine(Config(), lambda report: None)
for path in sorted(__import__("pathlib").Path(sys.argv[2]).iterdir()):
    data = path.read_bytes()
    if data[0] >= 3:  # fuzz.c's frames input: [kind][step] then [u16 length][bytes]...
        frames, at = [], 2
        while at + 2 <= len(data):
            n = int.from_bytes(data[at : at + 2], "big")
            frames.append(data[at + 2 : at + 2 + n])
            at += 2 + n
        engine.feed(batch_from_frames(frames, ts=[1.7e9 + i * 1e-4 for i in range(len(frames))]))
        packets += len(frames)
engine.finish()
print("packets", packets)
"""


def test_the_python_module_under_sanitizers_analyzes_every_shared_capture(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    runtime = _run([gcc, "-print-file-name=libasan.so"]).stdout.strip()
    if not os.path.isabs(runtime):
        pytest.skip("gcc's AddressSanitizer runtime (libasan) is not installed")
    module = tmp_path / "packetcore.so"
    include = sysconfig.get_paths()["include"]
    sources = sorted(str(p) for p in CSRC.glob("*.c") if p.name != "fuzz.c")
    cmd = [gcc, "-shared", "-fPIC", "-fsanitize=address,undefined", *STRICT, f"-I{include}", *sources]
    built = _run([*cmd, "-o", str(module)])
    assert built.returncode == 0, built.stderr[-2000:]
    captures = [str(pcaps_root() / c) for c in list_captures()]
    env = {**os.environ, "LD_PRELOAD": runtime, "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
    run = _run([sys.executable, "-c", SANITIZED_RUN, str(module), str(fuzz_corpus.CORPUS), *captures], env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, run.stderr[-4000:]
    assert int(run.stdout.split()[-1]) > 0
