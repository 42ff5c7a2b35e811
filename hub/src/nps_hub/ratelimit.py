"""Limits on guessing passwords and personalization codes that cannot be turned into a
way to keep people out.

Failed attempts are counted in a sliding window (`limit_window`, 300 s) in the
database, so every hub process counts the same and a restart forgets nothing. Keys
are keyed digests (a user name someone typed may be their password).

Logins (the API's and the web form's alike):

* per account *and* source address: past `login_limit` (10) failures, that address is
  refused for that account (HTTP 429, Retry-After) until its failures leave the window;
* per source address, whatever the account: past 3 x `login_limit`, the address is
  refused (one address trying many accounts). IPv6 addresses count per /64;
* per account, from every address together: past `login_limit` failures the account is
  *slowed down*, never locked: from an address that has not logged into it before, one
  attempt per 2^(failures - limit) seconds (at most one a minute) goes through and the
  others are answered 429 with the time to wait. From an address it has logged in from
  (in the last 30 days), it is not slowed at all, so a guesser elsewhere cannot keep
  the owner out. A right password forgets the account's failures.

Registrations: past `code_limit` (10) failures per source address or per code, refused
(429) until the window slides; a right code still registers from another address.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from collections.abc import Callable

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from nps_hub import security
from nps_hub.models import Attempt, LoginSource, now

KNOWN_FOR = dt.timedelta(days=30)
MAX_SLOWDOWN = 60.0  # seconds between attempts on a slowed account from a new address
ADDRESS_FACTOR = 3


class Limited(Exception):
    """Refused for now; `retry_after` is in whole seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def address_key(address: str) -> str:
    """An IPv6 client counts by its /64 (one host usually has the whole prefix)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Guard:
    def __init__(
        self,
        keyed: security.Keyed,
        login_limit: int,
        code_limit: int,
        window: float,
        clock: Callable[[], dt.datetime] = now,
    ) -> None:
        self.keyed = keyed
        self.login_limit = login_limit
        self.code_limit = code_limit
        self.window = window
        self.clock = clock

    def _key(self, kind: str, value: str) -> str:
        return self.keyed.digest(f"attempt {kind}", value)

    def _recent(self, db: Session, keys: dict[str, str]) -> dict[str, tuple[int, dt.datetime, dt.datetime]]:
        """kind -> (failures in the window, oldest, newest) for each (kind, key)."""
        since = self.clock() - dt.timedelta(seconds=self.window)
        rows = db.execute(
            select(Attempt.kind, func.count(), func.min(Attempt.at), func.max(Attempt.at))
            .where(tuple_(Attempt.kind, Attempt.key).in_(list(keys.items())), Attempt.at > since)
            .group_by(Attempt.kind)
        )
        return {kind: (n, _aware(first), _aware(last)) for kind, n, first, last in rows}

    def _wait(self, oldest: dt.datetime) -> int:
        return max(1, math.ceil((oldest - self.clock()).total_seconds() + self.window))

    # --- logins ------------------------------------------------------------------------

    def login_keys(self, name: str, address: str) -> dict[str, str]:
        where = address_key(address)
        return {
            "login pair": self._key("pair", f"{name}\0{where}"),
            "login address": self._key("address", where),
            "login account": self._key("account", name),
        }

    def check_login(self, db: Session, name: str, address: str, user_id: int | None) -> None:
        """Raise Limited when this attempt may not be tried now."""
        if self.login_limit <= 0:
            return
        recent = self._recent(db, self.login_keys(name, address))
        n, oldest, _ = recent.get("login pair", (0, self.clock(), self.clock()))
        if n >= self.login_limit:
            raise Limited(self._why("this user name from this address", n, self._wait(oldest)), self._wait(oldest))
        n, oldest, _ = recent.get("login address", (0, self.clock(), self.clock()))
        if n >= ADDRESS_FACTOR * self.login_limit:
            raise Limited(self._why("this address", n, self._wait(oldest)), self._wait(oldest))
        n, _, newest = recent.get("login account", (0, self.clock(), self.clock()))
        if n >= self.login_limit and not self.known(db, user_id, address):
            pause = min(MAX_SLOWDOWN, 2.0 ** (n - self.login_limit))
            early = (newest + dt.timedelta(seconds=pause) - self.clock()).total_seconds()
            if early > 0:
                wait = math.ceil(early)
                raise Limited(
                    f"this user name failed {n} times lately: from a new address, one attempt every "
                    f"{pause:.0f} s; try again in {wait} s",
                    wait,
                )

    def _why(self, what: str, n: int, wait: int) -> str:
        return f"too many failed login attempts for {what} ({n} in {self.window:g} s): try again in {wait} s"

    def known(self, db: Session, user_id: int | None, address: str) -> bool:
        if user_id is None:
            return False
        row = db.get(LoginSource, (user_id, self._key("source", address_key(address))))
        return row is not None and _aware(row.last) > self.clock() - KNOWN_FOR

    def login_failed(self, db: Session, name: str, address: str) -> None:
        if self.login_limit > 0:
            self._add(db, self.login_keys(name, address))

    def login_succeeded(self, db: Session, user_id: int, name: str, address: str) -> None:
        """Forget the account's failures (the address's stay); remember the address."""
        keys = self.login_keys(name, address)
        for kind in ("login pair", "login account"):
            db.execute(delete(Attempt).where(Attempt.kind == kind, Attempt.key == keys[kind]))
        source = self._key("source", address_key(address))
        row = db.get(LoginSource, (user_id, source))
        if row is None:
            db.add(LoginSource(user_id=user_id, address=source, last=self.clock()))
        else:
            row.last = self.clock()
        db.commit()

    # --- registrations -------------------------------------------------------------------

    def code_keys(self, code: str, address: str) -> dict[str, str]:
        return {
            "code address": self._key("code address", address_key(address)),
            "code": self._key("code", security.normalise_code(code)),
        }

    def check_code(self, db: Session, code: str, address: str) -> None:
        if self.code_limit <= 0:
            return
        for kind, (n, oldest, _) in self._recent(db, self.code_keys(code, address)).items():
            if n >= self.code_limit:
                what = "this address" if kind == "code address" else "this code"
                wait = self._wait(oldest)
                raise Limited(
                    f"too many failed registration attempts for {what} ({n} in {self.window:g} s): "
                    f"try again in {wait} s",
                    wait,
                )

    def code_failed(self, db: Session, code: str, address: str) -> None:
        if self.code_limit > 0:
            self._add(db, self.code_keys(code, address))

    # --- upkeep --------------------------------------------------------------------------

    def _add(self, db: Session, keys: dict[str, str]) -> None:
        t = self.clock()
        db.add_all(Attempt(kind=kind, key=key, at=t) for kind, key in keys.items())
        db.commit()

    def sweep(self, db: Session) -> int:
        """Forget failures that left the window, and addresses not used for 30 days."""
        t = self.clock()
        gone = db.execute(delete(Attempt).where(Attempt.at <= t - dt.timedelta(seconds=self.window)))
        db.execute(delete(LoginSource).where(LoginSource.last <= t - KNOWN_FOR))
        db.commit()
        return int(getattr(gone, "rowcount", 0) or 0)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)
