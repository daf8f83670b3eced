"""What the channels delivered to us (`inbound_messages`): kept so that a gateway's retry of
one message is answered the same way and not acted on twice, then forgotten."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from app.core.database import delete_in_chunks
from app.models import InboundMessage


def purge(now: datetime, days: int, *, checkpoint: Callable[[], None]) -> int:
    """Delete messages received more than `days` ago (LINLI_KEEP_INBOUND_DAYS), a chunk at
    a time. Gateways retry within hours, so a day's worth would do; the rest is for a
    worker looking into what someone texted."""
    return delete_in_chunks(
        InboundMessage,
        InboundMessage.received_at < now - timedelta(days=days),
        checkpoint=checkpoint,
    )
