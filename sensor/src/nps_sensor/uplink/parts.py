"""A spooled report as the hub takes it: whole when it is small, else cut into parts.

The hub takes a report of at most 2,000 assets and 25,000 flows (16 MiB once
decompressed): it bounds what one upload may cost it. A window of a large network can
hold more, so the uplink cuts it: parts of MAX_ASSETS assets, then parts of MAX_FLOWS
flows (last, so that the hub knows their assets when they arrive), each carrying the
report's other fields. A part's id is the report's id and its place (`.p2-5`): the cut
is the same every time, so a part sent again is recognised like a whole report.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_ASSETS = 1_000
MAX_FLOWS = 10_000
WHOLE = 256 << 10  # bytes: a smaller report cannot hold more than MAX_ASSETS assets


def report_id(data: bytes) -> str:
    return "sha256-" + hashlib.sha256(data).hexdigest()


def parts(data: bytes) -> list[tuple[str, bytes]]:
    """(id, body) of each upload the report takes. Raises ValueError when the file is
    not a JSON report at all (it cannot be sent)."""
    rid = report_id(data)
    if len(data) <= WHOLE:
        return [(rid, data)]
    body: Any = json.loads(data)
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    assets, flows = body.get("assets"), body.get("flows")
    if not isinstance(assets, list) or not isinstance(flows, list):
        return [(rid, data)]  # the hub says what is wrong with it
    if len(assets) <= MAX_ASSETS and len(flows) <= MAX_FLOWS:
        return [(rid, data)]
    head = {k: v for k, v in body.items() if k not in ("assets", "flows")}
    cuts = [{**head, "assets": assets[i : i + MAX_ASSETS], "flows": []} for i in range(0, len(assets), MAX_ASSETS)]
    cuts += [{**head, "assets": [], "flows": flows[i : i + MAX_FLOWS]} for i in range(0, len(flows), MAX_FLOWS)]
    n = len(cuts)
    return [(f"{rid}.p{i}-{n}", json.dumps(c, separators=(",", ":")).encode()) for i, c in enumerate(cuts, 1)]
