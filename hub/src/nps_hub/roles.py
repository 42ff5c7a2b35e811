"""Who may do what, in the API and the web UI alike.

* viewer: reads everything but the users (sensors, inventory, traffic, events,
  configuration);
* operator: also manages sensors (create, personalization codes, quick actions,
  delete), the configuration and the IP-range tags;
* administrator: also manages users.
"""

from __future__ import annotations

from nps_hub.models import User

ADMINISTRATOR, OPERATOR, VIEWER = "administrator", "operator", "viewer"
ROLES = (ADMINISTRATOR, OPERATOR, VIEWER)
RANK = {VIEWER: 0, OPERATOR: 1, ADMINISTRATOR: 2}
WHAT = {OPERATOR: "managing sensors and the configuration", ADMINISTRATOR: "managing users"}


class Forbidden(Exception):
    """The user's role does not allow this; the message says which role does."""


def may(user: User, needed: str) -> bool:
    return RANK.get(user.role, -1) >= RANK[needed]


def require(user: User, needed: str) -> None:
    if not may(user, needed):
        article = "an" if needed[0] in "aeiou" else "a"
        raise Forbidden(
            f"user {user.name} is {'an' if user.role[:1] in 'aeiou' else 'a'} {user.role}: "
            f"{WHAT.get(needed, 'this')} needs {article} {needed} (ask an administrator)"
        )
