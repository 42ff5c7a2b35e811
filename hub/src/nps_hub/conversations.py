"""Who talks to whom, for the conversation map: a graph of the traffic records
between the assets of one asset's neighbourhood or of a filtered inventory, edges
weighted by bytes, nodes carrying what the map colours them by (device type), and the
heaviest records beside it. Bounded (MAX_NODES, MAX_EDGES) so that the page stays
readable and the browser's layout fast."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, load_only

from nps_hub import backlog, inventory
from nps_hub.models import Asset, Flow

MAX_NODES = 500
MAX_EDGES = 2_000
MAX_ROWS = 200


def graph(db: Session, f: inventory.AssetQuery, asset: int | None = None) -> dict[str, Any]:
    """{nodes, edges, flows, truncated, waiting}: node ids are "a<asset id>" for assets, the
    address for ends the inventory does not hold."""
    if asset is not None:  # equalities: each end's index, where a subquery made PostgreSQL scan the table
        ends = or_(Flow.client_asset == asset, Flow.server_asset == asset)
    elif f.args():
        chosen = inventory.search(f).with_only_columns(Asset.id)
        ends = or_(Flow.client_asset.in_(chosen), Flow.server_asset.in_(chosen))
    else:  # everything: records whose ends the inventory knows, without asking it for every id
        ends = or_(Flow.client_asset.is_not(None), Flow.server_asset.is_not(None))
    total = func.sum(Flow.client_bytes + Flow.server_bytes).label("bytes")
    rows = db.execute(
        select(Flow.client_asset, Flow.client, Flow.server_asset, Flow.server, total, func.count())
        .where(ends)
        .group_by(Flow.client_asset, Flow.client, Flow.server_asset, Flow.server)
        .order_by(total.desc())
        .limit(MAX_EDGES * 4)
    ).all()
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    weight: dict[str, int] = {}
    for ca, client, sa, server, b, n in rows:
        a, z = (f"a{ca}" if ca else client), (f"a{sa}" if sa else server)
        e = edges.setdefault((a, z), {"source": a, "target": z, "bytes": 0, "records": 0})
        e["bytes"] += int(b or 0)
        e["records"] += n
        for node in (a, z):
            weight[node] = weight.get(node, 0) + int(b or 0)
    keep = set(sorted(weight, key=lambda k: -weight[k])[:MAX_NODES])
    kept = sorted((e for e in edges.values() if e["source"] in keep and e["target"] in keep),
                  key=lambda e: -e["bytes"])[:MAX_EDGES]  # fmt: skip
    used = {n for e in kept for n in (e["source"], e["target"])}
    ids = [int(n[1:]) for n in used if n.startswith("a")]
    shown = load_only(Asset.id, Asset.hostname, Asset.ip, Asset.mac, Asset.device_type, Asset.vendor)
    known = {a.id: a for a in db.scalars(select(Asset).options(shown).where(Asset.id.in_(ids)))} if ids else {}
    nodes = []
    for n in sorted(used, key=lambda k: -weight[k]):
        x = known.get(int(n[1:])) if n.startswith("a") else None
        nodes.append({
            "id": n, "asset": x.id if x else None, "label": (x.hostname or x.ip or x.mac or n) if x else n,
            "ip": x.ip if x else n, "device_type": x.device_type if x else "", "vendor": x.vendor if x else "",
            "bytes": weight[n], "chosen": bool(x and (asset is None or x.id == asset)),
        })  # fmt: skip
    flows = db.scalars(select(Flow).where(ends).order_by((Flow.client_bytes + Flow.server_bytes).desc())
                       .limit(MAX_ROWS))  # fmt: skip
    return {
        "nodes": nodes,
        "edges": kept,
        "flows": [inventory.flow_dict(x) for x in flows],
        "truncated": len(weight) > len(keep) or len(edges) > len(kept),
        "waiting": backlog.waiting(db.connection()),  # records not yet in the map (backlog.py)
    }
