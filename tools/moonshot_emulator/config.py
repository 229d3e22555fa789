"""The emulator's settings: key, limits, delays and model catalogue.

Every field may be changed while the server runs (tests set `emu.config.rpm = 3`); handlers read
the config on each request. `update()` is what the HTTP control plane and the CLI use, and it
refuses unknown names and wrong types so a typo cannot silently leave a limit off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# id -> context window. The moonshot-v1 and kimi ids of reference §7.2; tests may retire one by
# deleting it from `config.models`.
DEFAULT_MODELS: dict[str, int] = {
    "moonshot-v1-8k": 8_192,
    "moonshot-v1-32k": 32_768,
    "moonshot-v1-128k": 131_072,
    "moonshot-v1-auto": 131_072,
    "moonshot-v1-8k-vision-preview": 8_192,
    "moonshot-v1-32k-vision-preview": 32_768,
    "moonshot-v1-128k-vision-preview": 131_072,
    "kimi-latest": 131_072,
    "kimi-k2-0905-preview": 262_144,
    "kimi-k2-0711-preview": 131_072,
    "kimi-k2-turbo-preview": 262_144,
}


@dataclass
class EmulatorConfig:
    api_key: str = "sk-emulator"
    # Rate limits (None = unlimited), per reference §6: whichever is hit first answers 429.
    concurrency: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    tpd: int | None = None
    # Files API limits (reference §2.1).
    max_files: int = 1000
    max_file_bytes: int = 100 * 1024 * 1024
    max_total_bytes: int = 10 * 1024**3
    purposes: tuple[str, ...] = ("file-extract",)
    # Streaming pace: seconds before the first chunk, seconds between chunks, characters per chunk.
    chunk_delay: float = 0.0
    first_token_delay: float = 0.0
    chunk_chars: int = 8
    # Seconds an upload takes to extract before its FileObject returns (the provider extracts at
    # upload time; real files take a while), so tests can catch a worker mid-extraction.
    extract_delay: float = 0.0
    default_max_tokens: int = 1024
    # Prompt tokens the emulator counts per token DocQA's local estimate counts. The provider's
    # tokenizer is not the app's estimate: above 1.0 it counts more, as a real one may for some
    # texts, and a request the app thought would fit can overflow the window.
    token_scale: float = 1.0
    # "observed": `Invalid request: Your request exceeded model token limit: W (requested: N)`;
    # "documented": `Your request exceeded model token limit : W` (reference §4.2).
    token_limit_style: str = "observed"  # noqa: S105 (not a password)
    # Points the reference leaves open (§2, §5.3, §12), playable either way so the app is tested
    # against both readings, as an independent implementation of the API might choose them.
    # FileObject status of an extracted file: "ok" (captures) or "ready" (a 2026 OpenAPI example).
    file_status_ok: str = "ok"
    # /files/{id}/content body: "json" (the captured compact JSON) or "plain" (text/plain, the
    # extracted text only, as the 2026 OpenAPI declares).
    content_format: str = "json"
    # A failed extraction's content: "documented" (500 server_error `Failed to extract file: …`)
    # or "observed" (500 `extract task failed: failed` with type "").
    extract_error_style: str = "documented"
    # GET /v1/files adds `"has_more": false` (never observed; the openai SDK stops on it).
    list_has_more: bool = False
    # GET /v1/files ignores `after`, `limit` and `order` and returns the full list every time,
    # as an implementation may (reference §10.4: the openai SDK's auto-pagination never ends).
    list_ignores_pagination: bool = False
    # GET /v1/files without `limit` returns at most this many files (0: all), as a provider that
    # pages by default would; `after` then gives the next page.
    list_page_size: int = 0
    # Where a stream reports usage: "choice" (choices[0] of the finish chunk, documented) or
    # "trailing" (only a trailing OpenAI-style chunk with empty choices).
    stream_usage: str = "choice"
    # A ": keep-alive" comment line before every stream event (never seen; SSE clients skip it).
    stream_comments: bool = False
    # Paths whose requests count toward concurrency and RPM. TPM/TPD only charge chat requests.
    limited_prefixes: tuple[str, ...] = ("/v1/",)
    # Fake ids the 429 messages carry, as the real ones carry `{organization-id}<{ak-id}>`.
    org_id: str = "org-emulator"
    ak_id: str = "ak-emulator"
    models: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MODELS))

    def update(self, **changes: Any) -> None:
        """Set fields by name, checking names and types (used by the control plane and CLI)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown config field: {name}")
            setattr(self, name, _coerce(name, getattr(self, name), value))

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["api_key"] = "***"  # the control plane never echoes the key
        return data

    def limits_path(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.limited_prefixes)


_OPTIONAL_INTS = {"concurrency", "rpm", "tpm", "tpd"}
_CHOICES = {
    "token_limit_style": {"observed", "documented"},
    "file_status_ok": {"ok", "ready"},
    "content_format": {"json", "plain"},
    "extract_error_style": {"documented", "observed"},
    "stream_usage": {"choice", "trailing"},
}


def _coerce(name: str, current: Any, value: Any) -> Any:
    if name in _OPTIONAL_INTS:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer or null")
        return value
    if isinstance(current, bool | str):
        if not isinstance(value, type(current)):
            raise ValueError(f"{name} must be a {type(current).__name__}")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"{name} must be one of {', '.join(sorted(_CHOICES[name]))}")
        return value
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(value)
    if isinstance(current, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of strings")
        return tuple(value)
    if isinstance(current, dict):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in value.items()
        ):
            raise ValueError(f"{name} must map model ids to context windows")
        return dict(value)
    raise ValueError(f"{name} cannot be changed")
