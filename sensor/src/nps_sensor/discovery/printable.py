"""Text from the wire made printable: the one cleaning every name and text fact goes through.

A name in a packet is whatever its sender chose to put there: an LLMNR answer named
`ev\\x00il\\x1b[2J` would put a NUL into the hub's database (PostgreSQL refuses it)
and clear the screen of whoever reads the report in a terminal. So every text value
a dissector records (`Packet.fact`) passes through `clean`, which keeps printable
text and says what it removed, so that the evidence shows that the device sent it:

* `NUL`; `control` (the other C0 characters and DEL: tabs and line breaks too, which
  no name holds); `C1` (U+0080..U+009F);
* `escape sequence`: a whole ECMA-48 sequence, not only its ESC (`\\x1b[2J` goes,
  not just `\\x1b`): CSI (ESC [ or U+009B, parameters, intermediates, final byte),
  the string commands OSC, DCS, SOS, PM and APC up to their terminator (BEL or ST)
  or the end, and the short ESC sequences;
* `invalid UTF-8`: bytes that are not UTF-8 (decoded by `decode` as lone surrogates,
  so that they can be found and named here) and U+FFFD, what another decoder left for
  bytes it could not read;
* `unprintable`: other characters Python does not print (format characters such as
  the bidirectional overrides that make a name read backwards, unassigned code
  points); a non-ASCII space becomes a plain space.

Printable text, the common case, is one C-level check (`str.isprintable`).
"""

from __future__ import annotations

import re

NUL, CONTROL, C1, ESCAPE, INVALID, UNPRINTABLE = (
    "NUL",
    "control",
    "C1",
    "escape sequence",
    "invalid UTF-8",
    "unprintable",
)
# ECMA-48: CSI with its parameters and final byte; the string commands up to BEL or
# ST (or the end of the text); any other ESC with its intermediates and final byte.
SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)


def decode(raw: bytes, limit: int = 256) -> str:
    """Bytes from the wire as text, bounded, without judging them: bytes that are not
    UTF-8 stay as lone surrogates for `clean` to find and name."""
    return raw[:limit].decode("utf-8", "surrogateescape").strip()


def _kind(ch: str) -> str | None:
    """What removing `ch` is called, or None to keep it (a space to normalise)."""
    o = ord(ch)
    if o == 0:
        return NUL
    if o < 0x20 or o == 0x7F:
        return CONTROL
    if 0x80 <= o <= 0x9F:
        return C1
    if 0xD800 <= o <= 0xDFFF or o == 0xFFFD:
        return INVALID
    return None if ch.isprintable() else UNPRINTABLE


def clean(s: str) -> tuple[str, tuple[str, ...]]:
    """`s` with only printable characters, and the kinds of what was removed (sorted,
    empty when nothing was). NULs at the end are a C string's terminator or padding
    (LLDP, SMB, NetBIOS fields), not a message: they go without a mark."""
    s = s.rstrip("\x00")
    if s.isprintable() and "\ufffd" not in s:
        return s, ()
    removed: set[str] = set()
    if "\x1b" in s or any(c in s for c in "\x90\x98\x9b\x9d\x9e\x9f"):
        s, n = SEQUENCE.subn("", s)
        if n:
            removed.add(ESCAPE)
    kept = []
    for ch in s:
        kind = _kind(ch)
        if kind is None:
            kept.append(ch)
            continue
        if ch.isspace():  # a tab or line break, a no-break space: a space
            kept.append(" ")
        if kind != UNPRINTABLE or not ch.isspace():
            removed.add(kind)
    return " ".join("".join(kept).split()), tuple(sorted(removed))
