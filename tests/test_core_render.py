"""Message rendering: templates, the segment budget, drill marking, languages, and real alerts."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcast.core.cap_model import Alert, Area, Info
from alertcast.core.render import ALERT_FIELDS, MessageTemplates, Renderer, RenderSettings, SmsBudget
from alertcast.core.render_template import MessageTemplate, tidy
from alertcast.core.sms import plan_sms
from alertcast.core.transliterate import transliterate_to_gsm7

PACIFIC = timezone(timedelta(hours=-7))


def make_info(**changes: object) -> Info:
    info = Info(
        language="en-US",
        categories=("Met",),
        event="Flash Flood Warning",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        headline="Flash Flood Warning until 6:30 PM",
        description=(
            "Doppler radar indicated heavy rain.\nFlash flooding is ongoing.\n\nHAZARD...Life threatening."
        ),
        instruction="Move to higher ground now. Do not drive through flooded roads. Act quickly.",
        expires=datetime(2024, 5, 5, 18, 30, tzinfo=PACIFIC),
        sender_name="NWS Sacramento",
        web="https://www.weather.gov/sto",
        areas=(Area("Yolo, CA"), Area("Sacramento, CA"), Area("Yolo, CA")),
    )
    return replace(info, **changes)  # type: ignore[arg-type]


def make_alert(*infos: Info, status: str = "Actual") -> Alert:
    return Alert(
        identifier="NWS-1",
        sender="w-nws.webmaster@noaa.gov",
        sent=datetime(2024, 5, 5, 15, 45, tzinfo=PACIFIC),
        status=status,
        msg_type="Alert",
        scope="Public",
        infos=infos or (make_info(),),
    )


RENDERER = Renderer()


# --- templates -------------------------------------------------------------------------------------------


def parse(source: str) -> MessageTemplate:
    return MessageTemplate.parse(source, allowed=ALERT_FIELDS, where="sms template for language '*'")


def test_optional_sections_vanish_when_a_field_is_empty() -> None:
    template = parse("[{headline}. ][Until {expires}. ]{area}[ - {sender}]")
    assert template.render({"headline": "Flood", "expires": "", "area": "Yolo"}) == "Flood. Yolo"
    assert template.render({"headline": "Flood", "expires": "18:30", "area": "Yolo", "sender": "NWS"}) == (
        "Flood. Until 18:30. Yolo - NWS"
    )


def test_literal_brackets_and_sentence_punctuation() -> None:
    template = parse("[[{area}]] [{headline}. ]x")
    assert template.render({"area": "Yolo", "headline": "Evacuate now!"}) == "[Yolo] Evacuate now! x"
    assert template.render({"area": "Yolo", "headline": "Flood."}) == "[Yolo] Flood. x"
    assert tidy("  a   b \n\n\n\n c ") == "a b\n\nc"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{headlin}", r"sms template for language '\*': unknown field \{headlin\}; known fields: ack, area"),
        ("{headline!r}", "only plain fields"),
        ("{headline:>20}", "only plain fields"),
        ("[a [b]]", r"cannot nest \('\[' at position 3\)"),
        ("[{area}", r"'\[' at position 0 is never closed"),
        ("a] b", r"'\]' at position 1 closes no '\['"),
        ("{", "Single '{'"),
    ],
)
def test_template_errors_name_the_problem_and_place(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(source)


@pytest.mark.parametrize(
    ("render_settings", "message"),
    [
        (RenderSettings(templates={"en": MessageTemplates()}), r'need a "\*" entry'),
        (RenderSettings(drill_marker=" "), "drill marker must not be empty"),
        (RenderSettings(ack_hint="Reply ACK"), "must contain {code}"),
        (RenderSettings(shorten_order=("drop:ack",)), "ack field is never dropped"),
        (RenderSettings(shorten_order=("cut:area",)), "must be 'drop:<field>'"),
        (RenderSettings(shorten_order=("drop:areas",)), "unknown field"),
        (RenderSettings(templates={"*": MessageTemplates(), "es": MessageTemplates(body="{x}")}),
         "body template for language 'es': unknown field"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_when_the_renderer_is_built(
    render_settings: RenderSettings, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Renderer(render_settings)


def test_budget_must_be_a_real_segment_count() -> None:
    with pytest.raises(ValueError, match=r"extreme_segments must be 1\.\.255"):
        SmsBudget(extreme_segments=0)


# --- SMS ---------------------------------------------------------------------------------------------------


def test_alert_that_fits_keeps_every_field_and_the_first_step_drops_the_description() -> None:
    sms = RENDERER.alert_sms(make_alert(), "en", ack_code="7F3")
    assert sms.text == (
        "Flash Flood Warning until 6:30 PM. Yolo, CA; Sacramento, CA. Move to higher ground now. "
        "Do not drive through flooded roads. Act quickly. Doppler radar indicated heavy rain. "
        "Flash flooding is ongoing. "
        "HAZARD...Life threatening. Until 05 May 18:30. https://www.weather.gov/sto - NWS Sacramento. "
        "Reply ACK 7F3."
    )
    assert (sms.steps, sms.budget_segments, sms.stats.segments, sms.fits, sms.drill) == (
        (),
        3,
        3,
        True,
        False,
    )
    two = RENDERER.alert_sms(make_alert(), "en", ack_code="7F3", budget_segments=2)
    assert (two.steps, two.stats.segments) == (("drop:description",), 2)
    assert two.text == sms.text.replace(
        "Doppler radar indicated heavy rain. Flash flooding is ongoing. HAZARD...Life threatening. ", ""
    )


def test_extreme_alert_fits_one_segment_keeping_the_event_and_ack() -> None:
    info = make_info(severity="Extreme")
    sms = RENDERER.alert_sms(make_alert(info), "en", ack_code="7F3")
    assert (sms.budget_segments, sms.stats.segments, sms.fits) == (1, 1, True)
    assert sms.text.startswith("Flash Flood Warning") and sms.text.endswith("Reply ACK 7F3.")
    assert "Move to higher ground now." in sms.text
    assert sms.steps[:2] == ("drop:description", "drop:web")


def test_budget_is_configurable_and_can_be_overridden_per_message() -> None:
    info = make_info(severity="Extreme")
    roomy = Renderer(RenderSettings(budget=SmsBudget(extreme_segments=3)))
    assert roomy.alert_sms(make_alert(info), "en").budget_segments == 3
    assert RENDERER.alert_sms(make_alert(), "en", budget_segments=1).stats.segments == 1


def test_exercise_and_test_alerts_are_always_drills() -> None:
    for status in ("Exercise", "Test"):
        sms = RENDERER.alert_sms(make_alert(status=status), "en")
        assert sms.drill and sms.text.startswith("EXERCISE: ")
    live = RENDERER.alert_sms(make_alert(), "en")
    assert not live.drill and "EXERCISE" not in live.text
    assert RENDERER.alert_sms(make_alert(), "en", drill=True).text.startswith("EXERCISE: ")


def test_languages_templates_and_drill_marker_in_every_language() -> None:
    spanish = make_info(language="es-US", headline="Aviso de inundación", instruction="Suba a terreno alto.")
    alert = make_alert(make_info(), spanish)
    renderer = Renderer(
        RenderSettings(
            templates={
                "*": MessageTemplates(),
                "es": MessageTemplates(sms="[{headline}. ][{instruction} ][{ack}]"),
            },
            ack_hint="Responda ACK {code}",
            drill_marker="SIMULACRO",
        )
    )
    sms = renderer.alert_sms(alert, "es-MX", drill=True, ack_code="A1")
    assert (sms.language, sms.text) == (
        "es-us",
        "SIMULACRO: Aviso de inundacion. Suba a terreno alto. Responda ACK A1",
    )
    english = renderer.alert_sms(alert, "fr", drill=True)
    assert english.language == "en-us" and english.text.startswith("SIMULACRO: Flash Flood Warning")


def test_ack_hint_is_appended_when_the_template_has_no_place_for_it() -> None:
    renderer = Renderer(RenderSettings(templates={"*": MessageTemplates(sms="{headline}")}))
    assert renderer.alert_sms(make_alert(), "en", ack_code="Q9").text == (
        "Flash Flood Warning until 6:30 PM Reply ACK Q9"
    )


def test_over_budget_says_so_and_still_keeps_marker_and_ack() -> None:
    unbreakable = "W" * 200  # one word longer than a segment: nothing may cut it
    info = make_info(severity="Extreme", event=unbreakable, headline=unbreakable)
    sms = RENDERER.alert_sms(make_alert(info), "en", drill=True, ack_code="7F3")
    assert not sms.fits and sms.stats.segments > 1
    assert sms.text.startswith("EXERCISE: ") and sms.text.endswith("Reply ACK 7F3.")


def test_alert_without_info_is_refused_clearly() -> None:
    empty = replace(make_alert(), infos=())
    with pytest.raises(
        ValueError, match=r"alert 'NWS-1' from 'w-nws\.webmaster@noaa\.gov' has no <info> block"
    ):
        RENDERER.alert_sms(empty, "en")


words = st.one_of(
    st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
    st.sampled_from(
        ["https://example.org/a/b?c=1", "18:30", "I-80", "São", "Łódź", "“quoted”", "東京", "Ø-7"]
    ),
)
sentences = st.lists(words, min_size=1, max_size=15).map(lambda ws: " ".join(ws) + ".")
texts = st.lists(sentences, max_size=6).map(" ".join)


@settings(max_examples=80, deadline=None)
@given(
    headline=st.lists(words, min_size=1, max_size=20).map(" ".join),
    instruction=texts,
    description=texts,
    areas=st.lists(st.lists(words, min_size=1, max_size=4).map(" ".join), max_size=5),
    severity=st.sampled_from(["Extreme", "Severe", "Minor"]),
    drill=st.booleans(),
)
def test_budget_rules_hold_for_any_alert(
    headline: str, instruction: str, description: str, areas: list[str], severity: str, drill: bool
) -> None:
    info = make_info(
        headline=headline,
        instruction=instruction,
        description=description,
        severity=severity,
        areas=tuple(Area(name) for name in areas),
    )
    sms = RENDERER.alert_sms(make_alert(info), "en", drill=drill, ack_code="7F3")
    if sms.fits:
        assert sms.stats.segments <= sms.budget_segments
    assert sms.text.count("Reply ACK 7F3") == 1
    assert sms.text.startswith("EXERCISE: ") == drill
    assert plan_sms(sms.text).segments == sms.stats.segments
    # Never a cut word or URL: every word sent is a whole word of the alert or of the template.
    template_words = (
        "EXERCISE: Until 05 May 18:30. - NWS Sacramento. Reply ACK 7F3. https://www.weather.gov/sto"
    )
    source = " ".join([headline, instruction, description, *areas, info.event, template_words])
    known = {_bare(word) for word in transliterate_to_gsm7(source).split()} | {
        _bare(w) for w in source.split()
    }
    for word in sms.text.split():
        assert _bare(word) in known, word


@settings(max_examples=40, deadline=None)
@given(
    first=st.from_regex(r"[0-9A-Z]{3}", fullmatch=True), second=st.from_regex(r"[0-9A-Z]{3}", fullmatch=True)
)
def test_swapping_the_ack_code_equals_rendering_again(first: str, second: str) -> None:
    alert = make_alert(make_info(severity="Extreme"))
    rendered = RENDERER.alert_sms(alert, "en", ack_code=first)
    assert RENDERER.with_ack_code(rendered, second) == RENDERER.alert_sms(alert, "en", ack_code=second)


def test_swapping_a_longer_ack_code_reports_the_new_size() -> None:
    rendered = RENDERER.alert_sms(make_alert(make_info(severity="Extreme")), "en", ack_code="7F3")
    swapped = RENDERER.with_ack_code(rendered, "X" * 40)
    assert swapped.text.endswith("Reply ACK " + "X" * 40 + ".")
    assert (swapped.stats.segments, swapped.fits) == (2, False)
    with pytest.raises(ValueError, match="without an ack code"):
        RENDERER.with_ack_code(RENDERER.alert_sms(make_alert(), "en"), "7F3")


def _bare(word: str) -> str:
    return re.sub(r"(\.\.\.|[.,;:])+$", "", word)


# --- long form and composed messages ------------------------------------------------------------


def test_long_form_keeps_paragraphs_and_shows_expiry_in_the_chosen_zone() -> None:
    renderer = Renderer(RenderSettings(timezone=UTC, expires_format="%Y-%m-%d %H:%M %Z"))
    long = renderer.alert_long(make_alert(status="Exercise"), "en", ack_code="7F3")
    assert long.title == "EXERCISE: Flash Flood Warning until 6:30 PM"
    assert long.body.startswith("EXERCISE: Flash Flood Warning until 6:30 PM\n\nYolo, CA; Sacramento, CA\n\n")
    assert (
        "Doppler radar indicated heavy rain. Flash flooding is ongoing.\n\nHAZARD...Life threatening."
        in long.body
    )
    assert "Expires: 2024-05-06 01:30 UTC\nMore information: https://www.weather.gov/sto\n" in long.body
    assert long.body.endswith("From: NWS Sacramento\n\nReply ACK 7F3")
    assert long.drill


def test_spanish_and_french_readers_get_their_own_labels_and_hint() -> None:
    texts = {"es": "Hierva el agua.", "fr": "Faites bouillir l'eau."}
    assert (
        RENDERER.composed_sms(texts, "fr-CA", ack_code="AB1").text
        == "Faites bouillir l'eau. Répondez ACK AB1."
    )
    assert RENDERER.composed_sms(texts, "es", ack_code="AB1").text.endswith("Responda ACK AB1.")
    assert RENDERER.ack_hint("de") == "Reply ACK {code}"


def test_composed_message_picks_the_language_and_keeps_the_budget() -> None:
    texts = {"en": "Boil water before drinking. " * 30, "es": "Hierva el agua antes de beberla."}
    spanish = RENDERER.composed_sms(texts, "es-MX", ack_code="AB1", sender="City of Davis")
    assert (spanish.language, spanish.text) == (
        "es",
        "Hierva el agua antes de beberla. - City of Davis. Responda ACK AB1.",
    )
    english = RENDERER.composed_sms(texts, "de", severity="Extreme", drill=True, ack_code="AB1")
    assert (english.language, english.stats.segments, english.fits) == ("en", 1, True)
    assert english.text.startswith("EXERCISE: Boil water before drinking.") and english.text.endswith(
        "Reply ACK AB1."
    )
    assert english.steps == ("shorten:message",)
    with pytest.raises(ValueError, match="at least one text"):
        RENDERER.composed_sms({}, "en")
    with pytest.raises(ValueError, match="for language 'en' is empty"):
        RENDERER.composed_sms({"en": "  "}, "en")


# --- real alerts --------------------------------------------------------------------------------


def _documents() -> list[Path]:
    repository = Path(__file__).resolve().parents[1]
    folders = [repository / "sample_alerts"]
    corpus = os.environ.get("ALERTCAST_CAP_CORPUS")
    candidates = (
        [Path(corpus)]
        if corpus
        else [repository.parent / "shared" / "cap-corpus", Path("/work/shared/cap-corpus")]
    )
    folders += [
        candidate / version
        for candidate in candidates[:1] + candidates[1:]
        for version in ("cap10", "cap11", "cap12")
    ]
    return sorted(
        {path for folder in folders if folder.is_dir() for path in folder.iterdir() if path.is_file()}
    )


DOCUMENTS = _documents()


@pytest.mark.skipif(not DOCUMENTS, reason="no sample alerts or CAP corpus on this machine")
def test_every_real_alert_renders_in_every_language_within_rules() -> None:
    from alertcast.cap.reader import read_cap

    rendered = 0
    for path in DOCUMENTS:
        for alert in read_cap(path.read_bytes(), source=str(path)).alerts:
            for info in alert.infos:
                for drill in (False, True):
                    sms = RENDERER.alert_sms(alert, info.language, drill=drill, ack_code="7F3")
                    hint = RENDERER.ack_hint(info.language).format(code="7F3")
                    assert sms.text.count(hint) == 1, path
                    assert sms.text.startswith("EXERCISE: ") == (
                        drill or alert.status in ("Exercise", "Test")
                    )
                    if sms.fits:
                        assert sms.stats.segments <= sms.budget_segments, path
                    long = RENDERER.alert_long(alert, info.language, drill=drill, ack_code="7F3")
                    assert long.title and hint in long.body, path
                    rendered += 1
    assert rendered > 0
