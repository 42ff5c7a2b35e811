"""The web UI's inventory pages: the dashboard, the asset list with its filters, one
asset with the evidence behind each prediction, the traffic records and the
conversation map. The lists come from the domain (inventory, dashboard) as the API's
do; the charts and the map read the JSON API from the page itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from nps_hub import backlog, conversations, dashboard, inventory, schema
from nps_hub.context import PathId, QueryId
from nps_hub.models import Asset, Flow, Sensor
from nps_hub.webpage import Viewing, Visit

router = APIRouter(include_in_schema=False)
REFRESH = 60  # seconds: lists and charts reload themselves (unless the reader is typing)


@router.get("/")
def home() -> Response:
    return RedirectResponse("/dashboard", status_code=303)


def filters(v: Visit) -> tuple[inventory.AssetQuery, str]:
    """The inventory's filters from the query string (a form's empty fields are no
    filter), or none and the reason."""
    given = {k: x for k, x in v.request.query_params.items() if x != "" and k != "page"}
    try:
        return inventory.AssetQuery.model_validate(given), ""
    except ValidationError as e:
        return inventory.AssetQuery.model_validate({}), schema.refusal(e)


def sensor_names(v: Visit) -> dict[int, str]:
    return dict(v.db.execute(select(Sensor.id, Sensor.name).order_by(Sensor.name)).all())


PAGE = 500  # assets per page of the list


@router.get("/assets")
def assets(v: Viewing, page: Annotated[int, Query(ge=0, le=10_000)] = 0) -> Response:
    f, error = filters(v)
    listed = inventory.listing(v.db, f, PAGE, page * PAGE)
    listed["pages"] = {"page": page, "size": PAGE, "count": -(-listed["total"] // PAGE)}
    return v.page("assets.html", "Assets", 400 if error else 200, nav="assets", f=f, error=error,
                  choices=inventory.choices(v.db), sensors=sensor_names(v), refresh=REFRESH, **listed)  # fmt: skip


@router.get("/assets/{asset_id}")
def asset(asset_id: PathId, v: Viewing) -> Response:
    a = v.db.get(Asset, asset_id)
    if a is None:
        return RedirectResponse("/assets", status_code=303)
    d = inventory.asset_dict(v.db, a, brief=False)
    d["traffic"] = inventory.traffic(v.db, a.id, a.network)
    return v.page("asset.html", f"Asset {a.hostname or a.ip or a.mac}", nav="assets", a=d,
                  timeline=timeline(d["sensors"]))  # fmt: skip


def timeline(sightings: list[dict[str, Any]], width: int = 800) -> dict[str, Any]:
    """Each sensor's sighting as a bar on one time axis (SVG coordinates: the CSP allows
    attributes, not inline styles)."""
    spans = [(s["name"], dashboard.parse(s["first_seen"]), dashboard.parse(s["last_seen"])) for s in sightings]
    known = [(n, f, t) for n, f, t in spans if f and t]
    if not known:
        return {"bars": [], "width": width}
    start, end = min(f for _, f, _ in known), max(t for _, _, t in known)
    total = max((end - start).total_seconds(), 1.0)
    bars = [{"name": n, "x": round((f - start).total_seconds() / total * width, 1),
             "w": max(2.0, round((t - f).total_seconds() / total * width, 1)), "y": i * 22,
             "first": f.isoformat(), "last": t.isoformat()} for i, (n, f, t) in enumerate(known)]  # fmt: skip
    return {"bars": bars, "width": width, "height": len(bars) * 22, "start": start.isoformat(),
            "end": end.isoformat()}  # fmt: skip


@router.get("/traffic")
def traffic(v: Viewing, span: dashboard.Span = "24h") -> Response:
    total = v.db.scalar(select(func.count()).select_from(Flow)) or 0
    flows = [inventory.flow_dict(f) for f in v.db.scalars(select(Flow).order_by(Flow.id.desc()).limit(500))]
    series = {"span": span, "traffic": dashboard.traffic(v.db, dashboard.SPANS[span])}
    return v.page("traffic.html", "Traffic", nav="traffic", flows=flows, total=total, sensors=sensor_names(v),
                  d=series, refresh=REFRESH, waiting=backlog.waiting(v.db.connection()))  # fmt: skip


@router.get("/dashboard")
def dashboard_page(v: Viewing, span: dashboard.Span = "24h") -> Response:
    return v.page("dashboard.html", "Dashboard", nav="dashboard", d=dashboard.summary(v.db, span),
                  spans=list(dashboard.SPANS), refresh=REFRESH)  # fmt: skip


@router.get("/map")
def conversation_map(v: Viewing, asset: QueryId = None) -> Response:
    f, error = filters(v)
    chosen = v.db.get(Asset, asset) if asset is not None else None
    g = conversations.graph(v.db, f, asset)
    return v.page("map.html", "Conversation map", 400 if error else 200, nav="map", f=f, error=error, g=g,
                  asset=chosen)  # fmt: skip
