"""``scheduling.ticks.v1`` (internal): a deadline fell due; check this booking now.

The scheduling service's timer sends one; the agent that owns the booking's partition
handles it in order with the booking's other events. A tick is only a prompt: the decision
is made from the booking's state, so a repeated or misdirected tick does nothing.

``published`` names the outputs the timer already published for this deadline (acknowledged
by the broker): the agent records them in the booking's state without publishing them again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from schemas.envelope import Instant


class DeadlineTick(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["deadline.tick"] = "deadline.tick"
    key: str
    due_at: Instant
    sent_at: Instant
    published: tuple[str, ...] = ()  # output ids the timer already published (acknowledged)


DEADLINE_TICK = TypeAdapter(DeadlineTick)
