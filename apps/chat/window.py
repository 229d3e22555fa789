"""A planned request must fit the model's window by the provider's count, not only by ours.

The context builder plans with the local token estimate (`apps.moonshot.tokens`), which leans
high for ordinary prose but is not the provider's tokenizer: for some texts (long digit runs,
tables, code, scripts the estimate knows little of) the provider counts more, and a request
planned up to the last estimated token would get 400 "exceeded model token limit" (reference
§4.2, §5.1). So a plan that comes within CHECK_ABOVE_SHARE of its window is counted by the
provider (`POST /v1/tokenizers/estimate-token-count`, reference §8) and, if that count would
overflow, planned again with the estimate scaled by what the provider counted. Plans far from
the window are sent as they are, without the extra request.

What can fail: the count itself (network, 429, an implementation without the endpoint). The plan
is then made again with FALLBACK_RATIO of headroom, which covers the usual gap between the
estimate and a real tokenizer; the send can still be refused, and that refusal is reported to
the user in words (`errors.ContextTooLongError`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apps.moonshot import errors

from .context import ContextPlan

logger = logging.getLogger(__name__)

CHECK_ABOVE_SHARE = 0.9  # of the window: closer than this, the local estimate is not trusted
FALLBACK_RATIO = 1.15  # provider tokens per estimated token assumed when it cannot count
MARGIN = 1.01  # on top of the counted ratio: the replanned request is not the counted one
MAX_COUNTS = 3


def fit_to_window(
    plan: ContextPlan,
    replan: Callable[[float], ContextPlan],
    count: Callable[[ContextPlan], int],
) -> ContextPlan:
    """`plan`, or a plan made again by `replan(token_ratio)` whose provider count (by `count`,
    which raises MoonshotError when it cannot) fits the window beside `max_tokens`.

    The returned plan's `prompt_tokens` is the provider's count where one was made, so the
    admission controller charges what the provider will charge."""
    ratio = 1.0
    for _ in range(MAX_COUNTS):
        window = plan.model.context_window
        if (
            not plan.fits
            or plan.prompt_tokens * ratio + plan.max_tokens <= window * CHECK_ABOVE_SHARE
        ):
            return plan
        try:
            counted = count(plan)
        except errors.MoonshotError as error:
            logger.info("token count unavailable (%s); planning with headroom", error.admin_message)
            return replan(FALLBACK_RATIO) if ratio < FALLBACK_RATIO else plan
        if counted + plan.max_tokens <= window:
            plan.prompt_tokens = max(plan.prompt_tokens, counted)
            return plan
        ratio = max(ratio * MARGIN, counted / max(plan.prompt_tokens, 1) * MARGIN)
        logger.info(
            "provider counts %d prompt tokens where %d were estimated; planning again",
            counted,
            plan.prompt_tokens,
        )
        plan = replan(ratio)
    return plan
