"""Built-in wording around an alert's own text, per language.

The alert's words come from its CAP ``info`` block in the reader's language; these templates only supply
the labels and the acknowledgement hint around them, so a Spanish reader does not get "Until … Reply ACK".
Configuration can add languages or override any of these (``[compose.templates.LANG]``).
"""

from __future__ import annotations

from collections.abc import Mapping

from alertcast.core.render import MessageTemplates

SPANISH = MessageTemplates(
    sms="[{headline}. ][{area}. ][{instruction} ][{description} ][Hasta {expires}. ][{web} ][- {sender}. ][{ack}.]",
    body=(
        "[{headline}\n\n][{area}\n\n][{description}\n\n][{instruction}\n\n][Vigente hasta: {expires}\n]"
        "[Más información: {web}\n][Contacto: {contact}\n][De: {sender}\n][\n{ack}\n]"
    ),
    ack_hint="Responda ACK {code}",
    expires_format="%d/%m %H:%M",
)
FRENCH = MessageTemplates(
    sms="[{headline}. ][{area}. ][{instruction} ][{description} ][Jusqu'au {expires}. ][{web} ][- {sender}. ][{ack}.]",
    body=(
        "[{headline}\n\n][{area}\n\n][{description}\n\n][{instruction}\n\n][Valable jusqu'au : {expires}\n]"
        "[Plus d'informations : {web}\n][Contact : {contact}\n][De : {sender}\n][\n{ack}\n]"
    ),
    ack_hint="Répondez ACK {code}",
    expires_format="%d/%m %H:%M",
)
DEFAULT_TEMPLATES: Mapping[str, MessageTemplates] = {"*": MessageTemplates(), "es": SPANISH, "fr": FRENCH}
"""Built-in wording: English for any language without its own, Spanish and French labels and hints.
The alert's own text always comes from its CAP info block in the reader's language; these are only the
labels around it ("Until", "Reply ACK")."""
