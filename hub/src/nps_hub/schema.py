"""What the hub accepts, as schemas: every body a user or a sensor sends (API and web
forms alike) is checked here before anything is stored.

Text is bounded and never holds control characters (C0, DEL, C1): they would reach a
terminal or a page as escape sequences, and PostgreSQL refuses NUL outright, which
used to turn one bad name into a 500 and a sensor stuck retrying it. Numbers are
bounded to what every database stores. A refusal names the field (`assets[3].mac: not
a MAC address`) and never echoes what was sent: a body can be megabytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    model_validator,
)

PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"
MAC_PATTERN = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
NO_SPACE = r"^[^\x00-\x20\x7f-\x9f]+$"
TAG_NAME = r"^[^\x00-\x1f\x7f-\x9f,]+$"  # a tag's name: no comma either (the UI's separator)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BIG = 2**53  # identifiers: within what JSON numbers and every database keep exactly
COUNT_MAX = 2**62  # counters: within a signed 64-bit column, with room for sums


def _text(max_length: int, min_length: int = 0, pattern: str = PRINTABLE) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)


# Bounded texts without control characters, by their longest length.
Text16 = Annotated[str, _text(16)]
Text32 = Annotated[str, _text(32)]
Text40 = Annotated[str, _text(40)]
Text64 = Annotated[str, _text(64)]
Text128 = Annotated[str, _text(128)]
Text255 = Annotated[str, _text(255)]
Text256 = Annotated[str, _text(256)]
Text512 = Annotated[str, _text(512)]
Text2000 = Annotated[str, _text(2000)]
Text4096 = Annotated[str, _text(4096)]
Name = Annotated[str, _text(128, 1)]
UserName = Annotated[str, _text(64, 1, NO_SPACE)]
Password = Annotated[str, _text(1024, 8)]
Mac = Annotated[str, StringConstraints(max_length=17, pattern=MAC_PATTERN)]
Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]
Percent = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]


# --- free-form JSON ------------------------------------------------------------------------

FREE_DEPTH = 16
FREE_ITEMS = 4096
FREE_TEXT = 4096


class FreeError(ValueError):
    """A problem inside free-form JSON: where in it (`x.y[2]`), and what."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def _check_free(value: JsonValue, path: str = "", depth: int = 0) -> JsonValue:
    """The same rules inside free-form JSON (a sensor's status, a prediction's details):
    texts and keys without control characters and bounded, whole numbers within 64 bits,
    finite numbers, bounded breadth and depth. Raises ValueError naming the inner path."""
    if depth > FREE_DEPTH:
        raise FreeError(path, "nested too deeply")
    if isinstance(value, str):
        if len(value) > FREE_TEXT or CONTROL.search(value):
            raise FreeError(path, f"at most {FREE_TEXT} characters" if len(value) > FREE_TEXT else PATTERNS[PRINTABLE])
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise FreeError(path, "a number beyond 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FreeError(path, "must be a finite number")
    elif isinstance(value, list):
        if len(value) > FREE_ITEMS:
            raise FreeError(path, f"more than {FREE_ITEMS} items")
        for i, v in enumerate(value):
            _check_free(v, f"{path}[{i}]", depth + 1)
    elif isinstance(value, dict):
        if len(value) > FREE_ITEMS:
            raise FreeError(path, f"more than {FREE_ITEMS} keys")
        for k, v in value.items():
            if len(k) > 128 or CONTROL.search(k):
                raise FreeError(path, "a key too long" if len(k) > 128 else "a key with control characters")
            _check_free(v, f"{path}.{k}" if path else k, depth + 1)
    return value


def _check_free_object(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _check_free(value)
    return value


Free = Annotated[JsonValue, AfterValidator(_check_free)]
FreeObject = Annotated[dict[str, JsonValue], AfterValidator(_check_free_object)]


class Strict(BaseModel):
    """A body of the API: unknown fields are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """Part of a sensor's status: the fields the hub reads are typed, the rest kept as
    free-form JSON under the same rules (a newer sensor may say more)."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _free_extras(self) -> Open:
        _check_free(dict(self.__pydantic_extra__ or {}))
        return self


# --- users ----------------------------------------------------------------------------

Role = Literal["administrator", "operator", "viewer"]


class Login(Strict):
    name: Annotated[str, _text(64, 1)]
    password: Annotated[str, _text(1024, 1)]


class NewUser(Strict):
    name: UserName
    password: Password
    role: Role | None = Field(default=None, description="administrator, operator or viewer (default viewer)")
    admin: bool | None = Field(default=None, description="older form of role: true is administrator")

    def chosen_role(self) -> str:
        if self.role is not None:
            return self.role
        return "administrator" if self.admin else "viewer"


class UserChange(Strict):
    password: Password | None = None
    role: Role | None = None
    admin: bool | None = Field(default=None, description="older form of role: true is administrator, false operator")
    disabled: bool | None = Field(default=None, description="a disabled user cannot log in; their sessions end")

    def chosen_role(self) -> str | None:
        if self.role is not None:
            return self.role
        if self.admin is None:
            return None
        return "administrator" if self.admin else "operator"


# --- sensors and configuration ----------------------------------------------------------


class NewSensor(Strict):
    name: Name
    location: Text256 = ""
    network: Name = "Default"


class Action(Strict):
    action: Text64 = Field(description="start, pause, reboot, delete_assets or deregister")


class NewTag(Strict):
    name: Annotated[str, _text(128, 1, TAG_NAME)]
    ranges: list[Text128] = Field(min_length=1, max_length=10_000, description="addresses, CIDR blocks or ranges")


# --- what a sensor sends ------------------------------------------------------------------


class Facts(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer appliance may say more
    model: Text128 = ""
    version: Text64 = ""
    hostname: Text255 = ""
    mgmt_ipv4: Text64 = ""
    mgmt_ipv6: Text64 = ""
    mac: Text32 = ""


class Registration(Strict):
    code: Annotated[str, _text(64, 1)]
    facts: Facts = Field(default_factory=Facts)


class Ack(Strict):
    id: int = Field(ge=1, le=BIG)
    ok: bool = True
    result: Text2000 = ""


class Usage(Open):
    used_percent: Percent | None = None


class System(Open):
    cpu_percent: Percent | None = None
    memory: Usage | None = None
    disk: Usage | None = None


class Throughput(Open):
    utilisation_percent: Percent | None = None
    pps: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] | None = None
    mbps: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None


class Interface(Open):
    name: Text64 = ""
    driver: Text64 = ""
    driver_supported: bool | None = None
    dropped: Count | None = None
    link: Text64 = ""  # up, down, missing: down or missing raises Asset Reporting Stopped


class Quarantine(Open):
    reports: Count = 0
    bytes: Count = 0
    dropped: Count = 0
    last_reason: Text2000 = ""
    last_report: Text255 = ""


class Uplink(Open):
    quarantine: Quarantine = Field(default_factory=Quarantine)


class Status(Open):
    state: Text64 = ""
    assets_last_hour: Count | None = None
    reboot_required: bool | None = None
    throughput: Throughput | None = None
    system: System | None = None
    interfaces: list[Interface] = Field(default_factory=list, max_length=64)
    uplink: Uplink | None = None


class Heartbeat(Strict):
    status: Status = Field(default_factory=Status)
    config_version: int = Field(default=0, ge=0, le=2**31)
    acks: list[Ack] = Field(default_factory=list, max_length=200)


# --- refusals ------------------------------------------------------------------------------

MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a text",
    "string_unicode": "must be a text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "none_required": "must be null",
    "literal_error": "not one of the allowed values",
    "recursion_loop": "nested too deeply",
}
PATTERNS = {
    PRINTABLE: "control characters are not allowed",
    MAC_PATTERN: "not a MAC address (aa:bb:cc:dd:ee:ff)",
    NO_SPACE: "spaces and control characters are not allowed",
    TAG_NAME: "commas and control characters are not allowed",
}
# How pydantic names a union's members in an error's location: by their type (str,
# constrained-int, list[...], function-after[...], or a TypedDict's or model's class
# name). The schemas' own fields are all snake_case, so a capital marks a member.
_MEMBER = re.compile(r"^(constrained-)?(str|int|float|bool|none|list|dict)$|[\[\]]|^function-|^[A-Z]")
_PREFIXES = ("body", "query", "path", "header", "cookie")  # FastAPI's
_TYPE_ERRORS = {k for k in MESSAGES if k.endswith(("_type", "_parsing")) or k in ("none_required", "literal_error")}


def where(loc: Sequence[int | str]) -> str:
    """A location as a path: ('body', 'assets', 3, 'mac') -> assets[3].mac."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif not ((i == 0 and part in _PREFIXES) or _MEMBER.search(part)):
            out += ("." if out else "") + part
    return out or "body"


def explain(error: Any) -> str:
    """One error as a short reason that never quotes the input."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return PATTERNS.get(str(ctx.get("pattern")), "not in the expected form")
    if kind in ("string_too_long", "too_long"):
        return f"at most {ctx.get('max_length')} {'characters' if kind == 'string_too_long' else 'items'}"
    if kind in ("string_too_short", "too_short"):
        return f"at least {ctx.get('min_length')} {'characters' if kind == 'string_too_short' else 'items'}"
    if kind in ("less_than_equal", "less_than"):
        return f"at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"at least {ctx.get('ge', ctx.get('gt'))}"
    if kind == "json_invalid":
        reason = str(ctx.get("error", "")).split(" at line")[0]
        return "nested too deeply" if "recursion" in reason else f"not valid JSON ({reason or 'unreadable'})"
    if kind == "value_error":
        e = ctx.get("error")
        return e.reason if isinstance(e, FreeError) else str(e or "not accepted")
    return MESSAGES.get(kind, "not accepted")


def _place(error: Any) -> str:
    at = where(error.get("loc", ()))
    inner = (error.get("ctx") or {}).get("error")
    if isinstance(inner, FreeError) and inner.path:
        return inner.path if at == "body" else f"{at}{'' if inner.path.startswith('[') else '.'}{inner.path}"
    return at


def describe(errors: Sequence[Any]) -> str:
    """The most telling problem, named by its field, and how many more there are (one
    line). Of a union's failures, the one that is not about the type is the telling one:
    a text with an escape sequence fails as a number too."""
    if not errors:
        return "body: not accepted"
    first = next((e for e in errors if e.get("type") not in _TYPE_ERRORS), errors[0])
    line = f"{_place(first)}: {explain(first)}"
    places = {_place(e) for e in errors}
    # A union's other members fail on the type at the same place, or just above it.
    places -= {p for p in places if any(q != p and q.startswith((p + ".", p + "[")) for q in places)}
    return line + (f" (and {len(places) - 1} more)" if len(places) > 1 else "")


def refusal(exc: ValidationError) -> str:
    return describe(exc.errors(include_input=False, include_url=False))
