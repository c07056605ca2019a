"""Every setting of the mock, in one place.

Values come, in order of precedence, from CLI flags (see ``perceptron_mock.cli``), from ``PERCEPTRON_MOCK_*``
environment variables, and from the defaults below. The CLI builds its flags from this class, so a
field added here is a flag, an environment variable and a row of docs/settings.md at once (a test checks the table).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic import field_validator
from typing import Annotated, Literal

from perceptron_mock.storage import MEMORY_SCHEME, REDIS_SCHEMES, uses_redis


def _split_list(value: object) -> object:
    # Environment variables carry lists as comma-separated text; JSON lists are accepted too.
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERCEPTRON_MOCK_", extra="ignore", frozen=True)

    # --- server -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Interface to listen on; use 0.0.0.0 in containers.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0 picks a free one).")
    workers: int = Field(1, ge=1, description="uvicorn worker processes. Share limits across them with --rate-limit-storage redis://...")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="uvicorn log level: critical, error, warning, info, debug (any case)."
    )
    access_log: bool = Field(False, description="Log one line per request (costs throughput).")

    # --- API surface --------------------------------------------------------------------------
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Model ids the mock serves, each in the model catalog (comma-separated in the environment). Empty: every catalog model.",
    )
    models_file: Path | None = Field(
        None,
        description="YAML file of model entries that add to or replace the built-in catalog's (docs: Models); a bad file stops start-up.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accepted bearer keys (repeat --api-key). Empty: any non-empty key is accepted.",
    )
    unknown_fields: str = Field(
        "reject",
        pattern="^(reject|ignore)$",
        description=(
            "What a top-level request field outside the API gets: 'reject' (400 unknown_parameter) or "
            "'ignore'. Unknown keys inside messages, content parts and objects are always refused."
        ),
    )

    # --- limits -------------------------------------------------------------------------------
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest request body accepted (413 above).")
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest total size of a request's header lines, names and values as on the wire (431 above; checked first).",
    )
    max_json_items: int = Field(
        25_000,
        ge=1,
        description="Most JSON items (array elements and object members) a request body may hold, counted before it is parsed (400 above).",
    )
    context_tokens: int | None = Field(
        None,
        ge=1,
        description="Context window shared by prompt and completion, for every model. Unset: each model's max_context_tokens from the catalog.",
    )
    url_image_width: int = Field(
        1024, ge=1, description="Assumed width of an http(s) image, which the mock never fetches (for token counts)."
    )
    url_image_height: int = Field(768, ge=1, description="Assumed height of an http(s) image (see url_image_width).")
    max_image_pixels: int = Field(
        60_000_000,
        ge=1,
        description="Largest width x height a data-URL image may declare (the Isaac processor's ceiling; bombs get 400).",
    )
    rate_limit_per_minute: int = Field(
        300, ge=0, description="Requests per minute per API key, refilled continuously (429 above); 0 turns it off."
    )
    models_rate_limit_per_minute: int = Field(
        30,
        ge=0,
        description="GET /v1/models requests per minute per API key, a bucket of its own (the SDK documents 30); 0 turns it off.",
    )
    rate_limit_refill_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds an empty rate-limit bucket takes to refill; 60 is the service's per-minute budget.",
    )
    rate_limit_storage: str = Field(
        MEMORY_SCHEME,
        description="Where rate-limit buckets live: memory:// (per worker) or redis://host:port/db (shared by all workers).",
    )

    # --- files (docs: Files) ------------------------------------------------------------------
    files_dir: Path | None = Field(
        None,
        description="Directory that keeps uploaded files (POST /v1/files) across restarts. Unset: a temporary directory made at start-up, shared by the workers, removed at exit.",
    )
    max_upload_bytes: int = Field(
        128 * 1024 * 1024, ge=1, description="Largest file an upload may carry (413 above; the perceptron SDK's own cap)."
    )
    upload_quota_bytes: int = Field(
        20_000_000_000,
        ge=0,
        description="Bytes the organization may upload per upload_quota_seconds, over a rolling window (429 insufficient_quota above); 0 turns it off.",
    )
    upload_quota_seconds: float = Field(
        48 * 3600.0, gt=0, description="The rolling window of upload_quota_bytes (the service's 48 hours)."
    )

    # --- answers ------------------------------------------------------------------------------
    fixtures_dir: Path | None = Field(
        None, description="Directory of fixture files (YAML or JSON) answered before the rules."
    )
    fixtures_reload_seconds: float = Field(
        1.0,
        ge=0,
        description="Check the fixtures directory for changed files at most this often and reload it; 0: never.",
    )
    unmatched: Literal["rules", "error"] = Field(
        "rules",
        description="What a request no fixture matches gets: 'rules' (the rules answer it) or 'error' (404 no_matching_fixture naming the nearest fixture).",
    )
    schema_cache_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Bytes (estimated) of checked response_format schemas kept for reuse; 0: none kept.",
    )
    pattern_cache_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Bytes (estimated) of compiled regex and schema patterns kept for reuse; 0: none kept.",
    )

    # --- streaming ----------------------------------------------------------------------------
    stream_first_token_ms: float = Field(
        0.0, ge=0, description="Default delay, in ms, before a stream's first chunk (a fixture's pacing overrides it)."
    )
    stream_tokens_per_second: float = Field(
        0.0, ge=0, description="Default rate of a stream's token deltas; 0: as fast as possible."
    )
    stream_first_token_sd_ms: float = Field(
        0.0, ge=0, le=600_000, description="Standard deviation of the first-token wait, in ms; 0: fixed (docs: Streaming, latency models)."
    )
    stream_first_token_distribution: Literal["normal", "lognormal"] = Field(
        "normal", description="Distribution of the first-token wait when its standard deviation is set: normal or lognormal."
    )
    stream_token_jitter_ms: float = Field(
        0.0, ge=0, le=60_000, description="Standard deviation, in ms, of each gap between paced token deltas; 0: steady."
    )
    stream_prefill_ms_per_1k_tokens: float = Field(
        0.0, ge=0, le=60_000, description="Added to the first-token wait per 1,000 prompt tokens (prefill)."
    )
    stream_pacing_seed: int = Field(
        0, ge=0, le=2**63 - 1, description="Seeds drawn pacing, mixed with each request's content: same seed and request, same schedule."
    )
    stream_tick_ms: float = Field(
        1.0,
        ge=0,
        le=100,
        description="Paced streams wake on one shared timer ticking this often (ms; events due within a tick go out together); 0: a timer per stream.",
    )
    stream_keepalive_seconds: float = Field(
        15.0, ge=0, description="A ': ping' comment line after this many seconds without a write while a paced stream waits; 0: never."
    )
    stream_events_per_write: int = Field(
        64,
        ge=1,
        description="Most SSE events that are due at the same moment written together; 1: each event in its own write.",
    )

    # --- testing toolkit (admin API, journal, metrics) ----------------------------------------
    metrics: bool = Field(
        True,
        description="Count requests and stream timings and serve them at GET /metrics (Prometheus text; the admin API's access rules).",
    )
    admin_key: str | None = Field(
        None,
        description="Bearer key the /_admin API requires. Unset: /_admin is open on loopback and off on other interfaces.",
    )
    journal_size: int = Field(
        1000, ge=0, description="Requests the journal (/_admin/requests) keeps, newest last; 0 turns it off."
    )
    journal_body_bytes: int = Field(
        65536,
        ge=1024,
        description="Bodies larger than this are journaled with their long strings (data-URL images) shortened.",
    )
    journal_image_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Bytes of the journaled requests' data-URL images kept by sha256 for the live view (/_admin/ui), oldest dropped first; 0: none.",
    )

    @field_validator("models", "api_keys", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value  # uvicorn takes INFO as info

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not (value.startswith(MEMORY_SCHEME) or uses_redis(value)):
            raise ValueError(f"should start with one of {', '.join((MEMORY_SCHEME, *REDIS_SCHEMES))}")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
