"""Reading replies: acknowledgements in many forms and languages, codes typed with slips, and the replies
that must never count as an acknowledgement (NOT OK, STOP, a question)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcast.core.ack_codes import CodeRules, ack_link_url, with_ack_link
from alertcast.core.replies import ReplyIntent, describe, fold, parse_reply, sender_forms
from alertcast.core.reply_words import reply_words_from_config
from alertcast.services.compose import new_ack_code

ACK = ReplyIntent.ACK


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("ACK", ()),
        ("ack 7f3k", ("7F3K",)),
        ("Ack-7F3K", ("7F3K",)),
        ("ack7f3k", ("7F3K",)),
        ("  ACK: 7F3K. ", ("7F3K",)),
        ("7F3K", ("7F3K",)),
        ("7f3k ok", ("7F3K",)),
        ("ACK HKMP", ("HKMP",)),
        ("1", ()),
        ("YES", ()),
        ("Y", ()),
        ("OK", ()),
        ("Okay thanks!", ()),
        ("SAFE", ()),
        ("I'm safe", ()),
        ("SI", ()),
        ("SÍ", ()),
        ("Sí, recibido", ()),
        ("OUI", ()),
        ("d'accord", ()),
        ("JA", ()),
        ("CÓ", ()),
        ("Đã nhận", ()),
        ("是", ()),
        ("好的", ()),
        ("收到 7F3K", ("7F3K",)),
        ("نعم", ()),
        ("أجل", ()),
        ("👍", ()),
        ("👍🏽", ()),
        ("no problem", ()),
        ("Hi, ok 7F3K", ("7F3K",)),
    ],
)
def test_acknowledgements(text: str, codes: tuple[str, ...]) -> None:
    reply = parse_reply(text)
    assert reply.intent is ACK, (text, reply)
    assert reply.codes == codes
    assert not reply.help_requested and not reply.extra_text


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("NOT OK", ReplyIntent.NEGATIVE),
        ("no", ReplyIntent.NEGATIVE),
        ("ACK 7F3K not safe", ReplyIntent.NEGATIVE),
        ("no estoy bien", ReplyIntent.NEGATIVE),
        ("pas reçu", ReplyIntent.NEGATIVE),
        ("nicht sicher", ReplyIntent.NEGATIVE),
        ("không an toàn", ReplyIntent.NEGATIVE),
        ("不好", ReplyIntent.NEGATIVE),
        ("لا", ReplyIntent.NEGATIVE),
        ("👎", ReplyIntent.NEGATIVE),
        ("STOP", ReplyIntent.OPT_OUT),
        ("stop sending me these", ReplyIntent.OPT_OUT),
        ("Unsubscribe", ReplyIntent.OPT_OUT),
        ("BAJA", ReplyIntent.OPT_OUT),
        ("opt out", ReplyIntent.OPT_OUT),
        ("退订", ReplyIntent.OPT_OUT),
        ("HELP", ReplyIntent.HELP),
        ("ayuda por favor", ReplyIntent.HELP),
        ("救命", ReplyIntent.HELP),
        ("ok?", ReplyIntent.UNKNOWN),
        ("¿sí?", ReplyIntent.UNKNOWN),
        ("where do I go", ReplyIntent.UNKNOWN),
        ("thanks", ReplyIntent.UNKNOWN),
        ("", ReplyIntent.UNKNOWN),
        ("...", ReplyIntent.UNKNOWN),
    ],
)
def test_replies_that_are_not_acknowledgements(text: str, intent: ReplyIntent) -> None:
    reply = parse_reply(text)
    assert reply.intent is intent, (text, reply)
    assert not reply.is_ack


def test_an_acknowledgement_can_still_ask_for_help_or_say_more() -> None:
    reply = parse_reply("OK 7F3K but my neighbour needs help")
    assert reply.intent is ACK and reply.codes == ("7F3K",)
    assert reply.help_requested and reply.extra_text
    assert describe(reply) == "acknowledgement (code 7F3K, asks for help)"
    assert parse_reply("ok, on my way to the shelter").extra_text


def test_words_that_look_like_codes_are_not_codes_without_context() -> None:
    assert parse_reply("ok what now").codes == ()  # WHAT fits the alphabet, but the reply is chatter
    assert parse_reply("ACK WHAT").codes == ("WHAT",)  # nothing but an ack and a code
    assert parse_reply("ok, take 2 bags").codes == ()  # no token of code length with a digit
    assert parse_reply("ok see 4B2X later").codes == ("4B2X",)  # a digit makes it a code


def test_stop_only_opts_out_at_the_start() -> None:
    assert parse_reply("don't stop").intent is ReplyIntent.NEGATIVE
    assert parse_reply("ok stop").intent is ACK
    assert describe(parse_reply("STOP")) == "opt-out request ('stop')"


def test_short_words_of_other_languages_need_the_contact_to_speak_them() -> None:
    assert parse_reply("u", language="vi").intent is ACK  # ừ, informal Vietnamese "yes"
    assert parse_reply("u", language="en").intent is ReplyIntent.UNKNOWN  # "u" as in "you"
    assert parse_reply("ừ", language="en").intent is ACK  # written as Vietnamese, read as Vietnamese
    assert parse_reply("SÍ", language="en").intent is ACK and parse_reply("si", language="fr").intent is ACK
    assert parse_reply("are u ok", language="en-GB").intent is ReplyIntent.UNKNOWN
    assert parse_reply("oui", language="en").intent is ACK  # long enough to be unambiguous
    assert parse_reply("si", language="es-MX").language == "es"


def test_codes_compare_case_and_look_alike_insensitively() -> None:
    rules = CodeRules()
    assert rules.canonical(" 7f3k ") == "7F3K"
    assert rules.looks_like_code("7f3k") and not rules.looks_like_code("7F3")
    assert not rules.looks_like_code("HELP")  # L is not in the alphabet: no word with L passes for a code
    crockford = CodeRules(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", lengths=frozenset({4}))
    assert crockford.canonical("7o3l") == crockford.canonical("7031") == "7031"
    assert crockford.canonical("1I1L") == "1111"
    both = CodeRules(alphabet="0O12")  # holds both 0 and O: they are different characters there
    assert both.canonical("0O") == "0O"
    assert both.canonical("I") == "1"
    with pytest.raises(ValueError, match="alphabet"):
        CodeRules(alphabet="AB-C")


def test_codes_compose_draws_are_read_back_by_the_reply_parser() -> None:
    rules = CodeRules()
    for _ in range(200):
        code = new_ack_code()
        assert rules.looks_like_code(code) and rules.canonical(code.lower()) == code
        assert parse_reply(f"ack {code.lower()}").codes == (code,)


def test_configured_words_extend_or_replace_the_defaults() -> None:
    words = reply_words_from_config({"affirmative": {"tl": ["oo", "opo"]}, "opt_out": {"*": ["tama na"]}})
    assert parse_reply("Opo", words=words).language == "tl"
    assert parse_reply("tama na", words=words).intent is ReplyIntent.OPT_OUT
    assert parse_reply("yes", words=words).intent is ACK  # defaults kept
    only = reply_words_from_config({"replace": True, "affirmative": {"*": ["roger"]}})
    assert parse_reply("yes", words=only).intent is ReplyIntent.UNKNOWN
    assert parse_reply("roger", words=only).intent is ACK
    with pytest.raises(ValueError, match=r"acks\.words\.affirmative\.tl: expected a list"):
        reply_words_from_config({"affirmative": {"tl": "oo"}})
    with pytest.raises(ValueError, match="unknown key"):
        reply_words_from_config({"affirmatives": {}})


def test_folding() -> None:
    assert fold("Đã NHẬN") == "da nhan"
    assert fold("D’ACCORD") == "daccord"
    assert fold("حسناً") == "حسنا"
    assert fold("✔️") == "✔"


@pytest.mark.parametrize(
    ("sender", "region", "first"),
    [
        ("+14155550123", "US", "+14155550123"),
        ("14155550123", "US", "+14155550123"),
        ("4155550123", "US", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("4915112345678", "US", "+4915112345678"),
        ("004915112345678", "US", "+4915112345678"),
        ("015112345678", "DE", "+4915112345678"),
        ("+49 151 12345678", "ES", "+4915112345678"),
        ("Ana@Example.org", "US", "ana@example.org"),
        ("ALERTS", "US", "ALERTS"),
        ("12345", "US", "12345"),
    ],
)
def test_sender_numbers_are_read_every_way_smscs_write_them(sender: str, region: str, first: str) -> None:
    assert sender_forms(sender, region)[0] == first


def test_ack_link_line() -> None:
    url = ack_link_url("https://alerts.example.org/", "2s.AbC")
    assert url == "https://alerts.example.org/a/2s.AbC"
    assert with_ack_link("Body.", url).endswith("\n\nPlease confirm you received this message: " + url)
    assert with_ack_link("Body.", url, "es-MX").endswith("Confirme que recibió este mensaje: " + url)
    assert (
        with_ack_link("Top {ack_link} end", url, "xx")
        == f"Top Please confirm you received this message: {url} end"
    )
    with pytest.raises(ValueError, match="http"):
        ack_link_url("alerts.example.org", "t")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_and_a_negated_reply_never_acknowledges(text: str) -> None:
    parse_reply(text)
    assert parse_reply("not " + text).intent is not ACK
    assert parse_reply("NO " + text).intent is not ACK
