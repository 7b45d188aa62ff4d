"""The gate every CAP document passes before any XML parser builds a tree from it.

CAP arrives from feeds and folders we do not control, so the bytes are treated as hostile until proven
otherwise. A CAP alert never needs a DTD, so any document type or entity declaration is refused outright:
that closes XXE (local file or network reads), billion-laughs and quadratic-blowup entity expansion in one
rule, instead of trusting parser flags alone. The check reads the prolog in the document's own encoding
(BOM or XML-spec auto-detection), so a UTF-16 document cannot hide its DOCTYPE from a byte-level search.

Only then is the document parsed, from bytes (so the prolog's encoding declaration, e.g. ISO-8859-1, is
honoured and a UTF-8 BOM is understood), by an lxml parser that resolves no entities, loads no DTD, touches
no network and keeps libxml2's size and depth limits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lxml import etree

from alertcast.cap.issues import CapIssue

DEFAULT_MAX_BYTES = 5_000_000
DOCUMENT_PATH = "document"

_BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
# First four bytes of "<?xm" or "<" without a byte-order mark (XML 1.0, appendix F).
_UNMARKED_STARTS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00\x3c", "utf-32-be"),
    (b"\x3c\x00\x00\x00", "utf-32-le"),
    (b"\x00\x3c\x00\x3f", "utf-16-be"),
    (b"\x3c\x00\x3f\x00", "utf-16-le"),
)
_EBCDIC_START = b"\x4c\x6f\xa7\x94"
_XML_WHITESPACE = " \t\r\n"
_ASCII_WHITESPACE = (b" ", b"\t", b"\r", b"\n")


class CapRefused(Exception):
    """The document was refused before (or while) parsing; ``rule`` and ``message`` say why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message

    @property
    def issue(self) -> CapIssue:
        return CapIssue(DOCUMENT_PATH, self.rule, self.message)


@dataclass(frozen=True, slots=True)
class GuardedDocument:
    """A document that passed the guard: its parsed root element and the encoding it was read in."""

    root: etree._Element
    encoding: str


_thread_state = threading.local()


def _hardened_parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers must not be shared between threads."""
    parser = getattr(_thread_state, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            attribute_defaults=False,
            collect_ids=False,
            remove_comments=True,
            remove_pis=True,
        )
        _thread_state.parser = parser
    return parser


def guard_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> GuardedDocument:
    """Check ``data`` and parse it safely, or raise :class:`CapRefused` naming the reason."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"CAP documents are read as bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise CapRefused(
            "too-large",
            f"document is {len(data):,} bytes, over the {max_bytes:,}-byte limit for one CAP document",
        )
    if not data.strip():
        raise CapRefused("empty", "document is empty")
    if data[:1] in _ASCII_WHITESPACE:
        # Servers often emit a newline before "<?xml", which XML forbids; it is transport noise, not content.
        data = data.lstrip(b" \t\r\n")
    prolog_text = _decode_for_prolog_scan(data)
    _check_prolog(prolog_text)
    root = _parse(data)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Unreachable if the prolog scan is right; kept so a scanner bug cannot open the door.
        raise CapRefused("doctype", "document type declaration found while parsing; refused")
    return GuardedDocument(root=root, encoding=docinfo.encoding or "UTF-8")


def _decode_for_prolog_scan(data: bytes) -> str:
    """Text good enough to find markup in the prolog, decoded in the document's own byte layout."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return data[len(mark) :].decode(codec, errors="replace")
    for start, codec in _UNMARKED_STARTS:
        if data.startswith(start):
            return data.decode(codec, errors="replace")
    if data.startswith(_EBCDIC_START):
        raise CapRefused("unsupported-encoding", "EBCDIC-encoded XML is not supported")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CapRefused(
            "not-xml",
            f"binary data, not XML: NUL byte at offset {nul} (UTF-16/32 text needs a byte-order mark)",
        )
    # Every ASCII-compatible encoding (UTF-8, ISO-8859-x, windows-125x, ...) writes markup as ASCII bytes.
    return data.decode("latin-1")


def _check_prolog(text: str) -> None:
    """Walk the prolog up to the root element; refuse anything but comments and processing instructions."""
    position = 0
    length = len(text)
    while True:
        while position < length and text[position] in _XML_WHITESPACE:
            position += 1
        if position >= length:
            raise CapRefused("not-xml", "no root element: only an XML declaration, comments or whitespace")
        if text[position] != "<":
            raise CapRefused(
                "not-xml", f"not XML: expected '<' but the document starts with {_snippet(text, position)}"
            )
        if text.startswith("<?", position):
            position = _skip_past(text, position, "?>", "processing instruction")
        elif text.startswith("<!--", position):
            position = _skip_past(text, position, "-->", "comment")
        elif text.startswith("<!", position):
            raise CapRefused("doctype", _declaration_refusal(text, position))
        else:
            return


def _skip_past(text: str, position: int, terminator: str, what: str) -> int:
    end = text.find(terminator, position + 2)
    if end < 0:
        raise CapRefused("not-well-formed", f"not well-formed XML: unterminated {what} in the prolog")
    return end + len(terminator)


def _declaration_refusal(text: str, position: int) -> str:
    declaration = text[position : position + 40].split("\n")[0]
    upper = text[position:].upper()
    if upper.startswith("<!DOCTYPE HTML"):
        return "document is an HTML page (<!DOCTYPE html>), not CAP"
    if "<!ENTITY" in upper:
        kind = "entity declarations (<!ENTITY ...>)"
    else:
        kind = f"a document type declaration ({declaration!r})"
    return (
        f"document contains {kind}; DTDs and entities are refused because they enable XXE and "
        "entity-expansion attacks, and CAP needs neither"
    )


def _snippet(text: str, position: int) -> str:
    return repr(text[position : position + 24])


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _hardened_parser())
    except etree.XMLSyntaxError as error:
        line, column = error.position
        message = error.msg.rsplit(", line ", 1)[0] if error.msg else "syntax error"
        raise CapRefused(
            "not-well-formed", f"not well-formed XML at line {line}, column {column}: {message}"
        ) from None
    except (ValueError, LookupError) as error:  # unknown encoding names, impossible byte layouts
        raise CapRefused("not-well-formed", f"cannot read the document: {error}") from None
    if root is None:
        raise CapRefused("not-xml", "no root element")
    return root
