"""How the emulator fails a request: injected faults (spec, parser, seeded draws, wire form),
the server's own start-rate window, and the aimlapi error body.

Fault spec text: comma-separated KEY=PROBABILITY pairs plus retired=MODEL[|MODEL...], for example
"429=0.05,500=0.02,reset=0.01,truncate=0.02,retired=google/imagen4/preview". Each dialect answers
a fault in its own wire form; "429" is a refusal for this client's own limit (Google names the
quota, OpenAI says rate_limit_exceeded), "busy" one from a shared pool that is busy with everyone's
requests (Vertex AI's pay-as-you-go 429, OpenAI's overloaded model; aimlapi and fal word both
alike: they document no hints); "quota" is a terminal one (a daily quota, no credits left) and
"filter" withholds one image of a Google :predict answer (other dialects ignore it). The cost
faults shape an aimlapi success: "overcharge" reports twice the price, "extra_images" one image
more than asked (billed), "negative_cost" a negative usd_spent.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType

from aiohttp import web

from batchgen.emulator.lineup import LISTED_NAMES
from batchgen.emulator.profiles import ACCEPTED_MODEL_NAMES, canonical_model

# Drawn once per generation request: at most one of these happens to it.
GENERATION_FAULTS: tuple[str, ...] = (
    "429", "busy", "500", "502", "503", "504", "reset", "badjson", "html", "policy", "quota",
    "filter",
)  # fmt: skip
# Drawn once per image download.
DOWNLOAD_FAULTS: tuple[str, ...] = ("slow", "truncate")
# Drawn once per successful aimlapi answer: what it reports it cost is wrong (others ignore them).
COST_FAULTS: tuple[str, ...] = ("overcharge", "extra_images", "negative_cost")
_DRAWN = {"generation": GENERATION_FAULTS, "download": DOWNLOAD_FAULTS, "cost": COST_FAULTS}
OVERCHARGE_FACTOR = 2  # "overcharge" reports (and bills) this many times the price
FAULT_KEYS: tuple[str, ...] = (*GENERATION_FAULTS, *DOWNLOAD_FAULTS, *COST_FAULTS)
RETIRED_KEY = "retired"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Probability of each fault kind, and the models that answer 404 as if retired.

    Generation faults and download faults are drawn independently, so each group's probabilities
    must add up to at most 1.
    """

    rates: Mapping[str, float] = field(default_factory=dict, hash=False)
    retired: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for key, value in self.rates.items():
            if key not in FAULT_KEYS:
                raise ValueError(f"unknown fault {key!r}; expected one of {', '.join(FAULT_KEYS)}")
            if not 0.0 <= value <= 1.0:  # also rejects NaN
                raise ValueError(f"fault {key!r}: probability {value!r} is not within 0..1")
        for group in (GENERATION_FAULTS, DOWNLOAD_FAULTS, COST_FAULTS):
            total = sum(self.rates.get(key, 0.0) for key in group)
            if total > 1.0 + 1e-9:
                names = "+".join(key for key in group if key in self.rates)
                raise ValueError(f"fault probabilities {names} add up to {total:g}, more than 1")
        for model in self.retired:
            _check_model(model)
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))
        object.__setattr__(self, "retired", frozenset(canonical_model(m) for m in self.retired))

    def is_retired(self, model: str) -> bool:
        return canonical_model(model) in self.retired


def parse_faults(spec: str) -> FaultSpec:
    """Parse "KEY=P,KEY=P,retired=MODEL|MODEL"; ValueError names the part that is wrong."""
    rates: dict[str, float] = {}
    retired: set[str] = set()
    for raw_part in spec.split(","):
        part = raw_part.strip()
        if not part:
            continue
        key, sep, value = (text.strip() for text in part.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"fault {part!r}: expected KEY=VALUE")
        if key in rates or (key == RETIRED_KEY and retired):
            raise ValueError(f"fault {key!r} is given twice")
        if key == RETIRED_KEY:
            retired.update(_parse_models(value))
        elif key in FAULT_KEYS:
            rates[key] = _parse_probability(key, value)
        else:
            raise ValueError(
                f"unknown fault {key!r} in {part!r}; expected one of "
                f"{', '.join((*FAULT_KEYS, RETIRED_KEY))}"
            )
    return FaultSpec(rates=rates, retired=frozenset(retired))


def _parse_probability(key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"fault {key!r}: {value!r} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"fault {key!r}: probability {value!r} is not within 0..1")
    return number


def _parse_models(value: str) -> list[str]:
    models = [name.strip() for name in value.split("|")]
    for model in models:
        _check_model(model)
    return models


def _check_model(model: str) -> None:
    known = (*ACCEPTED_MODEL_NAMES, *LISTED_NAMES)
    if model not in known:
        raise ValueError(
            f"fault 'retired': unknown model {model!r}; expected one of {', '.join(known)}"
        )


class FaultDraws:
    """Seeded draws, a stream for each kind of request: the n-th generation (or download) of a
    run with the same seed gets the same draw however requests of the two kinds interleave,
    so a test's faults do not depend on how busy the machine was."""

    def __init__(self, spec: FaultSpec | None, seed: int) -> None:
        self._spec = spec or FaultSpec()
        # Streams apart from the latency samples: turning faults on keeps latencies the same.
        self._rngs = {kind: random.Random(f"faults-{seed}-{kind}") for kind in _DRAWN}

    @property
    def spec(self) -> FaultSpec:
        return self._spec

    def generation(self) -> str | None:
        """The fault for one generation request, or None."""
        return self._draw("generation")

    def download(self) -> str | None:
        """The fault for one image download, or None."""
        return self._draw("download")

    def cost(self) -> str | None:
        """The cost fault for one successful answer, or None."""
        return self._draw("cost")

    def _draw(self, kind: str) -> str | None:
        rates = self._spec.rates
        weighted = [(key, rates[key]) for key in _DRAWN[kind] if rates.get(key)]
        if not weighted:
            return None
        point = self._rngs[kind].random()
        for key, probability in weighted:
            if point < probability:
                return key
            point -= probability
        return None


# The wire form of each generation fault: (status, aimlapi message); the rest are special.
_ERROR_FAULTS: dict[str, tuple[int, str]] = {
    "429": (429, "Too Many Requests"),
    "busy": (429, "Too Many Requests"),  # aimlapi documents no way to tell the two apart
    "500": (500, "Internal server error"),
    "502": (502, "Bad Gateway"),
    "503": (503, "Service unavailable"),
    "504": (504, "Generation timeout"),
    "policy": (400, "The prompt was blocked by the safety filter. Please modify it and retry."),
    "quota": (403, "You've run out of credits. Please top up your balance to continue."),
}
# What a proxy in front of the API answers when the upstream falls over.
_PROXY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# Valid JSON cut off mid-way: the status says success, the body cannot be parsed.
_BROKEN_JSON = b'{"data": [{"url": "http://127.0.0.1/files/'


def error_response(
    request: web.Request, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error in aimlapi's body shape (message, path, requestId, statusCode, timestamp)."""
    now = datetime.now(timezone.utc)
    body = {
        "message": message,
        "path": request.path,
        "requestId": str(uuid.uuid4()),
        "statusCode": status,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
    }
    return web.json_response(body, status=status, headers=headers)


def fault_response(request: web.Request, fault: str) -> web.Response:
    """The answer for a generation fault drawn by FaultDraws.generation ("reset" excluded)."""
    if fault == "badjson":
        return web.Response(status=200, body=_BROKEN_JSON, content_type="application/json")
    if fault == "html":
        return web.Response(status=502, text=_PROXY_PAGE, content_type="text/html")
    status, message = _ERROR_FAULTS[fault]
    headers = {"Retry-After": "1"} if status == 429 else None
    return error_response(request, status, message, headers)


class NoResponse(web.Response):
    """Returned after a "reset" fault closed the socket: aiohttp fails to send it and moves on."""


def common_fault(request: web.Request, fault: str) -> web.Response | None:
    """The faults every dialect answers alike: a proxy's HTML page, JSON cut short, a dropped
    connection; None for the faults each dialect words itself."""
    if fault == "html":
        return web.Response(status=502, text=_PROXY_PAGE, content_type="text/html")
    if fault == "badjson":
        return web.Response(status=200, body=_BROKEN_JSON, content_type="application/json")
    if fault == "reset":
        drop_connection(request)
        return NoResponse()
    return None


def drop_connection(request: web.Request) -> None:
    """Close the socket with no (further) response; buffered bytes are flushed first."""
    if request.transport is not None:
        request.transport.close()


class StartWindow:
    """Sliding-window limit on request starts: `rpm` per 60 s (a fraction widens the window), or
    `burst` starts per 60 * burst / rpm seconds (the same rate in a shorter window)."""

    def __init__(self, rpm: float, *, burst: int | None = None) -> None:
        self.capacity = burst if burst is not None else max(1, math.floor(rpm))
        self._window = 60.0 * self.capacity / rpm
        self._starts: deque[float] = deque()

    def retry_after(self, now: float) -> int | None:
        """None when a start is allowed now, else whole seconds until the oldest start expires."""
        self._expire(now)
        if len(self._starts) < self.capacity:
            return None
        return max(1, math.ceil(self._starts[0] + self._window - now))

    def record(self, now: float) -> None:
        self._starts.append(now)

    def remaining(self, now: float) -> int:
        """Starts still allowed in the current window."""
        self._expire(now)
        return self.capacity - len(self._starts)

    def reset_s(self, now: float) -> float:
        """Seconds until the window is empty again: every start in it has expired."""
        self._expire(now)
        return max(self._starts[-1] + self._window - now, 0.0) if self._starts else 0.0

    def _expire(self, now: float) -> None:
        while self._starts and self._starts[0] <= now - self._window:
            self._starts.popleft()
