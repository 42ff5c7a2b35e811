"""`inv bench --discovery`: scores, the confusion of types and the reliability of confidences, printed."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.discovery.score import (
    BLIND,
    FIELDS,
    GENERATED,
    confusion,
    labels,
    module_makers,
    outcomes,
    partial,
    reliability,
    run_corpus,
    score,
)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "bench"
TOOLS = ("nps-sensor", "p0f", "Satori tables", "FingerBank table")


def _shared(var: str, sub: str) -> Path:
    env = os.environ.get(var)
    return Path(env).expanduser() if env else ROOT.parent / "shared" / sub


def main() -> int:
    console = Console(width=150)
    pcaps, data = _shared("NPS_PCAPS", "pcaps"), _shared("NPS_FINGERPRINTS", "fingerprints")
    rows = labels()
    with tempfile.TemporaryDirectory() as tmp, console.status("analyzing the labeled captures ..."):
        corpus = run_corpus(pcaps, data, Path(tmp), rows)
        results = outcomes(corpus, rows)
    missing = sorted({r.capture for r in rows} - set(corpus.captures))
    if missing:
        console.print(f"[yellow]{len(missing)} labeled captures not found below {pcaps}: {', '.join(missing)}")
    scores = Table(title=f"Device identification on {len(results['nps-sensor'])} labeled devices", title_justify="left")
    scores.add_column("tool")
    for name in FIELDS:
        scores.add_column(name, justify="right")
    summary: dict[str, dict[str, list[int]]] = {}
    for tool in TOOLS:
        cells = []
        for name in FIELDS:
            right, total = score(results[tool], name)
            summary.setdefault(tool, {})[name] = [right, total]
            cells.append(f"{right}/{total} ({right / total:.0%})" if total else "-")
        scores.add_row(tool, *cells)
    for origin, keep in (
        ("shared captures", lambda c: c not in (GENERATED, BLIND)),
        ("generated LAN", lambda c: c == GENERATED),
        ("blind set, written after the rules", lambda c: c == BLIND),
    ):
        part = [o for o in results["nps-sensor"] if keep(o.label.capture)]
        cells = []
        for name in FIELDS:
            right, total = score(part, name)
            summary.setdefault(f"nps-sensor, {origin}", {})[name] = [right, total]
            cells.append(f"{right}/{total} ({right / total:.0%})" if total else "-")
        scores.add_row(f"  nps-sensor, {len(part)} devices of the {origin}", *cells)
    halves = partial(corpus, rows)
    cells = []
    for name in FIELDS:
        right, total = score(halves, name)
        summary.setdefault("nps-sensor, half the facts", {})[name] = [right, total]
        cells.append(f"{right / total:.0%}" if total else "-")
    scores.add_row("  nps-sensor, from random halves of the facts", *cells)
    console.print(scores)
    ok, total = module_makers(results["nps-sensor"], corpus)
    console.print(f"Wi-Fi module makers named as such and not as the brand: {ok}/{total}")
    kinds = Table(title="Types: what each labeled type was called (✓ right)", title_justify="left")
    kinds.add_column("type")
    kinds.add_column("devices", justify="right")
    kinds.add_column("called")
    for truth, n, said in confusion(results["nps-sensor"]):
        kinds.add_row(truth, str(n), ", ".join(f"{k} {v}" for k, v in said.most_common()))
    console.print(kinds)
    reliable: dict[str, list[list[object]]] = {}
    for name in ("type", "os"):
        cal = Table(title=f"Reliability of the {name} confidence", title_justify="left")
        for col in ("confidence", "all facts", "mean", "right", "half the facts", "mean ", "right "):
            cal.add_column(col, justify="right")
        whole, half = reliability(results["nps-sensor"], name), reliability(halves, name)
        for (span, n, mean, share), (_, n2, mean2, share2) in zip(whole, half, strict=True):
            cal.add_row(
                span,
                str(n),
                f"{mean:.2f}" if mean is not None else "-",
                f"{share:.0%}" if n else "-",
                str(n2),
                f"{mean2:.2f}" if mean2 is not None else "-",
                f"{share2:.0%}" if n2 else "-",
            )
        console.print(cal)
        reliable[name] = [list(r) for r in half]
    wrong = [o for o in results["nps-sensor"] if any(v is False for v in o.right.values())]
    console.print(f"[bold]Misses[/bold] ({len(wrong)} devices):")
    for o in wrong:
        bad = ", ".join(f"{k} {o.said.get(k)!r} (is {getattr(o.label, k)!r})" for k, v in o.right.items() if v is False)
        console.print(f"  {o.label.capture} {o.label.mac}: {bad}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "discovery.json").write_text(json.dumps({"scores": summary, "reliability": reliable}, indent=1))
    return 0
