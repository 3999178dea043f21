"""Every error batchgen raises on purpose, under one root.

BatchgenError
 ├── ManifestError        a manifest that cannot run; carries file:line and key
 ├── ProviderError        an API call that did not give images
 │    ├── RateLimited     429 / RESOURCE_EXHAUSTED (retryable; may carry retry_after)
 │    ├── ServerError     5xx, connection reset, malformed answer (retryable)
 │    ├── ProviderTimeout no answer within request_timeout_s (retryable)
 │    ├── ModelRetired    404 / NOT_FOUND for a model (terminal)
 │    ├── Rejected        400 validation or content policy (terminal for the task)
 │    ├── AuthError       401 / 403: bad key or no credits (stops the run)
 │    └── QuotaExhausted  a daily quota is used up (stops the run: retrying is pointless today)
 ├── DownloadError        an image that was paid for but did not arrive whole (retry the download)
 ├── SinkError            the output could not be written (disk full, unwritable)
 ├── JournalError         the run state could not be read or written
 └── BudgetExceeded       the next request could take spend past budget.max_usd
"""

from __future__ import annotations

from collections.abc import Sequence

from batchgen.redact import redact


class BatchgenError(Exception):
    """Root of every error batchgen raises on purpose.

    Its text crosses the redaction boundary here, at construction: whatever a server echoed
    (a key in a header, a URL, a body), no message of ours can carry a live secret on."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class ManifestError(BatchgenError):
    """A manifest problem; `problems` lists every one found, each already located, and
    `warnings` the notes found in the same pass (an unknown model), so both show at once."""

    def __init__(self, problems: list[str], warnings: Sequence[str] = ()) -> None:
        self.problems = [redact(problem) for problem in problems]
        self.warnings = tuple(redact(warning) for warning in warnings)
        super().__init__("\n".join(self.problems))


class ProviderError(BatchgenError):
    """A provider call that did not give images.

    `kind` is a short stable name used in reports ("rate_limited", "server_error", ...);
    `status` is the HTTP status when there was one. `about_request`: the provider refused the
    request's shape (an unknown model, an invalid parameter), not its prompt, so every task of
    the model would get the same (the breaker counts it; a content-policy refusal never is).
    """

    kind = "provider_error"
    retryable = False
    stops_run = False  # True: every other task would fail the same way, so stop them all

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        billed_usd: float = 0.0,
        about_request: bool = False,
    ) -> None:
        super().__init__(message)
        self.about_request = about_request
        self.message = str(self.args[0])
        self.status = status
        self.retry_after = retry_after
        self.billed_usd = billed_usd


class RateLimited(ProviderError):
    """`own_limit`: the server named this client's own limit (a quota it is over, a request
    limit with none remaining), not a shared pool that refused whatever this client sent."""

    kind = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        own_limit: bool = False,
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)
        self.own_limit = own_limit


class ServerError(ProviderError):
    kind = "server_error"
    retryable = True


class ProviderTimeout(ProviderError):
    kind = "timeout"
    retryable = True


class ModelRetired(ProviderError):
    kind = "model_retired"


class Rejected(ProviderError):
    kind = "rejected"


class AuthError(ProviderError):
    kind = "auth"
    stops_run = True


class QuotaExhausted(ProviderError):
    kind = "quota"
    stops_run = True


class DownloadError(BatchgenError):
    """An image the provider made (and billed) did not reach the disk whole.

    `retryable` is False where fetching again cannot help: an expired or forbidden link,
    a URL that is not http(s), an oversize file, inline data that is not base64."""

    kind = "download"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SinkError(BatchgenError):
    """The output directory could not be written."""

    kind = "sink"


class JournalError(BatchgenError):
    """The run journal could not be read or written."""


class BudgetExceeded(BatchgenError):
    """Starting the next request could take the spend past budget.max_usd."""
