"""Reading a person's reply: an acknowledgement (with or without a code), an opt-out, a call for help, a
"no", or something the operator has to read.

People answer on whatever keypad they hold: ``ACK``, ``ack 7f3k``, ``Ack-7F3K``, ``1``, ``Sí``, ``是``,
``OK thanks``. The parser is lenient about form (case, accents, punctuation, a code glued to the word) and
strict about meaning: a reply counts as an acknowledgement only when it *starts* with an affirmative word
(after greetings and similar filler) or is just the code, and carries no negation and no question. A wrong
"acknowledged" hides someone who needs help; a missed one only leaves a reply for the operator to read.

Sender numbers are normalised here too (:func:`sender_forms`): SMSCs and modems hand over MO senders without
``+``, with ``00``, or in national format.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from alertcast.core.ack_codes import DEFAULT_CODE_RULES, CodeRules
from alertcast.core.reply_words import CATEGORIES, DEFAULT_REPLY_WORDS, ReplyWords


class ReplyIntent(enum.StrEnum):
    ACK = "ack"
    """Acknowledges (optionally naming a code)."""
    NEGATIVE = "negative"
    """A "no", or an affirmative word negated (``NOT OK``, ``no estoy bien``): never an acknowledgement."""
    OPT_OUT = "opt_out"
    """Asks to stop receiving messages (``STOP``, ``UNSUBSCRIBE``, ``BAJA``)."""
    HELP = "help"
    """Asks for help (``HELP``, ``SOS``, ``AYUDA``) without acknowledging."""
    UNKNOWN = "unknown"
    """Anything else: kept for the operator to read."""


@dataclass(frozen=True, slots=True)
class ParsedReply:
    intent: ReplyIntent
    codes: tuple[str, ...] = ()
    """Codes found, canonical (upper case, look-alikes folded), in the order written."""
    word: str | None = None
    """The folded word or phrase that decided the intent (``"ack"``, ``"si"``, ``"stop"``)."""
    language: str | None = None
    """The language of that word (``"*"`` for the universal ones)."""
    help_requested: bool = False
    """A call for help appears somewhere, even in an acknowledgement (``OK but need help``)."""
    extra_text: bool = False
    """The reply says more than the acknowledgement and code: the operator should read it."""

    @property
    def is_ack(self) -> bool:
        return self.intent is ReplyIntent.ACK


_QUESTION = frozenset("?¿؟？")
_SEPARATORS = re.compile(r"['’‘`´ʼ]")
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def _light(text: str) -> str:
    """Case and apostrophes folded, accents kept: how a word was written (``sí`` is not ``si`` here)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in text if c not in "\ufe0e\ufe0f\u0640" and ord(c) not in _SKIN_TONES)
    return _SEPARATORS.sub("", text)


def fold(text: str) -> str:
    """Case, accents, Arabic marks and apostrophes folded away: what both replies and word lists are
    compared in. ``Đã nhận`` → ``da nhan``, ``D'ACCORD`` → ``daccord``, ``أجل`` → ``اجل``."""
    text = _light(text).replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", text)


def _stands_alone(ch: str) -> bool:
    """Characters that are words by themselves: ideographs (no spaces in Chinese) and symbols (emoji)."""
    if unicodedata.category(ch) == "So":
        return True
    return "CJK" in unicodedata.name(ch, "") or "\u3040" <= ch <= "\u30ff"


def tokens(text: str) -> list[str]:
    out: list[str] = []
    word: list[str] = []
    for ch in text:
        if ch.isalnum() and not _stands_alone(ch):
            word.append(ch)
            continue
        if word:
            out.append("".join(word))
            word = []
        if _stands_alone(ch):
            out.append(ch)
    if word:
        out.append("".join(word))
    return out


Phrase = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    phrase: Phrase
    """Folded tokens, what matching compares."""
    written: Phrase
    """Tokens as written in the table (accents kept), for words of another language than the contact's."""
    language: str


@dataclass(frozen=True)
class _Typed:
    """A reply's tokens, folded, and as written (None when the two do not line up)."""

    folded: list[str]
    written: list[str] | None


@dataclass(frozen=True)
class _Lexicon:
    """Every phrase of every category, tokenised, by category → first folded token → entries."""

    entries: dict[str, dict[str, list[_Entry]]]
    glue_words: tuple[str, ...]
    """One-word ASCII acknowledgements a code may be glued to, longest first."""

    def longest(self, category: str, typed: _Typed, at: int, allowed: frozenset[str] | None) -> _Entry | None:
        best: _Entry | None = None
        for entry in self.entries[category].get(typed.folded[at], ()):
            if typed.folded[at : at + len(entry.phrase)] != list(entry.phrase):
                continue
            if not _language_allowed(entry, typed, at, allowed):
                continue
            if best is None or len(entry.phrase) > len(best.phrase):
                best = entry
        return best


def _language_allowed(entry: _Entry, typed: _Typed, at: int, allowed: frozenset[str] | None) -> bool:
    """Universal and English words always count, and every word of the contact's own language. A short
    word of another language counts only written as in its table, accents included: ``SÍ`` from anyone,
    but ``u`` is not the Vietnamese ``ừ`` for an English speaker, to whom it means "you"."""
    if allowed is None or entry.language in allowed or len("".join(entry.phrase)) >= 3:
        return True
    if typed.written is None:
        return True
    return typed.written[at : at + len(entry.written)] == list(entry.written)


@lru_cache(maxsize=8)
def _lexicon(words: ReplyWords) -> _Lexicon:
    entries: dict[str, dict[str, list[_Entry]]] = {}
    for category in CATEGORIES:
        table: dict[str, list[_Entry]] = {}
        for language, phrases in getattr(words, category).items():
            for phrase in phrases:
                folded = tuple(tokens(fold(phrase)))
                if folded:
                    table.setdefault(folded[0], []).append(
                        _Entry(folded, tuple(tokens(_light(phrase))), language)
                    )
        entries[category] = table
    glue = {e.phrase[0] for first in entries["affirmative"].values() for e in first if len(e.phrase) == 1}
    glue_words = tuple(
        sorted((w for w in glue if w.isascii() and w.isalpha() and len(w) >= 2), key=len, reverse=True)
    )
    return _Lexicon(entries, glue_words)


def _allowed(language: str | None) -> frozenset[str] | None:
    if not language:
        return None
    return frozenset({"*", "en", language.split("-", 1)[0].lower()})


def _unglue(toks: list[str], lexicon: _Lexicon, rules: CodeRules) -> list[str]:
    """``ack7f3k`` → ``ack``, ``7f3k``: a code typed straight after a one-word acknowledgement."""
    out: list[str] = []
    for tok in toks:
        for word in lexicon.glue_words:
            rest = tok[len(word) :]
            if tok.startswith(word) and rest and rules.looks_like_code(rest):
                out += [word, rest]
                break
        else:
            out.append(tok)
    return out


def _typed(text: str, lexicon: _Lexicon, rules: CodeRules) -> _Typed:
    folded = _unglue(tokens(fold(text)), lexicon, rules)
    written = _unglue(tokens(_light(text)), lexicon, rules)
    return _Typed(folded, written if len(written) == len(folded) else None)


@dataclass
class _Item:
    kind: str
    """affirmative, negation, help, filler, code or other."""
    text: str
    language: str | None = None


def _items(typed: _Typed, lexicon: _Lexicon, rules: CodeRules, allowed: frozenset[str] | None) -> list[_Item]:
    items: list[_Item] = []
    toks = typed.folded
    at = 0
    while at < len(toks):
        found: tuple[str, _Entry] | None = None
        for category in ("affirmative", "negation", "help", "filler"):
            match = lexicon.longest(category, typed, at, allowed)
            if match and (found is None or len(match.phrase) > len(found[1].phrase)):
                found = (category, match)
        if found is not None:
            category, entry = found
            items.append(_Item(category, " ".join(entry.phrase), entry.language))
            at += len(entry.phrase)
            continue
        kind = "code" if rules.looks_like_code(toks[at]) else "other"
        items.append(_Item(kind, toks[at]))
        at += 1
    return items


def _accept_codes(items: list[_Item]) -> None:
    """Keep a code-shaped token as a code only with context: it has a digit, or the reply is nothing but
    codes, acknowledgements and filler (``ACK HKMP``, ``HKMP``). ``ok what now`` has no code ``WHAT``."""
    plain = all(i.kind in ("code", "filler", "affirmative") for i in items)
    for item in items:
        if item.kind == "code" and not (plain or any(c.isdigit() for c in item.text)):
            item.kind = "other"


def parse_reply(
    text: str,
    *,
    language: str | None = None,
    words: ReplyWords = DEFAULT_REPLY_WORDS,
    codes: CodeRules = DEFAULT_CODE_RULES,
) -> ParsedReply:
    """What a reply means. ``language`` is the contact's language tag when known (see
    :func:`_language_allowed` for how it narrows short words of other languages)."""
    lexicon = _lexicon(words)
    allowed = _allowed(language)
    typed = _typed(text, lexicon, codes)
    if not typed.folded:
        return ParsedReply(ReplyIntent.UNKNOWN)
    opt_out = lexicon.longest("opt_out", typed, 0, allowed)
    if opt_out is not None:
        extra = len(typed.folded) > len(opt_out.phrase)
        word = " ".join(opt_out.phrase)
        return ParsedReply(ReplyIntent.OPT_OUT, word=word, language=opt_out.language, extra_text=extra)
    items = _items(typed, lexicon, codes, allowed)
    _accept_codes(items)
    found_codes = tuple(dict.fromkeys(codes.canonical(i.text) for i in items if i.kind == "code"))
    helped = any(i.kind == "help" for i in items)
    negation = next((i for i in items if i.kind == "negation"), None)
    affirmative = next((i for i in items if i.kind == "affirmative"), None)
    lead = next((i for i in items if i.kind not in ("filler", "code")), None)
    question = any(c in _QUESTION for c in text)
    extra = any(i.kind == "other" for i in items) or question
    common = {"codes": found_codes, "help_requested": helped, "extra_text": extra}
    if negation is not None:
        return ParsedReply(ReplyIntent.NEGATIVE, word=negation.text, language=negation.language, **common)
    acknowledges = (lead is None and bool(found_codes)) or (lead is not None and lead.kind == "affirmative")
    if acknowledges and not question:
        word = affirmative.text if affirmative else None
        return ParsedReply(
            ReplyIntent.ACK, word=word, language=affirmative.language if affirmative else None, **common
        )
    if helped:
        first_help = next(i for i in items if i.kind == "help")
        return ParsedReply(ReplyIntent.HELP, word=first_help.text, language=first_help.language, **common)
    return ParsedReply(ReplyIntent.UNKNOWN, **common)


def sender_forms(sender: str, region: str) -> tuple[str, ...]:
    """The ways ``sender`` may be written in the store, most likely first.

    E-mail addresses: lower-cased. Phone numbers: E.164 as contacts are stored, read every way an SMSC or
    modem may send them (``+4915…``, ``004915…``, ``4915…`` without ``+``, national ``015…`` in the
    default region). Only valid numbers are offered, so a short code or alphanumeric sender stays as given.
    """
    raw = sender.strip()
    if "@" in raw and "://" not in raw:
        return (raw.lower(),)
    digits = re.sub(r"[\s().\-/]", "", raw)
    attempts: list[tuple[str, str | None]] = []
    if digits.startswith("+"):
        attempts.append((digits, None))
    else:
        if digits.startswith("00"):
            attempts.append(("+" + digits[2:], None))
        attempts.append((digits, region))
        if digits.isdigit():
            attempts.append(("+" + digits, None))
    forms: list[str] = []
    for text, default_region in attempts:
        try:
            number = phonenumbers.parse(text, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            forms.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return tuple(dict.fromkeys([*forms, raw]))


def describe(reply: ParsedReply, codes: Iterable[str] = ()) -> str:
    """A short text for operators: ``acknowledgement (code 7F3K)``, ``opt-out request (stop)``."""
    label = {
        ReplyIntent.ACK: "acknowledgement",
        ReplyIntent.NEGATIVE: "negative reply",
        ReplyIntent.OPT_OUT: "opt-out request",
        ReplyIntent.HELP: "help request",
        ReplyIntent.UNKNOWN: "not an acknowledgement",
    }[reply.intent]
    details = [f"code {c}" for c in (tuple(codes) or reply.codes)]
    if reply.word and reply.intent is not ReplyIntent.ACK:
        details.append(repr(reply.word))
    if reply.help_requested and reply.intent is not ReplyIntent.HELP:
        details.append("asks for help")
    return f"{label} ({', '.join(details)})" if details else label
