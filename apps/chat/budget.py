"""The token budget shown before sending: "N of M tokens" and which documents are in."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .context import build_context
from .models import Conversation
from .selectors import scope_documents


@dataclass(frozen=True)
class Budget:
    used: int  # estimated prompt tokens: documents + instructions (before any question)
    limit: int  # the window of the model that would answer
    model: str
    documents: list[str]
    narrowed: list[str]
    fits: bool
    reason: str

    def as_json(self) -> dict:
        return asdict(self)


def budget_for(conversation: Conversation) -> Budget:
    documents = scope_documents(conversation)
    plan = build_context(documents, "?", [], model=conversation.model_choice)
    names = {d.id: d.name for d in documents}
    return Budget(
        used=plan.prompt_tokens,
        limit=plan.model.context_window if plan.model else 0,
        model=plan.model.id if plan.model else "",
        documents=[names[i] for i in plan.included],
        narrowed=[names[i] for i in plan.narrowed],
        fits=plan.fits,
        reason=plan.reason,
    )
