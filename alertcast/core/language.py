"""Choosing which language version of an alert (or of an operator's message) a contact receives.

CAP carries one ``<info>`` block per language. A contact who asked for "es-MX" should get the Spanish block
even when the sender wrote "es-419" or plain "es"; a contact whose language the alert lacks still gets the
alert, in the sender's first language, because a warning in the wrong language beats no warning.
"""

from __future__ import annotations

from collections.abc import Sequence

from alertcast.core.cap_model import Alert, Info

DEFAULT_LANGUAGE = "en-US"
"""CAP 1.2: an ``<info>`` without ``<language>`` is in "en-US"."""


def normalise_tag(tag: str | None) -> str:
    """Lower-case tag with "-" separators; empty or missing means :data:`DEFAULT_LANGUAGE`."""
    cleaned = (tag or "").strip().replace("_", "-").lower()
    return cleaned or DEFAULT_LANGUAGE.lower()


def primary_subtag(tag: str | None) -> str:
    """The language without region or script: "es" for "es-419", "zh" for "zh-Hant-TW"."""
    return normalise_tag(tag).split("-", 1)[0]


def matching_language_index(candidates: Sequence[str | None], wanted: str) -> int | None:
    """Index of the candidate in the same language as ``wanted``, the closest first; None when none is.

    Order: exact tag (ignoring case and "_" vs "-"); then the same language with no region ("es" for
    "es-MX"); then the same language in any region ("es-419" for "es-MX"), the first one given.
    """
    normalised = [normalise_tag(candidate) for candidate in candidates]
    target = normalise_tag(wanted)
    if target in normalised:
        return normalised.index(target)
    language = primary_subtag(target)
    if language in normalised:
        return normalised.index(language)
    for index, tag in enumerate(normalised):
        if primary_subtag(tag) == language:
            return index
    return None


def best_language_index(candidates: Sequence[str | None], wanted: str | None) -> int | None:
    """Index of the candidate that best serves a reader of ``wanted``; None only when there are none.

    The closest match in the reader's language (:func:`matching_language_index`), else the first candidate.
    A reader with no language gets the first candidate.
    """
    if not candidates:
        return None
    if wanted is None or not wanted.strip():
        return 0
    index = matching_language_index(candidates, wanted)
    return 0 if index is None else index


def pick_info(alert: Alert, language: str | None) -> Info | None:
    """The ``<info>`` block for a reader of ``language``; None when the alert has no info block at all."""
    index = best_language_index([info.language for info in alert.infos], language)
    return None if index is None else alert.infos[index]


def alert_languages(alert: Alert) -> tuple[str, ...]:
    """The distinct languages of an alert's info blocks, normalised, in document order."""
    return tuple(dict.fromkeys(normalise_tag(info.language) for info in alert.infos))
