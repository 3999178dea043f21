"""Frozen records that flow through the pipeline: manifest parts, tasks, images, outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
PROVIDER_KINDS = ("emulator", "aimlapi", "gemini", "openai", "fal")
# The wire formats the built-in emulator can speak (provider.dialect); aimlapi when not given.
EMULATOR_DIALECTS = ("aimlapi", "gemini", "openai", "fal")
RESOLUTIONS = ("1K", "2K")
BUDGET_SCOPES = ("run", "job")  # budget.scope: this run alone, or every run of the job
DEFAULT_RESOLUTION = "1K"

DEFAULT_CONCURRENCY = 16  # for estimates when the limit is adaptive (None)
DEFAULT_REQUEST_TIMEOUT_S = 120.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_OUTPUT_DIR = "out/{name}"
# {task_shard} (the task id's first two hex digits) fans a model x aspect out into 256 folders,
# so none holds more than ~10k files below 2.5M tasks. Runs begun before it keep LEGACY_FILENAME.
DEFAULT_FILENAME = "{model}/{aspect}/{task_shard}/{prompt_slug}-{task_id}-{index}.{ext}"
LEGACY_FILENAME = "{model}/{aspect}/{prompt_slug}-{task_id}-{index}.{ext}"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    kind: str = "emulator"
    base_url: str | None = None
    api_key_env: str | None = None
    # kind-specific settings; for the emulator: time_scale, rpm, max_concurrency, image_bytes,
    # faults, seed (with api_key_env set, the emulator demands that key)
    options: Mapping[str, Any] = field(default_factory=dict)
    dialect: str | None = None  # emulator only: the wire format it speaks (aimlapi by default)
    allow_private_image_hosts: bool = False  # image links to private/loopback addresses

    @property
    def api(self) -> str:
        """The wire format spoken: the kind, or for the emulator its dialect."""
        if self.kind == "emulator":
            return self.dialect or "aimlapi"
        return self.kind


@dataclass(frozen=True, slots=True)
class Limits:
    concurrency: int | None = None  # None: adaptive, found from the server's 429s
    requests_per_minute: float | None = None
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


OUTPUT_FORMATS = ("png", "jpeg", "webp")
FIT_MODES = ("width", "contain", "cover")
DEFAULT_QUALITY = 85
ORIGINAL_SIZE = "original"  # the {size} of the full-size image


@dataclass(frozen=True, slots=True)
class OutputConfig:
    dir: str = DEFAULT_OUTPUT_DIR
    filename: str = DEFAULT_FILENAME
    sidecar: bool = False  # a JSON file beside each image with what made it
    format: str | None = None  # one of OUTPUT_FORMATS; None: as the provider sent it
    quality: int = DEFAULT_QUALITY  # jpeg/webp encoder quality, 1..100
    sizes: tuple[OutputSize, ...] = ()  # resized variants made from each image
    keep_original: bool = True  # write the full-size image too (named {size} = "original")
    # the http(s) address that serves output.dir (a CDN before the bucket): the index's `url`
    public_url: str | None = None

    @property
    def derives(self) -> bool:
        """Whether images are re-encoded or resized before they are written."""
        return self.format is not None or bool(self.sizes) or not self.keep_original


@dataclass(frozen=True, slots=True)
class OutputSize:
    """One resized variant: `width` keeps the aspect; `contain` fits inside width x height;
    `cover` fills width x height exactly, cropping the overflow around the centre."""

    width: int
    height: int | None = None
    fit: str = "width"

    @property
    def label(self) -> str:
        """The {size} in file names and the index: "400", or "400x300" with a height."""
        return str(self.width) if self.height is None else f"{self.width}x{self.height}"


ROW_FORMATS = ("csv", "jsonl", "text")
# What a row may override through a column the manifest names (rows.columns).
ROW_OVERRIDES = ("aspect_ratio", "model", "num_images", "seed", "negative_prompt", "params")


@dataclass(frozen=True, slots=True)
class RowCount:
    """What a row source makes, counted while it was validated (so plan reads no file)."""

    rows: int = 0  # distinct rows (a later copy of an identical row is not counted)
    tasks_by_model: Mapping[str, int] = field(default_factory=dict)
    images_by_model: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowSource:
    """`rows:` of a prompt entry: one prompt per record of a file, streamed, never held whole."""

    path: Path
    format: str  # one of ROW_FORMATS
    id_column: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # override -> column
    # line numbers of rows identical to an earlier one (no id, same fields): skipped, so an
    # identical task is made once; only these few lines are held, never the rows
    skip_lines: frozenset[int] = frozenset()
    count: RowCount = RowCount()


NOTIFY_EVENTS = ("end", "failed", "budget")  # how a run ended: each run is exactly one of them


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """`notify:` where a run's summary goes when it ends: a webhook (its URL read from an
    environment variable, as it often holds a token) and/or a local command."""

    webhook_env: str | None = None
    command: str | None = None
    when: tuple[str, ...] = NOTIFY_EVENTS  # `on` would be YAML 1.1's boolean true


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """One `prompts:` entry: a plain prompt (no vars, used as written) or a template, whose
    fields come from vars and, when `rows` is set, from each record of a file."""

    template: str
    vars: tuple[tuple[str, tuple[str, ...]], ...] = ()
    is_template: bool = False
    rows: RowSource | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    prompts: tuple[PromptSpec, ...]
    models: tuple[str, ...]
    provider: ProviderConfig = ProviderConfig()
    fallback: Mapping[str, str] = field(default_factory=dict)
    aspect_ratios: tuple[str, ...] = ("1:1",)
    resolution: str = DEFAULT_RESOLUTION
    num_images: int = 1
    seeds: tuple[int, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits = Limits()
    max_usd: float | None = None
    budget_scope: str = "run"  # "job": max_usd covers every run of the job (from the journal)
    prices: Mapping[str, float] = field(default_factory=dict)  # USD per image, over the table
    output: OutputConfig = OutputConfig()
    version: int = 1
    source: Path | None = None  # the manifest file, for relative paths and messages
    warnings: tuple[str, ...] = ()  # located notes that do not stop a run (an unknown model)
    notify: NotifyConfig | None = None
    mode: str = "live"  # "batch": the providers' batch APIs (half price, results within 24 h)
    fallback_mode: str | None = None  # "live": near the deadline, batch leftovers go live
    deadline: str | None = None  # "HH:MM" local time the results are wanted by


@dataclass(frozen=True, slots=True)
class Task:
    """One request's worth of work: a prompt for a model at an aspect ratio (and seed)."""

    id: str
    ordinal: int
    prompt: str
    model: str
    aspect_ratio: str
    num_images: int
    seed: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)
    resolution: str = DEFAULT_RESOLUTION
    row_id: str | None = None  # the user's key for the row it came from (id_column / JSONL id)
    row: Mapping[str, str] = field(default_factory=dict)  # that row's fields, for the index


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Where a provider put one image: a URL to fetch or inline base64."""

    index: int
    url: str | None = None
    b64: str | None = None
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What the provider says a request cost; any figure may be missing."""

    credits: float | None = None
    usd: float | None = None


@dataclass(frozen=True, slots=True)
class Generation:
    """A provider's answer to one task: image references and reported usage."""

    images: tuple[ImageRef, ...]
    model: str
    usage: Usage = Usage()
    seed: int | None = None
    # The provider asks that no new request start for this long (e.g. its rate-limit window is
    # spent); the renderer hands it to the limiter, so providers never touch the limiter.
    hold_s: float | None = None
    # Measured by the provider layer (batchgen.providers.http): from the request's start to the
    # answer's headers, then reading and parsing its body. None: not measured (a fake provider).
    ttfb_s: float | None = None
    body_s: float | None = None


@dataclass(frozen=True, slots=True)
class SavedImage:
    index: int
    path: str  # relative to the run directory: images/...
    bytes: int
    width: int
    height: int
    mime_type: str
    # of the file's bytes, computed while they streamed in (not part of equality: a record
    # read back from an older journal has none)
    sha256: str | None = field(default=None, compare=False)
    # every file made from this image when output.format/sizes derive variants (this record
    # describes the first of them); empty when the image is written as it came
    variants: tuple[Variant, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Variant:
    """One file derived from an image: its {size} label, path and what its bytes are."""

    size: str
    path: str
    bytes: int
    width: int
    height: int
    mime_type: str
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds spent per phase: waiting for limits (the queue), the API request (time to the
    answer's headers, then its body read and parsed), downloads, processing (output.format and
    sizes: decode, resize, encode), all of it."""

    wait_s: float = 0.0
    request_s: float = 0.0
    download_s: float = 0.0  # the bytes fetched, checked, written or uploaded; not process_s
    total_s: float = 0.0
    ttfb_s: float | None = None  # within request_s; None when the provider did not measure
    body_s: float | None = None
    process_s: float | None = None  # None: the run converts nothing (files as they came)

    @property
    def queue_s(self) -> float:
        """Waiting for a slot or the rate limit (the journal's and report.json's `wait`)."""
        return self.wait_s


Status = Literal["done", "failed"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one task ended; what the journal records and the report sums."""

    task: Task
    status: Status
    attempts: int
    timing: Timing
    cost_usd: float
    model_used: str | None = None
    images: tuple[SavedImage, ...] = ()
    error_kind: str | None = None
    error_message: str | None = None
    started_at: float = 0.0  # wall-clock epoch seconds
    finished_at: float = 0.0
