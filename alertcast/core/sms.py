"""SMS text encoding and splitting: GSM 03.38 (3GPP TS 23.038) default alphabet or UCS-2, concatenation.

The project keeps its own GSM 7-bit table rather than a transport library's: smpplib's table places "`" where
the standard has "§", and its splitter can cut an escape sequence or a surrogate pair in two. Every channel
(SMPP, modem PDU mode, simulators) plans a message here so that what is counted, shown to the operator and
sent is the same thing.

Sizes (TS 23.040): one SMS carries 140 octets of user data, i.e. 160 septets or 70 UTF-16 code units. A part
of a concatenated message loses 6 octets to the concatenation header (and one fill bit in 7-bit mode), which
leaves 153 septets or 67 code units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

ESCAPE = 0x1B
SINGLE_GSM7_SEPTETS = 160
PART_GSM7_SEPTETS = 153
SINGLE_UCS2_UNITS = 70
PART_UCS2_UNITS = 67
MAX_PARTS = 255
"""The concatenation header counts parts in one octet."""

# GSM 03.38 default alphabet, code 0x00..0x7F in order. 0x1B is the escape to the extension table and has no
# character of its own. 0x09 is shown as capital C-cedilla, as in the standard's table and in handset
# implementations (Unicode's GSM0338.TXT maps it to the small letter instead, with a note saying so).
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(_BASIC_TABLE) == 128

# GSM 03.38 extension table: characters sent as 0x1B followed by this code (two septets each).
EXTENSION_TABLE: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

BASIC_TABLE: dict[str, int] = {char: code for code, char in enumerate(_BASIC_TABLE) if code != ESCAPE}
_DECODE_BASIC = {code: char for char, code in BASIC_TABLE.items()}
_DECODE_EXTENSION = {code: char for char, code in EXTENSION_TABLE.items()}


@dataclass(frozen=True, slots=True)
class SmsPart:
    """One SMS of a message.

    ``payload`` is what the transport carries: for gsm7 the unpacked septets, one GSM 03.38 code per byte with
    the escape 0x1B included (SMPP ``data_coding`` 0); for ucs2 the UTF-16-BE bytes.
    """

    text: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SmsPlan:
    """How a text travels: its encoding, its size and its parts (one part when it fits a single SMS)."""

    text: str
    encoding: Encoding
    units: int
    parts: tuple[SmsPart, ...]

    @property
    def segments(self) -> int:
        return len(self.parts)

    @property
    def data_coding(self) -> int:
        """SMPP ``data_coding`` and TP-DCS value: 0x00 GSM default alphabet, 0x08 UCS-2."""
        return 0x00 if self.encoding == "gsm7" else 0x08


@dataclass(frozen=True, slots=True)
class SmsStats:
    """What a live composer shows under the text box."""

    chars: int
    encoding: Encoding
    units: int
    segments: int
    units_left: int
    """Septets or code units still free in the last segment before another segment is needed."""
    per_segment: int
    transliterated: bool
    """True when the text was changed to fit GSM 7-bit (curly quotes, accents, ...)."""
    ucs2_chars: tuple[str, ...]
    """The distinct characters that force UCS-2, in order of appearance; empty for gsm7."""


def _char_label(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


def gsm7_septets(char: str) -> int | None:
    """Septets one character costs in the GSM 7-bit alphabet, or None when it has no GSM 7-bit code."""
    if char in BASIC_TABLE:
        return 1
    if char in EXTENSION_TABLE:
        return 2
    return None


def is_gsm7(text: str) -> bool:
    return all(char in BASIC_TABLE or char in EXTENSION_TABLE for char in text)


def gsm7_encode(text: str) -> bytes:
    """Unpacked septets for ``text``; extension characters become 0x1B + code."""
    out = bytearray()
    for index, char in enumerate(text):
        code = BASIC_TABLE.get(char)
        if code is not None:
            out.append(code)
            continue
        code = EXTENSION_TABLE.get(char)
        if code is None:
            label = _char_label(char)
            raise ValueError(f"character {label} at index {index} is not in the GSM 03.38 alphabet")
        out += bytes((ESCAPE, code))
    return bytes(out)


def gsm7_decode(septets: bytes) -> str:
    """Text for unpacked septets.

    Lenient where TS 23.038 tells a receiver to be: an escape followed by a code the extension table does not
    define shows the default-alphabet character, and a lone trailing escape shows as a space.
    """
    chars: list[str] = []
    index = 0
    while index < len(septets):
        code = septets[index]
        if code > 0x7F:
            raise ValueError(f"byte 0x{code:02X} at index {index} is not a GSM 7-bit septet (must be < 0x80)")
        if code != ESCAPE:
            chars.append(_DECODE_BASIC[code])
            index += 1
            continue
        if index + 1 == len(septets):
            chars.append(" ")
            break
        following = septets[index + 1]
        if following > 0x7F:
            raise ValueError(f"byte 0x{following:02X} at index {index + 1} is not a GSM 7-bit septet")
        if following in _DECODE_EXTENSION:
            chars.append(_DECODE_EXTENSION[following])
        else:
            chars.append(" " if following == ESCAPE else _DECODE_BASIC[following])
        index += 2
    return "".join(chars)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets into octets, least significant bit first (TS 23.038 §6.1.2.1).

    ``fill_bits`` zero bits come first so that the septets start on a septet boundary after a user data
    header (TS 23.040 §9.2.3.24).
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    out = bytearray()
    accumulator = 0
    bit_count = fill_bits
    for index, septet in enumerate(septets):
        if septet > 0x7F:
            raise ValueError(f"byte 0x{septet:02X} at index {index} is not a septet (must be < 0x80)")
        accumulator |= septet << bit_count
        bit_count += 7
        while bit_count >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            bit_count -= 8
    if bit_count:
        out.append(accumulator & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Inverse of :func:`pack_septets`: read ``count`` septets after ``fill_bits`` leading bits."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    needed = (fill_bits + 7 * count + 7) // 8
    if len(data) < needed:
        raise ValueError(f"{count} septets need {needed} octets, only {len(data)} given")
    bits = int.from_bytes(data[:needed], "little") >> fill_bits
    return bytes((bits >> (7 * index)) & 0x7F for index in range(count))


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Where a part belongs in a concatenated message (TS 23.040 §9.2.3.24.1 / .8)."""

    reference: int
    total: int
    sequence: int


def concat_from_header(header: bytes) -> ConcatInfo | None:
    """The concatenation element (8- or 16-bit reference) of a user data header, without its length
    octet; None when the header carries none. Raises ValueError for an element that runs past the end."""
    index = 0
    found: ConcatInfo | None = None
    while index + 2 <= len(header):
        identifier, length = header[index], header[index + 1]
        value = header[index + 2 : index + 2 + length]
        if len(value) < length:
            raise ValueError(f"user data header element 0x{identifier:02X} runs past the header's end")
        if identifier == 0x00 and length == 3:
            found = ConcatInfo(reference=value[0], total=value[1], sequence=value[2])
        elif identifier == 0x08 and length == 4:
            found = ConcatInfo(reference=int.from_bytes(value[:2], "big"), total=value[2], sequence=value[3])
        index += 2 + length
    return found


def split_udh(user_data: bytes) -> tuple[ConcatInfo | None, bytes]:
    """Take the user data header (length octet first) off octet user data: its concatenation element, if
    any, and the payload after it. Raises ValueError when the header is longer than the data."""
    if not user_data:
        raise ValueError("a user data header was announced, but the user data is empty")
    length = user_data[0]
    if length + 1 > len(user_data):
        raise ValueError(f"user data header length {length} exceeds the user data ({len(user_data)} octets)")
    return concat_from_header(user_data[1 : length + 1]), user_data[length + 1 :]


def concat_udh(reference: int, total: int, sequence: int) -> bytes:
    """User data header with the concatenation element, 8-bit reference (IEI 0x00): 6 octets in all."""
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"concatenation reference must be 0..255, got {reference}")
    if not 1 <= total <= MAX_PARTS:
        raise ValueError(f"concatenation total must be 1..{MAX_PARTS}, got {total}")
    if not 1 <= sequence <= total:
        raise ValueError(f"concatenation sequence must be 1..{total}, got {sequence}")
    return bytes((0x05, 0x00, 0x03, reference, total, sequence))


def _ucs2_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _char_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [1 if char in BASIC_TABLE else 2 for char in text]
    return [_ucs2_units(char) for char in text]


def _split(text: str, costs: list[int], capacity: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``capacity`` units, only between characters.

    Cutting between characters (never inside one) is what keeps an escape sequence or a surrogate pair whole.
    """
    pieces: list[str] = []
    start = 0
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > capacity:
            pieces.append(text[start:index])
            start, used = index, 0
        used += cost
    pieces.append(text[start:])
    return pieces


def _encode_part(text: str, encoding: Encoding) -> bytes:
    return gsm7_encode(text) if encoding == "gsm7" else text.encode("utf-16-be")


def _capacities(encoding: Encoding) -> tuple[int, int]:
    if encoding == "gsm7":
        return SINGLE_GSM7_SEPTETS, PART_GSM7_SEPTETS
    return SINGLE_UCS2_UNITS, PART_UCS2_UNITS


@dataclass(frozen=True, slots=True)
class _Layout:
    text: str
    encoding: Encoding
    units: int
    pieces: list[str]
    per_segment: int


def _layout(text: str, encoding: Encoding) -> _Layout:
    costs = _char_costs(text, encoding)
    units = sum(costs)
    single, per_part = _capacities(encoding)
    if units <= single:
        return _Layout(text, encoding, units, [text], single)
    return _Layout(text, encoding, units, _split(text, costs, per_part), per_part)


def _check_no_lone_surrogates(text: str) -> None:
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            label = _char_label(char)
            raise ValueError(f"lone surrogate {label} at index {index}: the text is not valid Unicode")


def _choose_layout(text: str, transliterate: bool) -> _Layout:
    if is_gsm7(text):
        return _layout(text, "gsm7")
    _check_no_lone_surrogates(text)
    # UCS-2 carries the original faithfully; a half-transliterated text would only be worse.
    original = _layout(text, "ucs2")
    if transliterate:
        # Imported here because the transliteration rules are built on this module's table.
        from alertcast.core.transliterate import transliterate_to_gsm7

        converted = transliterate_to_gsm7(text)
        if is_gsm7(converted):
            candidate = _layout(converted, "gsm7")
            # Stand-ins can be longer ("…" is three septets): keep UCS-2 if it needs fewer segments.
            if len(candidate.pieces) <= len(original.pieces):
                return candidate
    return original


def plan_sms(text: str, *, transliterate: bool = False) -> SmsPlan:
    """Choose the encoding for ``text`` and split it into parts that each fit one SMS.

    GSM 7-bit when every character has a code, else UCS-2. With ``transliterate``, characters that have a
    faithful GSM 7-bit stand-in (see :mod:`alertcast.core.transliterate`) are replaced first, and the text
    only stays UCS-2 when something still cannot be represented (or, rarely, when the stand-ins would need
    more segments than UCS-2 does).
    """
    layout = _choose_layout(text, transliterate)
    if len(layout.pieces) > MAX_PARTS:
        raise ValueError(
            f"text needs {len(layout.pieces)} SMS parts ({layout.units} {layout.encoding} units); "
            f"one message can have at most {MAX_PARTS}"
        )
    encoding = layout.encoding
    parts = tuple(SmsPart(text=piece, payload=_encode_part(piece, encoding)) for piece in layout.pieces)
    return SmsPlan(text=layout.text, encoding=layout.encoding, units=layout.units, parts=parts)


def sms_stats(text: str, *, transliterate: bool = False) -> SmsStats:
    """Counts for a composer: characters, encoding, units, segments and room left in the last segment.

    Unlike :func:`plan_sms` this never refuses a text for being too long: the composer shows the count.
    """
    layout = _choose_layout(text, transliterate)
    last_used = sum(_char_costs(layout.pieces[-1], layout.encoding))
    forcing: dict[str, None] = {}
    if layout.encoding == "ucs2":
        forcing = dict.fromkeys(char for char in text if gsm7_septets(char) is None)
    return SmsStats(
        chars=len(text),
        encoding=layout.encoding,
        units=layout.units,
        segments=len(layout.pieces),
        units_left=layout.per_segment - last_used,
        per_segment=layout.per_segment,
        transliterated=layout.text != text,
        ucs2_chars=tuple(forcing),
    )
