"""Text from the data (class, folder and file names, feature values, a server's
message), made safe to print on a terminal.

Names come from other people: a folder name can hold ANSI escape sequences that
recolour, retitle or rewrite the terminal, a carriage return that overwrites a
line, or a bidirectional override that reverses what follows. Each such
character is shown as a visible escape instead (repr's notation: \\x1b,
\\r, \\u202e); newlines and tabs between lines stay, everything else (accents,
CJK) is printed as it is.
"""

from __future__ import annotations

import unicodedata

_KEPT = {"\n", "\t"}
# Control (Cc), format (Cf: bidi overrides, zero-width), line/paragraph
# separators, surrogates and unassigned code points.
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"}


def _visible(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return {"\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v"}.get(ch, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_safe(text) -> str:
    """`text` with every character that could steer a terminal shown as an escape."""
    text = str(text)
    if text.isprintable():  # the common case, fast
        return text
    return "".join(
        ch if ch in _KEPT or unicodedata.category(ch) not in _ESCAPED_CATEGORIES else _visible(ch)
        for ch in text
    )
