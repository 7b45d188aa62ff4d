"""SMS PDUs: published vectors, hand-worked vectors for what the published ones do not cover, round trips."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcast.core.pdu import (
    ConcatInfo,
    build_deliver_pdu,
    build_deliver_pdus,
    build_status_report_pdu,
    build_submit_pdus,
    decode_deliver_pdu,
    decode_status_report_pdu,
    decode_submit_pdu,
    delivery_state,
    reassemble_text,
)
from alertcast.core.pdu_fields import relative_validity_octet, validity_minutes
from alertcast.core.sms import plan_sms

# The classic SMS-SUBMIT example ("hellohello" to +46708251358, 4 days validity), widely reproduced from
# Lars Pettersson's PDU format notes.
HELLOHELLO_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# The matching SMS-DELIVER example: SMSC +27381000015, sender 27838890001 (subscriber number, national plan),
# 1999-03-29 15:16:59 +02:00.
HELLOHELLO_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
# A +CDS status report as a modem printed it without SCA (TPDU length 25): delivered.
STATUS_REPORT_NO_SCA = "06000B910221815716F2709021510121807090215101718000"


def test_submit_matches_the_published_vector() -> None:
    pdus = build_submit_pdus(
        "+46708251358", plan_sms("hellohello"), reference=0, status_report=False, validity_minutes=4 * 24 * 60
    )
    assert [(pdu.hex, pdu.tpdu_length) for pdu in pdus] == [(HELLOHELLO_SUBMIT, 23)]


def test_decode_published_submit() -> None:
    decoded = decode_submit_pdu(HELLOHELLO_SUBMIT, tpdu_length=23)
    assert (decoded.number, decoded.text, decoded.validity_minutes) == ("+46708251358", "hellohello", 5760)
    assert (decoded.concat, decoded.status_report_requested, decoded.dcs) == (None, False, 0)


def test_decode_published_deliver() -> None:
    decoded = decode_deliver_pdu(HELLOHELLO_DELIVER)
    assert (decoded.smsc, decoded.sender, decoded.text) == ("+27381000015", "27838890001", "hellohello")
    assert decoded.timestamp == datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))


def test_decode_published_status_report_with_and_without_sca() -> None:
    report = decode_status_report_pdu(STATUS_REPORT_NO_SCA, tpdu_length=25)
    assert (report.message_reference, report.recipient, report.status, report.state) == (
        0,
        "+20121875612",
        0,
        "delivered",
    )
    plus_two = timezone(timedelta(hours=2))
    assert report.service_centre_time == datetime(2007, 9, 12, 15, 10, 12, tzinfo=plus_two)
    assert report.discharge_time == datetime(2007, 9, 12, 15, 10, 17, tzinfo=plus_two)
    assert decode_status_report_pdu("00" + STATUS_REPORT_NO_SCA) == report


def test_national_number_ucs2_and_status_report_request_worked_by_hand() -> None:
    # 0x31 = SMS-SUBMIT | relative VPF | SRR; 0A 81 = 10 digits, type unknown; 0B = 60 minutes; UCS-2 "Ж!".
    pdus = build_submit_pdus(
        "0708251358", plan_sms("Ж!"), reference=0, status_report=True, validity_minutes=60
    )
    assert [pdu.hex for pdu in pdus] == ["0031000A8170805231850008" + "0B" + "04" + "0416" + "0021"]


def test_concatenated_seven_bit_parts_start_after_one_fill_bit() -> None:
    text = "h" * 160 + "ello"
    pdus = build_submit_pdus("+1", plan_sms(text), reference=0x2A, status_report=False, validity_minutes=None)
    assert len(pdus) == 2
    first = bytes.fromhex(pdus[0].hex)
    # SCA 00, first octet 0x41 (UDHI), MR, DA 01 91 1F, PID, DCS, UDL = 7 + 153 septets.
    assert first[:8] == bytes.fromhex("0041000191F10000")
    assert first[8] == 160
    assert first[9:15] == bytes.fromhex("0500032A0201")
    # 48 header bits + 1 fill bit: the first septet "h" (0x68) sits one bit up, so the octet is 0xD0.
    assert first[15] == 0xD0
    second = bytes.fromhex(pdus[1].hex)
    assert second[8] == 7 + 11 and second[9:15] == bytes.fromhex("0500032A0202")
    decoded = [decode_submit_pdu(pdu.hex) for pdu in pdus]
    assert [d.concat for d in decoded] == [ConcatInfo(0x2A, 2, 1), ConcatInfo(0x2A, 2, 2)]
    assert reassemble_text(reversed(decoded)) == text


numbers = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True), st.from_regex(r"[0-9]{3,12}", fullmatch=True)
)
texts = st.text(alphabet=st.sampled_from("Alert: flood! 0-9 €[]{} éÆ\nжШ’東😀"), max_size=400)


@settings(max_examples=150)
@given(numbers, texts, st.booleans(), st.one_of(st.none(), st.integers(1, 600_000)), st.integers(0, 255))
def test_submit_round_trip(
    number: str, text: str, status_report: bool, validity: int | None, reference: int
) -> None:
    plan = plan_sms(text)
    pdus = build_submit_pdus(
        number, plan, reference=reference, status_report=status_report, validity_minutes=validity
    )
    decoded = [decode_submit_pdu(pdu.hex, tpdu_length=pdu.tpdu_length) for pdu in pdus]
    assert all(len(bytes.fromhex(pdu.hex)) == pdu.tpdu_length + 1 for pdu in pdus)
    assert all(pdu.tpdu_length <= 164 for pdu in pdus)
    assert {d.number for d in decoded} == {number}
    assert {d.status_report_requested for d in decoded} == {status_report}
    assert {d.dcs for d in decoded} == {plan.data_coding}
    if validity is None:
        assert {d.validity_minutes for d in decoded} == {None}
    else:
        assert {d.validity_minutes for d in decoded} == {validity_minutes(relative_validity_octet(validity))}
    assert [d.text for d in decoded] == [part.text for part in plan.parts]
    assert reassemble_text(decoded) == text
    if plan.segments > 1:
        assert [d.concat for d in decoded] == [
            ConcatInfo(reference, plan.segments, index) for index in range(1, plan.segments + 1)
        ]


offsets = st.integers(-48, 56).map(lambda quarters: timezone(timedelta(minutes=15 * quarters)))
moments = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone, microsecond=0),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2089, 12, 31)),
    offsets,
)


@given(
    st.one_of(numbers, st.sampled_from(["ALERTS", "Civil Prot", "112", "Info€[x]", "A"])),
    texts,
    moments,
    st.integers(0, 255),
)
def test_deliver_round_trip(sender: str, text: str, moment: datetime, reference: int) -> None:
    pdus = build_deliver_pdus(sender, text, timestamp=moment, reference=reference, smsc="+4915200000")
    decoded = [decode_deliver_pdu(pdu.hex, tpdu_length=pdu.tpdu_length) for pdu in pdus]
    assert {d.sender for d in decoded} == {sender}
    assert {d.smsc for d in decoded} == {"+4915200000"}
    assert {d.timestamp for d in decoded} == {moment}
    assert {d.timestamp.utcoffset() for d in decoded} == {moment.utcoffset()}
    assert reassemble_text(decoded) == text


@given(st.integers(0, 255), numbers, st.integers(0, 255), moments, moments)
def test_status_report_round_trip(
    reference: int, recipient: str, status: int, submitted: datetime, done: datetime
) -> None:
    pdu = build_status_report_pdu(
        reference, recipient, status, service_centre_time=submitted, discharge_time=done
    )
    report = decode_status_report_pdu(pdu.hex, tpdu_length=pdu.tpdu_length)
    assert (report.message_reference, report.recipient, report.status) == (reference, recipient, status)
    assert (report.service_centre_time, report.discharge_time) == (submitted, done)
    assert report.state == delivery_state(status)


@pytest.mark.parametrize(
    ("status", "state"),
    [(0x00, "delivered"), (0x01, "delivered"), (0x1F, "delivered"), (0x20, "pending"), (0x30, "pending"),
     (0x3F, "pending"), (0x40, "failed"), (0x45, "failed"), (0x60, "failed"), (0x7F, "failed"),
     (0x80, "failed")],
)  # fmt: skip
def test_delivery_state_by_status_range(status: int, state: str) -> None:
    assert delivery_state(status) == state


@pytest.mark.parametrize(
    ("minutes", "octet"),
    [(1, 0), (5, 0), (9, 0), (10, 1), (60, 11), (720, 143), (749, 143), (750, 144), (1440, 167), (2000, 167),
     (2 * 1440, 168), (4 * 1440, 0xAA), (30 * 1440, 196), (34 * 1440, 196), (35 * 1440, 197),
     (63 * 7 * 1440, 255), (100 * 7 * 1440, 255)],
)  # fmt: skip
def test_relative_validity_table(minutes: int, octet: int) -> None:
    assert relative_validity_octet(minutes) == octet


@given(st.integers(5, 63 * 7 * 1440))
def test_relative_validity_rounds_down_to_the_nearest_step(minutes: int) -> None:
    octet = relative_validity_octet(minutes)
    assert validity_minutes(octet) <= minutes
    if octet < 255:
        assert validity_minutes(octet + 1) > minutes


def test_validity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        relative_validity_octet(0)


def submit_to(number: str, reference: int = 0) -> None:
    build_submit_pdus(number, plan_sms("x"), reference=reference, status_report=False, validity_minutes=None)


def report_with_naive_times() -> None:
    naive = datetime(2024, 1, 1)
    build_status_report_pdu(1, "+1", 0, service_centre_time=naive, discharge_time=naive)


def header_longer_than_user_data() -> str:
    # UDHI set, TP-UDL 6 septets, but the concatenation header alone takes 7 septets (6 octets).
    return HELLOHELLO_DELIVER.replace("F504", "F544", 1)[:-20] + "06" + "050003010201"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decode_submit_pdu("0011000B9164"), "TP-DA needs 6 octet"),
        (lambda: decode_submit_pdu("00110"), "hexadecimal"),
        (lambda: decode_deliver_pdu(HELLOHELLO_SUBMIT), "not an SMS-DELIVER PDU"),
        (lambda: decode_status_report_pdu(HELLOHELLO_DELIVER), "not an SMS-STATUS-REPORT PDU"),
        (lambda: decode_submit_pdu(HELLOHELLO_SUBMIT, tpdu_length=30), "stated length is 30"),
        (lambda: decode_deliver_pdu(HELLOHELLO_DELIVER[:-4]), "TP-UD needs 9 octet"),
        (lambda: decode_deliver_pdu(HELLOHELLO_DELIVER.replace("99309251", "99309A51")), "TP-SCTS"),
        (lambda: decode_deliver_pdu(HELLOHELLO_DELIVER.replace("993092", "993192")), "not a valid date"),
        (lambda: submit_to("+46 70"), "digits with an optional leading"),
        (lambda: submit_to("+1", reference=300), "0..255"),
        (report_with_naive_times, "no time zone"),
        (lambda: decode_deliver_pdu(header_longer_than_user_data()), "longer than TP-UDL 6"),
        (lambda: build_deliver_pdus("Civil Protection", "x", timestamp=datetime.now(UTC)), "at most 11 fit"),
        (
            lambda: build_deliver_pdu("+1", plan_sms("x"), timestamp=datetime.now(UTC), part=2),
            r"part must be 1\.\.1",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_reassembly_joins_a_surrogate_pair_split_by_the_sender() -> None:
    # A handset that cut "A😀B" between the halves of the emoji (D83D | DE00): each part alone is broken.
    head = "00" + "44" + "038121F3" + "00" + "08" + "42105021000000"  # SCA, UDHI, from 123, UCS-2, time
    parts = [head + "0A" + "050003010201" + "0041D83D", head + "0A" + "050003010202" + "DE000042"]
    decoded = [decode_deliver_pdu(hex_text) for hex_text in parts]
    assert decoded[0].sender == "123"
    assert decoded[0].timestamp == datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    assert decoded[0].text == "A\ufffd"
    assert reassemble_text(reversed(decoded)) == "A😀B"
