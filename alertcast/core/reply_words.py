"""The words people answer an alert with, per language, and how the configuration extends them.

Four lists per language tag: words that acknowledge, words that negate (``NOT OK`` must never count as an
acknowledgement), opt-out keywords (``STOP``), and calls for help. The ``"*"`` entry is understood whatever
the contact's language (``ACK``, ``OK``, ``1``). Entries are written naturally, accents and all; the parser
folds case, accents and apostrophes on both sides, so ``SÍ``, ``si`` and ``Sí`` are one word.

Phrases in languages written without spaces (Chinese) are matched character by character, so ``好的``
acknowledges while ``不好`` carries a negation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WordTable = Mapping[str, tuple[str, ...]]

AFFIRMATIVE: WordTable = {
    "*": ("ack", "ok", "okay", "k", "1", "👍", "✅", "✔"),
    "en": (
        "yes",
        "y",
        "yep",
        "yeah",
        "yup",
        "received",
        "got it",
        "confirmed",
        "confirm",
        "safe",
        "fine",
        "roger",
        "acknowledged",
        "understood",
        "all good",
        "copy",
        "copy that",
        "no problem",
        "no worries",
    ),
    "es": (
        "sí",
        "si",
        "vale",
        "recibido",
        "recibida",
        "confirmado",
        "confirmo",
        "a salvo",
        "seguro",
        "segura",
        "bien",
        "de acuerdo",
        "entendido",
        "listo",
        "sin problema",
    ),
    "fr": (
        "oui",
        "ouais",
        "reçu",
        "bien reçu",
        "confirmé",
        "confirme",
        "d'accord",
        "en sécurité",
        "ça va",
        "compris",
        "entendu",
        "pas de problème",
        "pas de souci",
    ),
    "de": (
        "ja",
        "jawohl",
        "erhalten",
        "bestätigt",
        "verstanden",
        "sicher",
        "in sicherheit",
        "alles gut",
        "alles klar",
        "in ordnung",
        "kein problem",
    ),
    "vi": ("có", "vâng", "dạ", "ừ", "đã nhận", "nhận được", "xác nhận", "an toàn", "đồng ý", "được"),
    "zh": (
        "是",
        "是的",
        "好",
        "好的",
        "收到",
        "已收到",
        "确认",
        "確認",
        "安全",
        "明白",
        "知道了",
        "对",
        "對",
    ),
    "ar": ("نعم", "تم", "موافق", "حسنا", "آمن", "بخير", "استلمت", "وصلت", "تم الاستلام", "أجل"),
}

NEGATION: WordTable = {
    "*": ("👎", "❌"),
    "en": (
        "no",
        "not",
        "nope",
        "never",
        "cant",
        "cannot",
        "dont",
        "didnt",
        "isnt",
        "arent",
        "wont",
        "unsafe",
        "n",
    ),
    "es": ("no", "nunca", "tampoco", "ni"),
    "fr": ("non", "pas", "jamais"),
    "de": ("nein", "nicht", "kein", "keine", "nie"),
    "vi": ("không", "chưa", "chẳng"),
    "zh": ("不", "没", "沒", "未", "否", "别", "別"),
    "ar": ("لا", "لم", "لن", "ليس", "لست", "غير"),
}

OPT_OUT: WordTable = {
    "*": ("stop", "stopall", "unsubscribe", "optout", "opt out", "cancel", "end", "quit"),
    "es": ("baja", "alto", "parar", "cancelar"),
    "fr": ("arrêt", "arret", "désabonner", "desinscrire"),
    "de": ("stopp", "abmelden", "abbestellen"),
    "vi": ("dừng", "hủy", "huỷ"),
    "zh": ("退订", "退訂", "取消订阅", "停止"),
    "ar": ("توقف", "إلغاء"),
}
"""Recognised only at the start of a reply, as SMS keywords are: ``STOP`` opts out, ``don't stop`` does not."""

HELP: WordTable = {
    "*": ("help", "sos"),
    "en": ("emergency", "injured", "trapped", "hurt"),
    "es": ("ayuda", "auxilio", "socorro", "herido", "herida", "atrapado", "atrapada"),
    "fr": ("aide", "aidez", "secours", "blessé", "blessée", "coincé", "coincée"),
    "de": ("hilfe", "notfall", "verletzt", "eingeschlossen"),
    "vi": ("giúp", "cứu", "cấp cứu", "bị thương"),
    "zh": ("救命", "帮助", "幫助", "求救", "受伤", "受傷"),
    "ar": ("مساعدة", "النجدة", "ساعدوني", "مصاب"),
}
"""Anywhere in a reply: the operator must see these first, acknowledged or not."""

FILLER: WordTable = {
    "*": ("thanks", "thank", "you", "thx", "ty", "pls", "please", "hi", "hello", "hey"),
    "en": ("i", "im", "am", "we", "are", "were", "all", "is", "its", "it", "here"),
    "es": ("yo", "estoy", "estamos", "todo", "todos", "gracias", "aquí", "hola"),
    "fr": ("je", "suis", "nous", "sommes", "tout", "merci", "c'est", "est", "bonjour", "salut"),
    "de": ("ich", "bin", "wir", "sind", "alles", "es", "ist", "danke", "hallo"),
    "vi": ("tôi", "chúng", "mình", "em", "anh", "chị", "cảm ơn", "đã", "xin chào", "chào"),
    "zh": ("我", "我们", "我們", "都", "已", "谢谢", "謝謝", "了", "你好"),
    "ar": ("أنا", "نحن", "شكرا", "مرحبا"),
}
"""Words skipped around an acknowledgement (``I'm safe``, ``ok thanks``): neither ack nor extra text."""

CATEGORIES = ("affirmative", "negation", "opt_out", "help", "filler")


@dataclass(frozen=True, eq=False)
class ReplyWords:
    """Word tables by language tag. Compared by identity, so the parser can cache its index per table."""

    affirmative: WordTable = field(default_factory=lambda: AFFIRMATIVE)
    negation: WordTable = field(default_factory=lambda: NEGATION)
    opt_out: WordTable = field(default_factory=lambda: OPT_OUT)
    help: WordTable = field(default_factory=lambda: HELP)
    filler: WordTable = field(default_factory=lambda: FILLER)

    def languages(self) -> list[str]:
        return sorted({lang for name in CATEGORIES for lang in getattr(self, name)})


DEFAULT_REPLY_WORDS = ReplyWords()


def _word_lists(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a table of language = [words]")
    out: dict[str, tuple[str, ...]] = {}
    for language, words in value.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError(f"{where}.{language}: expected a list of non-empty words, got {words!r}")
        out[str(language).lower()] = tuple(w.strip() for w in words)
    return out


def reply_words_from_config(raw: Mapping[str, Any], where: str = "acks.words") -> ReplyWords:
    """Defaults extended (or, with ``replace = true``, replaced) by ``[acks.words.<category>]`` tables.

    ``raw`` is the ``[acks.words]`` table, e.g. ``{"affirmative": {"tl": ["oo", "opo"]}}``. Errors name
    the key (``acks.words.affirmative.tl: expected a list ...``).
    """
    unknown = sorted(set(raw) - {*CATEGORIES, "replace"})
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(CATEGORIES)}, replace)"
        )
    replace = raw.get("replace", False)
    if not isinstance(replace, bool):
        raise ValueError(f"{where}.replace: expected true or false, got {replace!r}")
    merged: dict[str, WordTable] = {}
    for name in CATEGORIES:
        base: dict[str, tuple[str, ...]] = {} if replace else dict(getattr(DEFAULT_REPLY_WORDS, name))
        for language, words in _word_lists(raw.get(name, {}), f"{where}.{name}").items():
            base[language] = tuple(dict.fromkeys((*base.get(language, ()), *words)))
        merged[name] = base
    return ReplyWords(**merged)
