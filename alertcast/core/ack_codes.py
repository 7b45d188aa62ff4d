"""Acknowledgement codes as people type them back, and the ack link line of a long-form message.

A broadcast's code (``Reply ACK 7F3K``) is read off a phone screen and typed on another keypad, so
comparison is forgiving in the ways people actually slip: case, and the look-alike pairs 0/O and 1/I/L.
Look-alikes are folded only when the code alphabet cannot tell them apart anyway (it holds at most one of
the group): folding ``O`` into ``0`` for an alphabet that has both would make two codes equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: the alphabet compose draws broadcast codes from (kept equal by a test)."""

CONFUSABLE_GROUPS: tuple[str, ...] = ("0O", "1IL")
"""Characters people confuse when copying a code; the first of each group is the canonical spelling."""

_ALNUM = re.compile(r"^[0-9A-Z]+$")


def _folding(alphabet: str) -> dict[str, str]:
    """Map each look-alike to the one member of its group the alphabet uses (or the group's first)."""
    folds: dict[str, str] = {}
    for group in CONFUSABLE_GROUPS:
        present = [c for c in group if c in alphabet]
        if len(present) > 1:
            continue
        target = present[0] if present else group[0]
        folds.update({c: target for c in group if c != target})
    return folds


@dataclass(frozen=True)
class CodeRules:
    """What a typed code may look like, and how it is compared."""

    alphabet: str = DEFAULT_ALPHABET
    lengths: frozenset[int] = frozenset({4})
    """Lengths a code may have: compose draws 4 characters. Every extra length lets more words pass for codes."""
    _folds: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        alphabet = self.alphabet.upper()
        if not alphabet or not _ALNUM.match(alphabet):
            raise ValueError(f"code alphabet {self.alphabet!r}: expected letters and digits only")
        if not self.lengths or min(self.lengths) < 3:
            raise ValueError("code lengths: expected lengths of at least 3 characters")
        object.__setattr__(self, "alphabet", alphabet)
        object.__setattr__(self, "_folds", _folding(alphabet))

    def canonical(self, typed: str) -> str:
        """The code as stored: upper case, look-alikes folded. ``7f3k`` and ``7F3K`` give the same."""
        return "".join(self._folds.get(c, c) for c in typed.strip().upper())

    def looks_like_code(self, token: str) -> bool:
        """Whether a reply token could be a code: the right length and, once folded, only alphabet
        characters. Most words fail (any O, I or L, wrong length), which keeps chatter from reading as a
        code; the reply parser adds its own context rules on top."""
        if len(token) not in self.lengths or not token.isascii() or not token.isalnum():
            return False
        return all(c in self.alphabet for c in self.canonical(token))


DEFAULT_CODE_RULES = CodeRules()

LINK_LABELS: Mapping[str, str] = {
    "en": "Please confirm you received this message: {url}",
    "es": "Confirme que recibió este mensaje: {url}",
    "fr": "Merci de confirmer la réception de ce message : {url}",
    "de": "Bitte bestätigen Sie den Empfang dieser Nachricht: {url}",
    "vi": "Vui lòng xác nhận bạn đã nhận được tin nhắn này: {url}",
    "zh": "请确认您已收到此消息：{url}",
    "ar": "يرجى تأكيد استلام هذه الرسالة: {url}",
}
"""The line that carries an ack link in a long-form message, per primary language."""


def ack_link_url(base_url: str, token: str) -> str:
    """The confirmation page of one delivery: ``<base_url>/a/<token>``."""
    base = base_url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError(f"ack link base URL {base_url!r}: expected an http:// or https:// address")
    return f"{base}/a/{token}"


def with_ack_link(body: str, url: str, language: str = "en", labels: Mapping[str, str] = LINK_LABELS) -> str:
    """``body`` with the ack link line appended (or put where the body says ``{ack_link}``).

    The line is in the recipient's language when there is a label for it, else English.
    """
    primary = language.split("-", 1)[0].lower()
    line = labels.get(primary, labels.get("en", "{url}")).replace("{url}", url)
    if "{ack_link}" in body:
        return body.replace("{ack_link}", line)
    return f"{body.rstrip()}\n\n{line}" if body.strip() else line
