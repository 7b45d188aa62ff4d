"""SMS encoding and splitting: the GSM 03.38 table against the standard, packing, and splitting properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcast.core.sms import (
    BASIC_TABLE,
    EXTENSION_TABLE,
    MAX_PARTS,
    concat_udh,
    gsm7_decode,
    gsm7_encode,
    is_gsm7,
    pack_septets,
    plan_sms,
    sms_stats,
    unpack_septets,
)
from alertcast.core.transliterate import transliterate_to_gsm7

# 3GPP TS 23.038 §6.2.1, written as code -> Unicode code point. Codes not listed here (other than 0x1B) carry
# the ASCII character of the same value.
STANDARD_NON_ASCII = {
    0x00: 0x0040, 0x01: 0x00A3, 0x02: 0x0024, 0x03: 0x00A5, 0x04: 0x00E8, 0x05: 0x00E9, 0x06: 0x00F9,
    0x07: 0x00EC, 0x08: 0x00F2, 0x09: 0x00C7, 0x0A: 0x000A, 0x0B: 0x00D8, 0x0C: 0x00F8, 0x0D: 0x000D,
    0x0E: 0x00C5, 0x0F: 0x00E5, 0x10: 0x0394, 0x11: 0x005F, 0x12: 0x03A6, 0x13: 0x0393, 0x14: 0x039B,
    0x15: 0x03A9, 0x16: 0x03A0, 0x17: 0x03A8, 0x18: 0x03A3, 0x19: 0x0398, 0x1A: 0x039E, 0x1C: 0x00C6,
    0x1D: 0x00E6, 0x1E: 0x00DF, 0x1F: 0x00C9, 0x24: 0x00A4, 0x40: 0x00A1, 0x5B: 0x00C4, 0x5C: 0x00D6,
    0x5D: 0x00D1, 0x5E: 0x00DC, 0x5F: 0x00A7, 0x60: 0x00BF, 0x7B: 0x00E4, 0x7C: 0x00F6, 0x7D: 0x00F1,
    0x7E: 0x00FC, 0x7F: 0x00E0,
}  # fmt: skip
# TS 23.038 §6.2.1.1, extension table: code after 0x1B -> Unicode code point.
STANDARD_EXTENSION = {
    0x0A: 0x000C, 0x14: 0x005E, 0x28: 0x007B, 0x29: 0x007D, 0x2F: 0x005C, 0x3C: 0x005B, 0x3D: 0x007E,
    0x3E: 0x005D, 0x40: 0x007C, 0x65: 0x20AC,
}  # fmt: skip


def standard_basic() -> dict[int, str]:
    return {code: chr(STANDARD_NON_ASCII.get(code, code)) for code in range(0x80) if code != 0x1B}


def test_basic_table_matches_the_standard() -> None:
    expected = {char: code for code, char in standard_basic().items()}
    assert expected == BASIC_TABLE


def test_extension_table_matches_the_standard() -> None:
    expected = {chr(point): code for code, point in STANDARD_EXTENSION.items()}
    assert expected == EXTENSION_TABLE


@pytest.mark.parametrize(("code", "char"), sorted(standard_basic().items()))
def test_every_basic_code_round_trips(code: int, char: str) -> None:
    assert gsm7_encode(char) == bytes([code])
    assert gsm7_decode(bytes([code])) == char


@pytest.mark.parametrize(("code", "point"), sorted(STANDARD_EXTENSION.items()))
def test_every_extension_code_costs_two_septets(code: int, point: int) -> None:
    assert gsm7_encode(chr(point)) == bytes([0x1B, code])
    assert gsm7_decode(bytes([0x1B, code])) == chr(point)


def test_section_sign_not_backtick_at_0x5f() -> None:
    # The table in smpplib puts "`" here; the standard has "§" and no backtick at all.
    assert gsm7_encode("§") == b"\x5f"
    assert not is_gsm7("`")


def test_encode_error_names_the_character_and_its_index() -> None:
    with pytest.raises(ValueError, match=r"'’' \(U\+2019\) at index 3"):
        gsm7_encode("Don’t")


def test_decode_is_lenient_where_the_standard_says_so() -> None:
    assert gsm7_decode(b"\x1b\x41") == "A"  # undefined extension code shows the basic character
    assert gsm7_decode(b"A\x1b") == "A "  # lone escape shows as a space
    with pytest.raises(ValueError, match="index 1"):
        gsm7_decode(b"A\x80")


def test_pack_classic_hellohello_vector() -> None:
    septets = gsm7_encode("hellohello")
    assert pack_septets(septets).hex().upper() == "E8329BFD4697D9EC37"
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10) == septets


def reference_pack(septets: bytes, fill_bits: int) -> bytes:
    """Packing written as a bit string, least significant bit first, to check the arithmetic version."""
    bits = "0" * fill_bits + "".join(format(septet, "07b")[::-1] for septet in septets)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[index : index + 8][::-1], 2) for index in range(0, len(bits), 8))


@given(st.binary(max_size=200).map(lambda raw: bytes(b & 0x7F for b in raw)), st.integers(0, 6))
def test_pack_agrees_with_bit_string_and_unpacks(septets: bytes, fill_bits: int) -> None:
    packed = pack_septets(septets, fill_bits)
    assert packed == reference_pack(septets, fill_bits)
    assert unpack_septets(packed, len(septets), fill_bits) == septets


def test_pack_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="fill_bits"):
        pack_septets(b"a", 7)
    with pytest.raises(ValueError, match="index 1"):
        pack_septets(b"a\x80")
    with pytest.raises(ValueError, match="need 2 octets"):
        unpack_septets(b"\x00", 2)


def test_concat_udh() -> None:
    assert concat_udh(0x7F, 3, 2) == bytes.fromhex("0500037F0302")
    for bad in ((256, 1, 1), (0, 0, 1), (0, 2, 3), (0, 2, 0)):
        with pytest.raises(ValueError):
            concat_udh(*bad)


# Text drawn from every class that matters: basic GSM, extension (2 septets), BMP non-GSM, astral (2 units).
sms_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("abc XYZ019@£$¤§\n\rΔ_é"),
        st.sampled_from("€[]{}|^~\\\f"),
        st.sampled_from("жШ’…東ç"),
        st.sampled_from("😀🚨𝄞"),
    ),
    max_size=600,
)
gsm_text = st.text(alphabet=st.sampled_from("abc XYZ019@£$§\nΔé€[]{}|^~\\"), max_size=800)


def independent_segments(text: str) -> int:
    """Segment count computed on encoded bytes, backing a cut off an escape or a high surrogate."""
    if is_gsm7(text):
        data, single, per_part, unit = gsm7_encode(text), 160, 153, 1
    else:
        data, single, per_part, unit = text.encode("utf-16-be"), 140, 134, 2
    if len(data) <= single:
        return 1
    count, position = 0, 0
    while position < len(data):
        cut = min(position + per_part, len(data))
        if cut < len(data):
            last = data[cut - unit : cut]
            if (unit == 1 and last == b"\x1b") or (unit == 2 and 0xD8 <= last[0] <= 0xDB):
                cut -= unit
        count, position = count + 1, cut
    return count


@settings(max_examples=300)
@given(st.one_of(sms_text, gsm_text))
def test_plan_properties(text: str) -> None:
    plan = plan_sms(text)
    assert "".join(part.text for part in plan.parts) == text == plan.text
    assert plan.segments == independent_segments(text)
    gsm = plan.encoding == "gsm7"
    assert gsm == is_gsm7(text)
    assert plan.data_coding == (0x00 if gsm else 0x08)
    limit = (160 if gsm else 140) if plan.segments == 1 else (153 if gsm else 134)
    total = 0
    for part in plan.parts:
        assert len(part.payload) <= limit
        total += len(part.payload)
        if gsm:
            assert not part.payload.endswith(b"\x1b")
            assert gsm7_decode(part.payload) == part.text
        else:
            assert part.payload.decode("utf-16-be") == part.text  # fails on a split surrogate pair
    assert plan.units == (total if gsm else total // 2)


@given(sms_text)
def test_stats_agree_with_plan_and_units_left_is_exact(text: str) -> None:
    plan = plan_sms(text)
    stats = sms_stats(text)
    assert (stats.encoding, stats.units, stats.segments) == (plan.encoding, plan.units, plan.segments)
    filler = "a" if stats.encoding == "gsm7" else "ж"  # one unit each
    assert sms_stats(text + filler * stats.units_left).segments == stats.segments
    assert sms_stats(text + filler * (stats.units_left + 1)).segments == stats.segments + 1


def test_sizes_at_the_boundaries() -> None:
    assert plan_sms("a" * 160).segments == 1
    assert plan_sms("a" * 161).segments == 2
    assert [len(p.payload) for p in plan_sms("a" * 161).parts] == [153, 8]
    assert plan_sms("€" * 80).segments == 1  # 160 septets
    assert plan_sms("ж" * 70).segments == 1
    assert [len(p.text) for p in plan_sms("ж" * 71).parts] == [67, 4]
    # An escape sequence that would straddle the cut moves whole to the next part.
    parts = plan_sms("a" * 152 + "€" + "b" * 10).parts
    assert [len(p.payload) for p in parts] == [152, 12]
    # So does a surrogate pair.
    parts = plan_sms("ж" * 66 + "😀" + "ж" * 10).parts
    assert [p.text[-1] for p in parts] == ["ж", "ж"] and parts[1].text.startswith("😀")


def test_empty_text_is_one_empty_part() -> None:
    plan = plan_sms("")
    assert (plan.encoding, plan.units, plan.segments, plan.parts[0].payload) == ("gsm7", 0, 1, b"")


def test_too_long_and_invalid_text_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_PARTS}"):
        plan_sms("a" * (153 * MAX_PARTS + 1))
    assert sms_stats("a" * (153 * MAX_PARTS + 1)).segments == MAX_PARTS + 1
    with pytest.raises(ValueError, match=r"lone surrogate .* at index 1"):
        plan_sms("a\ud800")


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("“Evacuate now” – it’s… urgent", '"Evacuate now" - it\'s... urgent'),
        ("São Paulo, Łódź, Kraków, Ærøskøbing", "Sao Paulo, Lodz, Krakow, Ærøskøbing"),
        ("Mañana: 40°C, 104°F, 45° north", "Mañana: 40C, 104F, 45deg north"),
        ("façade\u00a0naïve\u200b ﬁre", "facade naive fire"),
        ("`quoted´ — «French»", "'quoted' - \"French\""),
    ],
)
def test_transliteration_examples(original: str, expected: str) -> None:
    assert transliterate_to_gsm7(original) == expected
    plan = plan_sms(original, transliterate=True)
    assert (plan.encoding, plan.text) == ("gsm7", expected)
    assert plan_sms(original).encoding == "ucs2"


def test_transliteration_keeps_the_original_when_something_cannot_be_represented() -> None:
    text = "Evacuate ‘now’ 東京 🚨"
    plan = plan_sms(text, transliterate=True)
    assert (plan.encoding, plan.text) == ("ucs2", text)
    stats = sms_stats(text, transliterate=True)
    assert stats.ucs2_chars == ("‘", "’", "東", "京", "🚨")
    assert not stats.transliterated


@given(sms_text)
def test_transliteration_never_costs_segments(text: str) -> None:
    with_stand_ins = plan_sms(text, transliterate=True)
    assert with_stand_ins.segments <= plan_sms(text).segments
    if with_stand_ins.encoding == "ucs2":
        assert with_stand_ins.text == text


def test_split_udh_reads_8_and_16_bit_references_and_refuses_a_header_longer_than_the_data() -> None:
    from alertcast.core.sms import ConcatInfo, split_udh

    assert split_udh(concat_udh(0x2A, 3, 2) + b"hi") == (ConcatInfo(0x2A, 3, 2), b"hi")
    sixteen = bytes([6, 0x08, 4, 0x12, 0x34, 2, 1]) + b"x"
    assert split_udh(sixteen) == (ConcatInfo(0x1234, 2, 1), b"x")
    other = bytes([4, 0x24, 2, 0xAB, 0xCD]) + b"plain"  # some other element, no concatenation
    assert split_udh(other) == (None, b"plain")
    with pytest.raises(ValueError, match="exceeds"):
        split_udh(bytes([9, 0x00, 3, 1]))
    with pytest.raises(ValueError, match="empty"):
        split_udh(b"")
