"""The hub's IP-range tags, its limits on guessing (logins, personalization codes) and its
users managed over the API: against `nps-hub serve` as its own process on loopback,
with clients on two loopback addresses (127.0.0.1 and 127.0.0.2) as two sources."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.hublab import ADMIN_PASSWORD, SENSOR_BIN, HubProcess
from nps_hub.ratelimit import Limited, Limiter
from nps_sensor import config

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
    assert http.post("/api/v1/tags", json={"name": "a,b", "ranges": ["10.0.0.1"]}).status_code == 422

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


def test_failed_logins_are_limited_per_address_and_per_user(hub: HubProcess) -> None:
    hub.api().post("/api/v1/users", {"name": "bob", "password": "bob-password"})
    one, two = client(hub, "127.0.0.1"), client(hub, "127.0.0.2")
    for _ in range(LIMIT):
        assert login(one, "bob", "wrong").status_code == 401
    refused = login(one, "bob", "wrong")
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert "\n" not in detail and "too many failed login attempts" in detail and "try again in" in detail
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    # Refused before the password is looked at: the right one does not get through either.
    assert login(one, "bob", "bob-password").status_code == 429
    # Another address: the user name alone has failed too often.
    by_name = login(two, "bob", "bob-password")
    assert by_name.status_code == 429 and "this user name" in by_name.json()["detail"]
    # Another user from another address is not held up; the first address is, whoever it names.
    assert login(two, "admin", ADMIN_PASSWORD).status_code == 200
    assert login(one, "admin", ADMIN_PASSWORD).status_code == 429

    # The web UI's login form counts against the same limits.
    form = two.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    page = two.post("/login", data={"csrf": csrf, "name": "bob", "password": "bob-password"})
    assert page.status_code == 429 and "too many failed login attempts" in page.text and page.headers["Retry-After"]


def test_a_right_password_clears_the_user_names_failures(hub: HubProcess) -> None:
    hub.api().post("/api/v1/users", {"name": "carol", "password": "carol-password"})
    c = client(hub, "127.0.0.2")
    for _ in range(LIMIT - 1):
        assert login(c, "carol", "wrong").status_code == 401
    assert login(c, "carol", "carol-password").status_code == 200
    # The address's failures stay (one more allowed), the name's are forgotten.
    assert login(c, "carol", "wrong").status_code == 401
    assert login(client(hub, "127.0.0.1"), "carol", "carol-password").status_code == 200
    assert login(c, "carol", "carol-password").status_code == 429


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
    out = subprocess.run(
        [str(SENSOR_BIN), "register", "--hub", hub.url, "--state", str(tmp_path / "hub.json"), "--proxy-file", "-"],
        input=code,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
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


def test_the_limiter_slides_its_window() -> None:
    t = [1000.0]
    lim = Limiter("login attempts", 2, 60, clock=lambda: t[0])
    keys = {"address": "192.0.2.1"}
    lim.failed(keys)
    t[0] += 30
    lim.failed(keys)
    with pytest.raises(Limited) as e:
        lim.check(keys)
    assert e.value.retry_after == 30
    lim.check({"address": "192.0.2.2"})  # another key is free
    t[0] += 30  # the first failure leaves the window
    lim.check(keys)
    lim.failed(keys)
    with pytest.raises(Limited) as e:
        lim.check(keys)
    assert e.value.retry_after == 30
    Limiter("x", 0, 60).check(keys)  # 0: no limit


# --- users ---------------------------------------------------------------------------


def test_admins_manage_users_over_the_api(hub: HubProcess) -> None:
    api = hub.api()
    made = api.http.post("/api/v1/users", json={"name": "dana", "password": "dana-password"})
    assert made.status_code == 201 and made.json()["admin"] is False and made.json()["disabled"] is False
    dana_id = made.json()["id"]
    assert api.http.post("/api/v1/users", json={"name": "dana", "password": "x" * 8}).status_code == 409
    assert api.http.post("/api/v1/users", json={"name": "eve", "password": "short"}).status_code == 422
    assert [u["name"] for u in api.get("/api/v1/users")] == ["admin", "dana"]

    dana = hub.api("dana", "dana-password")
    assert dana.get("/api/v1/sensors") == []
    # Not an admin: no user management.
    for r in (
        dana.http.get("/api/v1/users"),
        dana.http.post("/api/v1/users", json={"name": "mallory", "password": "mallory-pw"}),
        dana.http.patch(f"/api/v1/users/{dana_id}", json={"admin": True}),
    ):
        assert r.status_code == 403 and "not an administrator" in r.json()["detail"]

    # Disabled: the session ends at once and logging in is refused with the reason.
    me = api.get("/api/v1/users")[0]["id"]
    for change in ({"disabled": True}, {"admin": False}, {"password": "a-new-password"}):
        mine = api.http.patch(f"/api/v1/users/{me}", json=change)
        assert mine.status_code == 409 and "ask another admin" in mine.json()["detail"]
    off: dict[str, Any] = api.http.patch(f"/api/v1/users/{dana_id}", json={"disabled": True}).json()
    assert off["disabled"] is True
    assert dana.http.get("/api/v1/sensors").status_code == 401
    refused = httpx.post(f"{hub.url}/api/v1/login", json={"name": "dana", "password": "dana-password"})
    assert refused.status_code == 401 and refused.json()["detail"] == "user dana is disabled: ask an administrator"

    # Enabled again with a new password, and made an admin.
    api.http.patch(f"/api/v1/users/{dana_id}", json={"disabled": False, "password": "new-password", "admin": True})
    again = hub.api("dana", "new-password")
    assert len(again.get("/api/v1/users")) == 2
    assert api.http.patch("/api/v1/users/999", json={"admin": False}).status_code == 404
