"""The packet core under AddressSanitizer and UndefinedBehaviorSanitizer, on hostile input.

Two builds of sensor/csrc, both with -DNPS_STRICT (a read the core's own checks should
have kept inside its frame aborts instead of returning 0):

* libFuzzer (clang) drives the core's C API alone (csrc/fuzz.c) from the seed corpus in
  tests/sensor/fuzz_corpus: capture files, ring blocks and frames of every encapsulation
  and discovery protocol, mutated, for at least FUZZ_FRAMES frames, with small tables so
  that growth, eviction and wrap-around run all the time;
* the Python module itself (gcc), loaded into a Python run with the sanitizers'
  runtime, analyzes every shared capture (the malformed ones included) and the seed
  corpus's frames through the whole pipeline, then calls discovery's readers in C (DNS
  names and records, p0f signatures, DHCP options, HTTP heads) on 125,000 mutated and
  cut inputs.

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


SANITIZED_RUN = r"""
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
import random
rng = random.Random(20261205)
syn = bytes.fromhex("4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes.fromhex(
    "a0ed0050c8a1b2c300000000a002faf0fe300000020405b40402080a000f4b5c0000000001030307")
dns = bytes.fromhex("000184000001000200000000") + b"\x04host\x05local\x00\x00\x01\x00\x01" + (
    b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01"
    b"\xc0\x11\x00\x0c\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x0c")
dhcp = b"\x63\x82\x53\x63\x35\x01\x03\x0c\x05host1\x37\x04\x01\x03\x06\x0f\x51\x04\x00\x00\x00a\x00\xff"
http = b"GET / HTTP/1.1\r\nHost: a.example\r\nUser-Agent: x/1\r\nServer: y\r\n\r\nbody"
records = lambda data, at: core.dns_records(data)
readers = [(core.tcp_signature, syn, 20), (core.dns_name, dns, 12), (records, dns, 0), (core.dhcp_options, dhcp, 4),
           (core.http_head, http, 0)]
calls = 0
for _ in range(25_000):
    for read, seed, at in readers:
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256) if rng.random() < 0.8 else data[i] ^ 0x80
        data = bytes(data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data)
        read(data, at if rng.random() < 0.8 else rng.randint(-3, len(seed) + 3))
        calls += 1
print("reader calls", calls)
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
    # PYTHONMALLOC=malloc: each object its own malloc block with AddressSanitizer's red
    # zones around it; in pymalloc's pools a read past a small bytes object lands in its
    # neighbour unseen.
    env = {**os.environ, "LD_PRELOAD": runtime, "ASAN_OPTIONS": "detect_leaks=0", "PYTHONMALLOC": "malloc"}
    env["UBSAN_OPTIONS"] = "print_stacktrace=1"
    run = _run([sys.executable, "-c", SANITIZED_RUN, str(module), str(fuzz_corpus.CORPUS), *captures], env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, run.stderr[-4000:]
    assert int(run.stdout.split()[-1]) > 0
    assert "reader calls 125000" in run.stdout
