"""Device identification against labeled devices: the sensor, p0f and Satori's tables side by side.

Every capture of truth.tsv goes through `nps-sensor analyze` (in this process, with
the shared fingerprint databases); each labeled device is found by its MAC and its
prediction compared with its label: type (one of the label's alternatives), brand
(the maker's name, with the usual short forms), model (one contains the other, once
case and punctuation are left out), OS family (the label's family or one below it).
A label "-" is not scored.

p0f runs on the same captures (`p0f -r`); its OS for an address counts for the
device that has the address; it never names a type, brand or model. Satori does not
run here (its Python code needs packages and a live capture layer this project does
not install), so Satori's own tables, as the sensor reads them (DHCP, SSH, SMB, web
server), are scored alone: the sensor's prediction made from their evidence only.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nps_sensor.analyze import analyze
from nps_sensor.config import Config
from nps_sensor.discovery import fingerprints
from nps_sensor.discovery.fingerprints.claims import FAMILY_PARENT, family, lineage
from nps_sensor.discovery.predict import Evidence, predict
from nps_sensor.synth.devices import write_lan

HERE = Path(__file__).resolve().parent
TRUTH = HERE / "truth.tsv"
GENERATED = "generated"
BLIND = "generated-blind"  # written after the rules were frozen
FIELDS = ("type", "brand", "model", "os")
# Names a brand goes by: the key is the label's, the values what a prediction may say.
BRAND_ALIASES = {
    "hp": ("hewlett", "hpe"),
    "oracle": ("virtualbox", "pcs systemtechnik"),
    "rockwell": ("allen-bradley",),
    "extreme": ("extreme networks",),
    "asus": ("asustek",),
    "tp-link": ("tp link", "tplink"),
    "qnap": ("icp electronics",),
    "apc": ("american power conversion",),
    "vmware": (),
}


@dataclass(frozen=True)
class Label:
    capture: str
    mac: str
    brand: str
    type: str
    model: str
    os: str
    module: str
    note: str = ""


@dataclass
class Outcome:
    label: Label
    said: dict[str, str | None]  # field -> what the tool said
    right: dict[str, bool | None]  # field -> right, wrong, or not scored (None)
    confidence: dict[str, float] = field(default_factory=dict)


def labels(path: Path = TRUTH) -> list[Label]:
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    reader = csv.reader(rows[1:], delimiter="\t")
    return [Label(*(row + [""] * (8 - len(row)))[:8]) for row in reader]


def _norm(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


def brand_right(label: str, said: str | None) -> bool:
    if not said:
        return False
    s = said.lower()
    key = label.lower()
    names = (key, *BRAND_ALIASES.get(key.split()[0], ()))
    return any(n in s or _norm(n) == _norm(said)[: len(_norm(n))] for n in names) or _norm(said) in _norm(label)


def model_right(label: str, said: str | None) -> bool:
    a, b = _norm(label), _norm(said)
    return bool(a and b) and (a in b or b in a)


def os_right(label: str, said: str | None) -> bool:
    if not said:
        return False
    want = family(label) or label
    return want in lineage(said, FAMILY_PARENT)


def judge(label: Label, said: dict[str, str | None]) -> dict[str, bool | None]:
    return {
        "type": None if label.type == "-" else said.get("type") in label.type.split("|"),
        "brand": None if label.brand == "-" else brand_right(label.brand, said.get("brand")),
        "model": None if label.model == "-" else model_right(label.model, said.get("model")),
        "os": None if label.os == "-" else os_right(label.os, said.get("os")),
    }


def _asset(assets: list[dict[str, Any]], mac: str) -> dict[str, Any] | None:
    for a in assets:
        if a.get("mac") == mac or a.get("id") == f"mac:{mac}":
            return a
    for a in assets:
        if mac in (a.get("macs") or []):
            return a
    return None


def _facts(asset: dict[str, Any]) -> dict[tuple[str, str, Any], Any]:
    from nps_sensor.discovery.facts import Seen

    out: dict[tuple[str, str, Any], Any] = {}
    for e in asset.get("evidence") or []:
        v = e["value"]
        out[(e["source"], e["key"], tuple(v) if isinstance(v, list) else v)] = Seen(0.0, 0.0, e.get("count", 1))
    return out


def said_by_sensor(asset: dict[str, Any] | None) -> tuple[dict[str, str | None], dict[str, float]]:
    if asset is None:
        return {}, {}
    d, o = asset.get("device") or {}, asset.get("os") or {}
    said = {"type": d.get("type"), "brand": d.get("vendor"), "model": d.get("model"), "os": o.get("family")}
    conf = {"type": d.get("confidence") or 0.0, "os": o.get("confidence") or 0.0}
    return said, conf


def said_by_tables(
    asset: dict[str, Any] | None, keep: Callable[[Evidence], bool], db: fingerprints.Databases
) -> dict[str, str | None]:
    if asset is None:
        return {}
    p = predict(_facts(asset), None, db=db, only=keep)
    d, o = p.get("device") or {}, p.get("os") or {}
    return {"type": d.get("type"), "brand": d.get("vendor"), "model": d.get("model"), "os": o.get("family")}


def p0f_oses(capture: Path) -> dict[str, str]:
    """The OS p0f names for each client or server address in `capture` (its last word)."""
    if shutil.which("p0f") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "p0f.log"
        subprocess.run(
            ["p0f", "-r", str(capture), "-o", str(log)], capture_output=True, check=False, timeout=300, cwd=tmp
        )
        text = log.read_text(errors="replace") if log.exists() else ""
    out: dict[str, str] = {}
    for line in text.splitlines():
        fields = dict(part.split("=", 1) for part in line.split("] ", 1)[-1].split("|") if "=" in part)
        os_name = fields.get("os", "???")
        if os_name == "???" or not fields.get("subj"):
            continue
        who = fields.get(fields["subj"], "").rsplit("/", 1)[0]
        out[who] = os_name
    return out


def p0f_family(name: str | None) -> str | None:
    if not name:
        return None
    words = name.split()
    for n in (2, 1):
        f = family(" ".join(words[:n]))
        if f:
            return f
    return None


@dataclass
class Corpus:
    captures: dict[str, Path]
    results: dict[str, dict[str, Any]]
    db: fingerprints.Databases


def run_corpus(pcaps: Path, data: Path, scratch: Path, rows: Iterable[Label]) -> Corpus:
    """Each capture of the labels analyzed once (the generated LAN written first)."""
    from benchmarks.discovery import lan

    captures: dict[str, Path] = {}
    for label in rows:
        if label.capture in (GENERATED, BLIND):
            path = scratch / f"{label.capture}.pcap"
            if not path.exists():
                write_lan(str(path), lan.DEVICES if label.capture == GENERATED else lan.BLIND)
        else:
            path = pcaps / label.capture
        if path.exists():
            captures[label.capture] = path
    old = os.environ.get("NPS_DATA_DIR")
    os.environ["NPS_DATA_DIR"] = str(data)
    db = fingerprints.Databases(data)
    fingerprints.use(db)
    try:
        results = {name: analyze([str(path)], Config()).result for name, path in captures.items()}
    finally:
        fingerprints.use(None)
        if old is None:
            os.environ.pop("NPS_DATA_DIR", None)
        else:
            os.environ["NPS_DATA_DIR"] = old
    return Corpus(captures, results, db)


def _satori(e: Evidence) -> bool:
    return (e.claim.match or "").startswith("Satori")


def _fingerbank(e: Evidence) -> bool:
    return (e.claim.match or "").startswith("FingerBank")


def outcomes(corpus: Corpus, rows: list[Label]) -> dict[str, list[Outcome]]:
    """tool -> one outcome per labeled device whose capture is here."""
    out: dict[str, list[Outcome]] = defaultdict(list)
    p0f: dict[str, dict[str, str]] = {name: p0f_oses(path) for name, path in corpus.captures.items()}
    for label in rows:
        result = corpus.results.get(label.capture)
        if result is None:
            continue
        asset = _asset(result["assets"], label.mac)
        said, conf = said_by_sensor(asset)
        out["nps-sensor"].append(Outcome(label, said, judge(label, said), conf))
        for tool, keep in (("Satori tables", _satori), ("FingerBank table", _fingerbank)):
            s = said_by_tables(asset, keep, corpus.db)
            out[tool].append(Outcome(label, s, judge(label, s)))
        ips = [x["ip"] for x in (asset or {}).get("ips") or []]
        os_name = next((p0f[label.capture][ip] for ip in ips if ip in p0f[label.capture]), None)
        s = {"os": p0f_family(os_name)}
        out["p0f"].append(Outcome(label, s, judge(label, s)))
    return out


PARTIAL_ROUNDS = 20  # random halves of each device's facts


def partial(corpus: Corpus, rows: list[Label], seed: int = 1, raw: bool = False) -> list[Outcome]:
    """The sensor's predictions from a random half of each device's facts, several times:
    what a sensor that saw only part of a device's traffic would say. On the full facts
    nearly every prediction is right, which says nothing of how its confidence tracks
    being right; on partial evidence many are wrong, and the reliability table of these
    shows whether a 0.8 is right about 80 % of the time."""
    import random

    rng = random.Random(seed)
    out = []
    for label in rows:
        result = corpus.results.get(label.capture)
        asset = _asset(result["assets"], label.mac) if result else None
        if asset is None:
            continue
        facts = _facts(asset)
        mac = int(label.mac.replace(":", ""), 16)
        for _ in range(PARTIAL_ROUNDS):
            some = {k: v for k, v in facts.items() if rng.random() < 0.5}
            p = predict(some, mac, db=corpus.db, calibrate=not raw)
            d, o = p.get("device") or {}, p.get("os") or {}
            said = {"type": d.get("type"), "brand": d.get("vendor"), "model": d.get("model"), "os": o.get("family")}
            conf = {"type": d.get("confidence") or 0.0, "os": o.get("confidence") or 0.0}
            out.append(Outcome(label, said, judge(label, said), conf))
    return out


def score(items: list[Outcome], name: str) -> tuple[int, int]:
    scored = [o.right[name] for o in items if o.right[name] is not None]
    return sum(1 for r in scored if r), len(scored)


def confusion(items: list[Outcome]) -> list[tuple[str, int, Counter[str]]]:
    """(true type, devices, what they were called) for every labeled type."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for o in items:
        if o.label.type == "-":
            continue
        truth = o.label.type.split("|")[0]
        said = o.said.get("type") or "(none)"
        table[truth]["✓" if o.right["type"] else said] += 1
    return [(t, sum(c.values()), c) for t, c in sorted(table.items())]


BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.01)


def reliability(items: list[Outcome], name: str) -> list[tuple[str, int, float | None, float | None]]:
    """(confidence bin, predictions, mean confidence, share right) of the sensor's `name`."""
    rows = []
    for lo, hi in itertools.pairwise(BINS):
        inside = [
            o
            for o in items
            if o.right[name] is not None and o.said.get(name) and lo <= o.confidence.get(name, 0.0) < hi
        ]
        mean = sum(o.confidence[name] for o in inside) / len(inside) if inside else None
        share = sum(1 for o in inside if o.right[name]) / len(inside) if inside else None
        rows.append((f"{lo:.1f}–{min(hi, 1.0):.1f}", len(inside), mean, share))
    return rows


def module_makers(items: list[Outcome], corpus: Corpus) -> tuple[int, int]:
    """Devices on a Wi-Fi module: the module named as such, never as the brand."""
    ok = total = 0
    for o in items:
        if o.label.module == "-" or not o.label.module:
            continue
        total += 1
        asset = _asset(corpus.results[o.label.capture]["assets"], o.label.mac)
        device = (asset or {}).get("device") or {}
        named = o.label.module.lower() in str(device.get("module") or "").lower()
        wrong_brand = brand_right(o.label.module, device.get("vendor"))
        ok += int(named and not wrong_brand)
    return ok, total
