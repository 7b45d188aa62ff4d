"""The ``[acks]`` settings: how replies are read (words, code lengths) and how old a broadcast a reply
without a code may still be matched to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from alertcast.config import Config, ConfigError
from alertcast.core.ack_codes import DEFAULT_CODE_RULES, CodeRules
from alertcast.core.reply_words import DEFAULT_REPLY_WORDS, ReplyWords, reply_words_from_config


@dataclass(frozen=True)
class AckSettings:
    default_region: str = "US"
    words: ReplyWords = DEFAULT_REPLY_WORDS
    codes: CodeRules = DEFAULT_CODE_RULES
    match_window: timedelta = timedelta(hours=72)
    """How old a broadcast may be for a reply without a code to be matched to it."""

    @classmethod
    def from_config(cls, config: Config) -> AckSettings:
        """``[acks]``: ``match_window_hours``, ``code_lengths``, ``[acks.words.*]``; the region comes from
        ``[contacts] default_region``. Errors name the file and the key."""
        raw = config.section("acks")
        where = f"{config.path or 'configuration'}: acks"
        unknown = sorted(set(raw) - {"match_window_hours", "code_lengths", "words"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        hours = raw.get("match_window_hours", 72)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
            raise ConfigError(f"{where}.match_window_hours: expected a number of hours > 0, got {hours!r}")
        lengths = raw.get("code_lengths", [4])
        if not isinstance(lengths, list) or not all(isinstance(n, int) and 3 <= n <= 12 for n in lengths):
            raise ConfigError(f"{where}.code_lengths: expected a list of lengths 3..12, got {lengths!r}")
        try:
            words = reply_words_from_config(raw.get("words", {}), "words")
            codes = CodeRules(lengths=frozenset(lengths))
        except ValueError as exc:
            raise ConfigError(
                f"{where}.{exc}" if str(exc).startswith("words") else f"{where}: {exc}"
            ) from None
        return cls(config.contacts.default_region, words, codes, timedelta(hours=float(hours)))
