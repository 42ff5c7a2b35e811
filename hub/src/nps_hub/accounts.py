"""Users and their logins, for the API, the web UI and `nps-hub user` alike (one set of
rules: a name is 1 to 64 printable characters without spaces, a password at least 8)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nps_hub import ratelimit, roles, security
from nps_hub.db import iso
from nps_hub.models import User, UserSession, now
from nps_hub.schema import CONTROL


class Taken(LookupError):
    """The name is someone else's."""


def check_name(name: str) -> None:
    if not name or len(name) > 64 or any(c.isspace() for c in name) or CONTROL.search(name):
        raise ValueError("name: a user name is 1 to 64 characters without spaces or control characters")


def check_password(password: str) -> None:
    if len(password) < 8 or len(password) > 1024:
        raise ValueError("password: at least 8 characters (and at most 1,024)")
    if CONTROL.search(password):
        raise ValueError("password: control characters are not allowed")


def add_user(db: Session, name: str, password: str, role: str) -> User:
    """Raise ValueError (name, password or role unfit) or Taken."""
    check_name(name)
    check_password(password)
    if role not in roles.ROLES:
        raise ValueError(f"role: one of {', '.join(roles.ROLES)}")
    if db.scalar(select(User).where(User.name == name)) is not None:
        raise Taken(f"a user named {name!r} exists already: choose another name")
    user = User(name=name, password_hash=security.hash_password(password), role=role)
    db.add(user)
    db.commit()
    return user


def set_password(db: Session, name: str, password: str, role: str | None = None) -> User:
    """`nps-hub user`: a new user, or a new password (and role) for an existing one."""
    check_name(name)
    check_password(password)
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        return add_user(db, name, password, role or roles.VIEWER)
    user.password_hash = security.hash_password(password)
    if role is not None:
        user.role = role
    end_sessions(db, user)
    db.commit()
    return user


def change_user(
    db: Session, actor: User, user: User, password: str | None, role: str | None, disabled: bool | None
) -> None:
    """Raise LookupError when the actor changes their own account (so that a stolen session
    cannot lock its owner out)."""
    if user.id == actor.id:
        raise LookupError("you cannot change your own account here: ask another admin, or use nps-hub user")
    if password is not None:
        check_password(password)
        user.password_hash = security.hash_password(password)
    if role is not None:
        user.role = role
    if disabled is not None:
        user.disabled = disabled
    if disabled or password is not None or role is not None:  # their sessions end
        end_sessions(db, user)
    db.commit()


def end_sessions(db: Session, user: User) -> None:
    db.execute(delete(UserSession).where(UserSession.user_id == user.id))


def user_dict(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role,
        "admin": u.admin,
        "disabled": u.disabled,
        "created": iso(u.created),
    }


def try_login(db: Session, guard: ratelimit.Guard, name: str, password: str, address: str) -> User:
    """The user, when the name and password are right and the user is not disabled;
    ratelimit.Limited when guessing is being held back; otherwise PermissionError."""
    user = db.scalar(select(User).where(User.name == name))
    guard.check_login(db, name, address, user.id if user else None)
    ok = security.check_password(user.password_hash if user else security.DUMMY_HASH, password)
    if user is None or not ok:
        guard.login_failed(db, name, address)
        raise PermissionError("wrong user name or password")
    if user.disabled:
        raise PermissionError(f"user {name} is disabled: ask an administrator")
    guard.login_succeeded(db, user.id, name, address)
    return user


def open_session(db: Session, keyed: security.Keyed, user: User, ttl: float) -> tuple[str, str, dt.datetime]:
    """A new login session: (token, CSRF token, expiry); only the token's digest is kept."""
    token, csrf = security.new_session_token(), secrets.token_urlsafe(32)
    expires = now() + dt.timedelta(seconds=ttl)
    db.execute(delete(UserSession).where(UserSession.expires < now()))
    db.add(UserSession(token_hash=keyed.digest("session", token), csrf=csrf, user_id=user.id, expires=expires))
    db.commit()
    return token, csrf, expires
