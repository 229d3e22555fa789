"""The model catalogue: context windows and prices (CNY per million tokens), from settings.

Defaults come from reference/moonshot-api.md §7.2 (the 2025-11 price page). The provider retires
models over time, so the ids in use are checked against GET /v1/models and reported to admins
(see `missing_models`) rather than failing in the middle of a chat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_window: int
    input_price: Decimal  # CNY per 1M prompt tokens (cache miss)
    output_price: Decimal  # CNY per 1M completion tokens
    cached_input_price: Decimal | None = None  # CNY per 1M cached prompt tokens; None: no discount

    def cost_cny(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> Decimal:
        """What a call cost. `prompt_tokens` includes the cached ones, as the provider reports."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_price = (
            self.input_price if self.cached_input_price is None else self.cached_input_price
        )
        million = Decimal(1_000_000)
        total = (
            Decimal(prompt_tokens - cached) * self.input_price
            + Decimal(cached) * cached_price
            + Decimal(completion_tokens) * self.output_price
        ) / million
        return total.quantize(Decimal("0.000001"))


DEFAULT_MODELS: dict[str, dict] = {
    "moonshot-v1-8k": {"context_window": 8_192, "input_price": "2", "output_price": "10"},
    "moonshot-v1-32k": {"context_window": 32_768, "input_price": "5", "output_price": "20"},
    "moonshot-v1-128k": {"context_window": 131_072, "input_price": "10", "output_price": "30"},
    "kimi-k2-0905-preview": {
        "context_window": 262_144,
        "input_price": "4",
        "output_price": "16",
        "cached_input_price": "1",
    },
    "kimi-k2-turbo-preview": {
        "context_window": 262_144,
        "input_price": "8",
        "output_price": "58",
        "cached_input_price": "1",
    },
    "kimi-latest": {
        "context_window": 131_072,
        "input_price": "10",
        "output_price": "30",
        "cached_input_price": "1",
    },
}


def _build(model_id: str, spec: dict) -> ModelInfo:
    cached = spec.get("cached_input_price")
    return ModelInfo(
        id=model_id,
        context_window=int(spec["context_window"]),
        input_price=Decimal(str(spec["input_price"])),
        output_price=Decimal(str(spec["output_price"])),
        cached_input_price=None if cached is None else Decimal(str(cached)),
    )


def all_models() -> dict[str, ModelInfo]:
    """Every model the catalogue knows: defaults, overridden or extended by MOONSHOT_MODELS."""
    specs = {**DEFAULT_MODELS, **getattr(settings, "MOONSHOT_MODELS", {})}
    return {model_id: _build(model_id, spec) for model_id, spec in specs.items()}


def chat_models() -> list[ModelInfo]:
    """The models chat may use, smallest window first (the order "auto" tries them in)."""
    catalogue = all_models()
    chosen = [catalogue[m] for m in settings.MOONSHOT_CHAT_MODELS if m in catalogue]
    return sorted(chosen, key=lambda m: m.context_window)


def get_model(model_id: str) -> ModelInfo | None:
    return all_models().get(model_id)


def missing_models(available_ids: Iterable[str]) -> list[str]:
    """Configured chat models that GET /v1/models did not list (retired or not permitted)."""
    available = set(available_ids)
    return [m for m in settings.MOONSHOT_CHAT_MODELS if m not in available]
