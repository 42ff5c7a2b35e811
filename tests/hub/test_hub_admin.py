"""The hub's IP-range tags, its limits on guessing (logins, personalization codes) and its
users managed over the API: against `nps-hub serve` as its own process on loopback,
with clients on two loopback addresses (127.0.0.1 and 127.0.0.2) as two sources."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.hublab import ADMIN_PASSWORD, HubProcess
from nps_hub import db, ratelimit, security
from nps_hub.ratelimit import Limited
from nps_sensor import config
from tests.hub.test_hub import register_typed

LIMIT = 3


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    env = {"NPS_HUB_LOGIN_LIMIT": str(LIMIT), "NPS_HUB_CODE_LIMIT": str(LIMIT), "NPS_HUB_LIMIT_WINDOW": "600"}
    with HubProcess(tmp_path, tls=False, env=env) as h:
        yield h


def client(hub: HubProcess, source: str = "127.0.0.1", token: str = "") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=hub.url,
        transport=httpx.HTTPTransport(local_address=source),
        headers=headers,
        timeout=60,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def login(c: httpx.Client, name: str, password: str) -> httpx.Response:
    return c.post("/api/v1/login", json={"name": name, "password": password})


# --- IP-range tags --------------------------------------------------------------------


def test_ip_range_tags_feed_asset_groups_and_reach_sensors_resolved(hub: HubProcess) -> None:
    api = hub.api()
    http = api.http
    made = http.post("/api/v1/tags", json={"name": "plant floor", "ranges": ["10.20.0.0/16", "10.30.0.1-10.30.0.9"]})
    assert made.status_code == 201, made.text
    tag = made.json()
    assert tag["ranges"] == ["10.20.0.0/16", "10.30.0.1-10.30.0.9"] and tag["used_by"] == []
    assert http.post("/api/v1/tags", json={"name": "plant floor", "ranges": ["10.0.0.1"]}).status_code == 409
    bad = http.post("/api/v1/tags", json={"name": "x", "ranges": ["10.0.0.0/8", "10.1.300.0/24"]})
    assert bad.status_code == 422 and "ranges[1]" in bad.json()["detail"] and "10.1.300.0/24" in bad.json()["detail"]
    comma = http.post("/api/v1/tags", json={"name": "a,b", "ranges": ["10.0.0.1"]})
    assert comma.status_code == 400 and comma.json()["detail"] == "name: commas and control characters are not allowed"

    # A group that names an unknown tag is refused, naming it.
    unknown = http.put("/api/v1/configuration", json={"internal": [{"name": "g", "tags": ["nope"]}]})
    assert unknown.status_code == 422 and "no IP-range tag is named 'nope'" in unknown.json()["detail"]

    # Ranges from the defaults, from a tag and custom ones, in that order.
    doc = {"internal": [{"name": "plant", "tags": ["plant floor"], "ranges": ["192.0.2.0/24"], "defaults": True}]}
    saved = http.put("/api/v1/configuration", json=doc)
    assert saved.status_code == 200, saved.text
    assert saved.json()["document"]["internal"][0]["tags"] == ["plant floor"]
    assert api.get("/api/v1/tags")[0]["used_by"] == ["plant"]

    # The sensor receives the tag's ranges in its own schema, which has no tags.
    _, code = api.create_sensor("s1")
    reg = httpx.post(f"{hub.url}/api/v1/agent/register", json={"code": code})
    assert reg.status_code == 201, reg.text
    sensor = client(hub, token=reg.json()["token"])
    beat = sensor.post("/api/v1/agent/heartbeat", json={"status": {"state": "paused"}}).json()
    assert "tags" not in beat["config"]["yaml"]
    group = config.parse(beat["config"]["yaml"], "pushed").internal[0]
    texts = [r.text for r in group.ranges]
    assert texts[-3:] == ["10.20.0.0/16", "10.30.0.1-10.30.0.9", "192.0.2.0/24"]
    assert set(config.DEFAULT_RANGES) <= set(texts)

    # A tag in use cannot be deleted; once no group uses it, it can.
    used = http.delete(f"/api/v1/tags/{tag['id']}")
    assert used.status_code == 409 and "used by the asset group(s) plant" in used.json()["detail"]
    assert http.put("/api/v1/configuration", json={"internal": [{"name": "p", "ranges": ["10.0.0.0/8"]}]}).is_success
    assert http.delete(f"/api/v1/tags/{tag['id']}").json() == {"status": "deleted", "name": "plant floor"}
    assert api.get("/api/v1/tags") == []
    assert http.delete(f"/api/v1/tags/{tag['id']}").status_code == 404


def test_overlap_warnings_see_through_tags(hub: HubProcess) -> None:
    api = hub.api()
    api.post("/api/v1/tags", {"name": "cranes", "ranges": ["10.5.0.0/16"]})
    for name in ("a", "b"):
        _, code = api.create_sensor(name)
        assert httpx.post(f"{hub.url}/api/v1/agent/register", json={"code": code}).status_code == 201
    doc = {
        "internal": [
            {"name": "ga", "sensors": ["a"], "tags": ["cranes"]},
            {"name": "gb", "sensors": ["b"], "ranges": ["10.5.1.0/24"]},
        ]
    }
    saved = api.http.put("/api/v1/configuration", json=doc).json()
    assert any("sensors a and b both inventory 10.5.0.0/16 / 10.5.1.0/24" in w for w in saved["warnings"])


# --- limits on guessing ---------------------------------------------------------------


def test_guessing_slows_an_account_down_without_locking_its_owner_out(hub: HubProcess) -> None:
    hub.api().post("/api/v1/users", {"name": "bob", "password": "bob-password", "role": "operator"})
    one, two, three, four = (client(hub, f"127.0.0.{i}") for i in (1, 2, 3, 4))
    assert login(three, "bob", "bob-password").status_code == 200  # bob's own address, known from now on
    for _ in range(LIMIT):
        assert login(one, "bob", "wrong").status_code == 401
    refused = login(one, "bob", "wrong")
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert "\n" not in detail and "too many failed login attempts for this user name from this address" in detail
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    # Refused before the password is looked at: the right one does not get through from there either.
    assert login(one, "bob", "bob-password").status_code == 429
    # From another address the account is slowed down, not locked: one attempt per pause.
    for _ in range(LIMIT):
        assert _patiently(lambda: login(two, "bob", "wrong")).status_code == 401
    slowed = login(four, "bob", "bob-password")
    assert slowed.status_code == 429 and "from a new address, one attempt every" in slowed.json()["detail"]
    # From the address bob logs in from, never slowed: the guessers cannot keep him out.
    assert login(three, "bob", "bob-password").status_code == 200
    # Which forgets the account's failures: the new address gets in at once now.
    assert login(four, "bob", "bob-password").status_code == 200
    # Another account from the guessing address is not held up by bob's failures...
    assert login(one, "admin", ADMIN_PASSWORD).status_code == 200
    # ... until that address has failed too often whatever the account (3 x the limit).
    for name in ("carol", "dave", "erin", "frank", "grace", "heidi"):
        if login(one, name, "wrong").status_code == 429:
            break
    by_address = login(one, "admin", ADMIN_PASSWORD)
    assert by_address.status_code == 429 and "for this address" in by_address.json()["detail"]

    # The web UI's login form counts against the same limits.
    form = one.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    page = one.post("/login", data={"csrf": csrf, "name": "bob", "password": "bob-password"})
    assert page.status_code == 429 and "too many failed login attempts" in page.text and page.headers["Retry-After"]


def _patiently(attempt: Callable[[], httpx.Response]) -> httpx.Response:
    """An attempt, repeated after the wait a 429 names (a slowed account's pause)."""
    for _ in range(10):
        r = attempt()
        if r.status_code != 429:
            return r
        time.sleep(int(r.headers["Retry-After"]))
    return r


def test_failed_registrations_are_limited_per_address_and_per_code(hub: HubProcess, tmp_path: Path) -> None:
    api = hub.api()
    _, code = api.create_sensor("s")
    one, two = client(hub, "127.0.0.1"), client(hub, "127.0.0.2")
    wrong = "1" * 14 if code != "1" * 14 else "2" * 14
    for i in range(LIMIT):
        r = one.post("/api/v1/agent/register", json={"code": f"{i:014d}" if f"{i:014d}" != code else wrong})
        assert r.status_code == 403 and "not recognised" in r.json()["detail"]
    refused = one.post("/api/v1/agent/register", json={"code": code})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "too many failed registration attempts for this address" in refused.json()["detail"]
    # The appliance's own command says so in one line.
    out = register_typed(hub, code, tmp_path / "hub.json")
    assert out.returncode != 0 and out.stderr.count("\n") == 1, out.stderr
    assert (
        "429" in out.stderr and "too many failed registration attempts" in out.stderr and "try again in" in out.stderr
    )
    # The same wrong code from two other addresses, each under its own limit: refused by
    # the code's count.
    three = client(hub, "127.0.0.3")
    for c in [two] * (LIMIT - 1) + [three]:
        assert c.post("/api/v1/agent/register", json={"code": wrong}).status_code == 403
    again = three.post("/api/v1/agent/register", json={"code": wrong})
    assert again.status_code == 429 and "for this code" in again.json()["detail"]
    # The right code from those addresses still registers.
    assert three.post("/api/v1/agent/register", json={"code": code}).status_code == 201


def test_the_limits_slide_their_window_and_live_in_the_database(tmp_path: Path) -> None:
    engine = db.engine_for(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    db.migrate(engine)
    t = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    guard = ratelimit.Guard(security.Keyed(b"k" * 32), 2, 2, 60, clock=lambda: t[0])
    with db.sessions(engine)() as s:
        guard.login_failed(s, "bob", "192.0.2.1")
        t[0] += dt.timedelta(seconds=30)
        guard.login_failed(s, "bob", "192.0.2.1")
        with pytest.raises(Limited) as e:
            guard.check_login(s, "bob", "192.0.2.1", None)
        assert e.value.retry_after == 30
        # Another address: the account is slowed (a pause of 2^0 s after its last failure).
        with pytest.raises(Limited, match="one attempt every 1 s"):
            guard.check_login(s, "bob", "192.0.2.2", None)
        t[0] += dt.timedelta(seconds=1)
        guard.check_login(s, "bob", "192.0.2.2", None)
        t[0] += dt.timedelta(seconds=29)  # the first failure leaves the window
        guard.check_login(s, "bob", "192.0.2.1", None)
        # IPv6 counts per /64; a restart (a new Guard) forgets nothing.
        again = ratelimit.Guard(security.Keyed(b"k" * 32), 2, 2, 60, clock=lambda: t[0])
        for _ in range(2):
            again.login_failed(s, "carol", "2001:db8::1")
        with pytest.raises(Limited, match="from this address"):
            guard.check_login(s, "carol", "2001:db8::ffff", None)
        t[0] += dt.timedelta(seconds=120)
        assert guard.sweep(s) == 4 * 3  # four failures, counted per pair, address and account
        ratelimit.Guard(security.Keyed(b"k" * 32), 0, 0, 60).check_login(s, "carol", "2001:db8::1", None)


# --- users ---------------------------------------------------------------------------


def test_roles_in_the_api(hub: HubProcess) -> None:
    api = hub.api()
    made = api.http.post("/api/v1/users", json={"name": "dana", "password": "dana-password"})
    assert made.status_code == 201 and made.json()["role"] == "viewer" and made.json()["disabled"] is False
    dana_id = made.json()["id"]
    assert api.http.post("/api/v1/users", json={"name": "dana", "password": "x" * 8}).status_code == 409
    short = api.http.post("/api/v1/users", json={"name": "eve", "password": "short"})
    assert short.status_code == 400 and short.json()["detail"] == "password: at least 8 characters"
    assert api.http.post("/api/v1/users", json={"name": "eve", "password": "x" * 8, "role": "root"}).status_code == 400
    assert [u["name"] for u in api.get("/api/v1/users")] == ["admin", "dana"]

    # A viewer reads, and is told which role it would take to change anything.
    dana = hub.api("dana", "dana-password")
    assert dana.get("/api/v1/sensors") == [] and dana.get("/api/v1/configuration")["version"] == 0
    for r in (
        dana.http.post("/api/v1/sensors", json={"name": "s"}),
        dana.http.put("/api/v1/configuration", json={}),
        dana.http.post("/api/v1/tags", json={"name": "t", "ranges": ["10.0.0.1"]}),
    ):
        assert r.status_code == 403 and r.json()["detail"] == (
            "user dana is a viewer: managing sensors and the configuration needs an operator (ask an administrator)"
        )
    for r in (
        dana.http.get("/api/v1/users"),
        dana.http.post("/api/v1/users", json={"name": "mallory", "password": "mallory-pw"}),
        dana.http.patch(f"/api/v1/users/{dana_id}", json={"role": "administrator"}),
    ):
        assert r.status_code == 403 and "managing users needs an administrator" in r.json()["detail"]

    # An operator manages sensors and the configuration, not users. A changed role ends
    # the user's sessions.
    assert api.http.patch(f"/api/v1/users/{dana_id}", json={"role": "operator"}).json()["role"] == "operator"
    assert dana.http.get("/api/v1/sensors").status_code == 401
    dana = hub.api("dana", "dana-password")
    sid, _ = dana.create_sensor("s1")
    assert dana.http.delete(f"/api/v1/sensors/{sid}").status_code == 200
    assert dana.http.put("/api/v1/configuration", json={}).status_code == 200
    assert dana.http.get("/api/v1/users").status_code == 403

    # Disabled: the session ends at once and logging in is refused with the reason.
    me = api.get("/api/v1/users")[0]["id"]
    for change in ({"disabled": True}, {"role": "viewer"}, {"password": "a-new-password"}):
        mine = api.http.patch(f"/api/v1/users/{me}", json=change)
        assert mine.status_code == 409 and "ask another admin" in mine.json()["detail"]
    off: dict[str, Any] = api.http.patch(f"/api/v1/users/{dana_id}", json={"disabled": True}).json()
    assert off["disabled"] is True
    assert dana.http.get("/api/v1/sensors").status_code == 401
    refused = httpx.post(f"{hub.url}/api/v1/login", json={"name": "dana", "password": "dana-password"})
    assert refused.status_code == 401 and refused.json()["detail"] == "user dana is disabled: ask an administrator"

    # Enabled again with a new password, and made an administrator (the older form too).
    api.http.patch(f"/api/v1/users/{dana_id}", json={"disabled": False, "password": "new-password", "admin": True})
    again = hub.api("dana", "new-password")
    assert len(again.get("/api/v1/users")) == 2
    assert api.http.patch("/api/v1/users/999", json={"role": "viewer"}).status_code == 404
