"""What a modem's error answer means for the message and for the modem.

``+CMS ERROR: <n>`` after ``AT+CMGS`` mixes three sources (3GPP TS 27.005 §3.2.5): 1–127 are RP causes from
the network (TS 24.011 Table 8.4), 128–255 TP failure causes from the service centre (TS 23.040
§9.2.3.22), 300 and up are the modem's own. Each code is sorted into one of three kinds:

- ``permanent``: the message cannot go to this number (unassigned number, invalid address, barred
  destination, a PDU the network refuses). Retrying will not help: FAILED, and the engine may fall back.
- ``temporary``: congestion, network failure, timeouts. RETRY after the engine's back-off.
- ``modem``: the fault is in this modem or its SIM (no network, SIM PIN, SIM gone, no SMS subscription).
  The message is RETRY too (an attempt is counted, so a bank of modems that all refuse cannot bounce it
  forever) and the modem is taken out of service until a health check finds it well again.

When in doubt a code is ``temporary``: for warnings, a wrong "permanent" loses a recipient on this route,
while a wrong "temporary" only costs a bounded number of retries. The table is in ``docs/modems.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal["permanent", "temporary", "modem"]

_CMS: dict[int, tuple[ErrorKind, str]] = {
    # RP causes (TS 24.011 Table 8.4, mobile originating)
    1: ("permanent", "unassigned (unallocated) number"),
    8: ("modem", "operator determined barring of this SIM"),
    10: ("permanent", "call barred for this destination"),
    17: ("temporary", "network failure"),
    21: ("temporary", "short message transfer rejected (often: SIM out of credit)"),
    22: ("temporary", "congestion / memory capacity exceeded"),
    27: ("temporary", "destination out of service"),
    28: ("modem", "unidentified subscriber (this SIM is not known to the network)"),
    29: ("temporary", "facility rejected"),
    30: ("permanent", "unknown subscriber"),
    38: ("temporary", "network out of order"),
    41: ("temporary", "temporary failure"),
    42: ("temporary", "congestion"),
    47: ("temporary", "resources unavailable"),
    50: ("modem", "requested facility not subscribed (no SMS on this SIM)"),
    69: ("temporary", "requested facility not implemented"),
    81: ("temporary", "invalid short message transfer reference value"),
    95: ("permanent", "semantically incorrect message"),
    96: ("permanent", "invalid mandatory information"),
    97: ("permanent", "message type non-existent or not implemented"),
    98: ("temporary", "message not compatible with short message protocol state"),
    99: ("permanent", "information element non-existent or not implemented"),
    111: ("temporary", "protocol error, unspecified"),
    127: ("temporary", "interworking, unspecified"),
    # TP failure causes (TS 23.040 §9.2.3.22)
    0x80: ("permanent", "telematic interworking not supported"),
    0x81: ("permanent", "short message type 0 not supported"),
    0x82: ("permanent", "cannot replace short message"),
    0x8F: ("permanent", "unspecified TP-PID error"),
    0x90: ("permanent", "data coding scheme (alphabet) not supported"),
    0x91: ("permanent", "message class not supported"),
    0x9F: ("permanent", "unspecified TP-DCS error"),
    0xB0: ("permanent", "TPDU not supported"),
    0xC0: ("temporary", "service centre busy"),
    0xC1: ("modem", "no service centre subscription"),
    0xC2: ("temporary", "service centre system failure"),
    0xC3: ("permanent", "invalid SME address"),
    0xC4: ("permanent", "destination SME barred"),
    0xC5: ("temporary", "rejected as a duplicate short message"),
    0xC6: ("permanent", "TP-VPF not supported"),
    0xC7: ("permanent", "TP-VP not supported"),
    0xD0: ("temporary", "SIM SMS storage full"),
    0xD4: ("temporary", "SIM application toolkit busy"),
    0xFF: ("temporary", "unspecified error cause"),
    # The modem's own (TS 27.005 §3.2.5)
    300: ("modem", "ME failure"),
    301: ("modem", "SMS service of ME reserved"),
    302: ("modem", "operation not allowed"),
    303: ("modem", "operation not supported"),
    304: ("permanent", "invalid PDU mode parameter (the modem refused this PDU)"),
    305: ("permanent", "invalid text mode parameter"),
    310: ("modem", "SIM not inserted"),
    311: ("modem", "SIM PIN required"),
    312: ("modem", "PH-SIM PIN required"),
    313: ("modem", "SIM failure"),
    314: ("modem", "SIM busy"),
    315: ("modem", "SIM wrong"),
    316: ("modem", "SIM PUK required"),
    317: ("modem", "SIM PIN2 required"),
    318: ("modem", "SIM PUK2 required"),
    320: ("modem", "memory failure"),
    321: ("modem", "invalid memory index"),
    322: ("modem", "memory full"),
    330: ("modem", "SMSC address unknown (set smsc in the configuration)"),
    331: ("modem", "no network service"),
    332: ("temporary", "network timeout"),
    340: ("temporary", "no +CNMA acknowledgement expected"),
    500: ("temporary", "unknown error"),
}

_CME: dict[int, tuple[ErrorKind, str]] = {
    0: ("modem", "phone failure"),
    3: ("modem", "operation not allowed"),
    4: ("modem", "operation not supported"),
    10: ("modem", "SIM not inserted"),
    11: ("modem", "SIM PIN required"),
    12: ("modem", "SIM PUK required"),
    13: ("modem", "SIM failure"),
    14: ("modem", "SIM busy"),
    15: ("modem", "SIM wrong"),
    16: ("modem", "incorrect password"),
    17: ("modem", "SIM PIN2 required"),
    18: ("modem", "SIM PUK2 required"),
    30: ("modem", "no network service"),
    31: ("temporary", "network timeout"),
    32: ("modem", "network not allowed, emergency calls only"),
    100: ("temporary", "unknown error"),
}


@dataclass(frozen=True, slots=True)
class ModemError:
    """A classified error answer, with a reason a person can read."""

    kind: ErrorKind
    reason: str
    code: int | None


def _ranged_cms(code: int) -> tuple[ErrorKind, str]:
    if 0x80 <= code <= 0x8F:
        return "permanent", "TP-PID error"
    if 0x90 <= code <= 0x9F:
        return "permanent", "TP-DCS error"
    if 0xA0 <= code <= 0xAF:
        return "permanent", "TP command error"
    if 0xE0 <= code <= 0xFE:
        return "temporary", "application-specific error"
    if code >= 512:
        return "temporary", "manufacturer-specific error"
    return "temporary", "unlisted error"


def classify(final: str) -> ModemError:
    """Classify a final result line: ``+CMS ERROR: 42``, ``+CME ERROR: 10``, a verbose form, or ``ERROR``."""
    head, _, value = final.partition(":")
    value = value.strip()
    family = head.strip().upper()
    if family not in ("+CMS ERROR", "+CME ERROR"):
        return ModemError(
            "temporary", f"{final.strip() or 'ERROR'} (no error code; AT+CMEE=1 not in effect?)", None
        )
    if not value.isdigit():
        return ModemError("temporary", f"{family}: {value}", None)
    code = int(value)
    if family == "+CMS ERROR":
        kind, text = _CMS.get(code) or _ranged_cms(code)
    else:
        kind, text = _CME.get(code, ("temporary", "unlisted error"))
    return ModemError(kind, f"{family}: {code} ({text})", code)
