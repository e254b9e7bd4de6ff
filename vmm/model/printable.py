"""Text that can go to a terminal, a menu or a notification without steering it. Pure.

libvirt lets a VM be named with control characters (U+009B, CSI on some terminals) or bidi
formatting characters (U+202E turns the rest of a line around): shown raw, a name could move
the cursor, rewrite what came before it or disguise itself as another. Every output that is
not --json passes through `printable`, which writes such characters as escapes (`\\u202e`).
On a terminal only the colour codes vmm itself puts around text pass (bold, dim, the colours
it uses, reset): never one that could hide the rest of a line (conceal, black, reverse).
"""

from __future__ import annotations

import re

# Cc but line feed and tab; Cf (format: bidi controls, zero-width characters, tags); the line
# and paragraph separators; lone surrogates.
_CONTROLS = (
    "[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    "\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001-\U000e007f]"
)
_UNSAFE = re.compile(f"\x1b|{_CONTROLS}")
_UNSAFE_BUT_VMMS_COLOURS = re.compile(f"\x1b(?!\\[(?:[0-2]|3[1-6]|1;36)m)|{_CONTROLS}")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, *, colours: bool = True) -> str:
    """`text` with every character that could steer a terminal written as an escape; with
    `colours`, vmm's own colour codes pass (for a terminal; a menu or a notification would
    show them as they are)."""
    unsafe = _UNSAFE_BUT_VMMS_COLOURS if colours else _UNSAFE
    return unsafe.sub(_escape, text)
