"""Replace characters that have no GSM 7-bit code with faithful GSM 7-bit stand-ins.

One curly apostrophe pasted from a word processor switches a whole message to UCS-2, which carries 70
characters per SMS instead of 160: an alert that fitted one SMS becomes three. Typography (quotes, dashes,
special spaces, ellipsis) and accents the GSM alphabet lacks can be replaced without losing anything a reader
needs. Characters with no such stand-in (other scripts, emoji) are left alone: the caller then keeps UCS-2
for the whole original text.

Rules, applied per character that is not already GSM 7-bit:
1. the explicit table below (quotes, dashes, spaces, symbols);
2. otherwise Unicode compatibility decomposition (NFKD) with combining marks removed, used only when every
   resulting character is GSM 7-bit ("á" → "a", "ł" stays, "ﬁ" → "fi", "²" → "2");
3. otherwise the character is left unchanged.
A degree sign before C, F or K is dropped ("40°C" → "40C"); elsewhere it becomes "deg".
"""

from __future__ import annotations

import unicodedata

from alertcast.core.sms import gsm7_septets

_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"

STAND_INS: dict[str, str] = {
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys(_INVISIBLE, ""),
    **dict.fromkeys("‘’‚‛′`´ʼ‹›", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−⁃•·", "-"),
    "…": "...",
    "⁄": "/",
    "×": "x",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "œ": "oe",
    "Œ": "OE",
    "ı": "i",
    "\u2028": "\n",
    "\u2029": "\n",
    "\u0085": "\n",
}
"""Stand-ins for characters that decomposition does not handle or handles badly for SMS."""

_DEGREE = "°"


def _is_gsm7_char(char: str) -> bool:
    return gsm7_septets(char) is not None


def _decomposed(char: str) -> str | None:
    decomposed = unicodedata.normalize("NFKD", char)
    stripped = "".join(part for part in decomposed if not unicodedata.combining(part))
    converted = "".join(STAND_INS.get(part, part) for part in stripped)
    if converted and all(_is_gsm7_char(part) for part in converted):
        return converted
    return None


def transliterate_to_gsm7(text: str) -> str:
    """``text`` with every character that has a faithful GSM 7-bit stand-in replaced; others unchanged."""
    out: list[str] = []
    for index, char in enumerate(text):
        if _is_gsm7_char(char):
            out.append(char)
        elif char == _DEGREE:
            following = text[index + 1 : index + 2]
            out.append("" if following in ("C", "F", "K") else "deg")
        elif char in STAND_INS:
            out.append(STAND_INS[char])
        else:
            out.append(_decomposed(char) or char)
    return "".join(out)
