"""The one redaction boundary: every live secret, masked in every message before it is kept.

Keys are remembered when a provider is built; `redact` masks them, and the forms a server or
library is likely to echo (URL-encoded, base64 as in `Bearer`/Basic headers, a cut-off head),
in any text batchgen stores, prints or reports.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET = 8  # shorter values would mask ordinary words; no API key is this short
MIN_CUT_HEAD = 6  # a message cut right after this much of a key still shows too much

_forms: dict[str, tuple[str, ...]] = {}


def remember(secret: str | None) -> None:
    """Mask `secret` (and its encodings) in every message from now on."""
    if secret and len(secret) >= MIN_SECRET and secret not in _forms:
        _forms[secret] = _encodings(secret)


def forget_all() -> None:
    """For tests: drop the registry."""
    _forms.clear()


def redact(text: str) -> str:
    """`text` with every remembered secret (in every form) replaced by ***."""
    for secret, forms in _forms.items():
        for form in forms:
            if form in text:
                text = text.replace(form, MASK)
        text = _mask_cut_head(text, secret)
    return text


def _encodings(secret: str) -> tuple[str, ...]:
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    forms |= {_b64_core(raw, shift) for shift in range(3)}
    forms |= {form.rstrip("=") for form in forms}
    # longest first, so a shorter form never leaves the tail of a longer one behind
    return tuple(sorted((form for form in forms if len(form) >= MIN_SECRET), key=len, reverse=True))


def _b64_core(raw: bytes, shift: int) -> str:
    """The base64 characters that depend on `raw` alone, wherever it sits in a longer value."""
    encoded = base64.b64encode(b"\0" * shift + raw).decode()
    start = (shift * 8 + 5) // 6  # characters that mix in the bytes before the secret
    whole = (shift + len(raw)) // 3 * 4  # characters of complete groups only
    return encoded[start:whole]


def _mask_cut_head(text: str, secret: str) -> str:
    """A message cut (by anyone) in the middle of a key keeps its head at the very end."""
    stripped = text.rstrip("…. ")
    for size in range(min(len(secret) - 1, len(stripped)), MIN_CUT_HEAD - 1, -1):
        if stripped.endswith(secret[:size]):
            return stripped[:-size] + MASK + text[len(stripped) :]
    return text


def clip(text: str, limit: int) -> str:
    """Redact first, then cut: a cut made first could split a key so that no form matches."""
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_LOOKS_SECRET = re.compile(
    r"(?P<keep>\b(?:sk|pk|rk)[-_]|\bAIza|(?i:bearer)\s+)[A-Za-z0-9_\-.+/=]{6,}"
    r"|\b[0-9a-f]{8}-[0-9a-f-]{27}:[0-9a-f]{16,}\b"
)
_SECRET_KEYED = re.compile(
    r"(?P<keep>(?i:api[_-]?key|token|secret|password|authorization)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',}\]]{4,}"
)


def mask_secret_looking(text: str, *, source_line: bool = False) -> str:
    """Text with values that look like keys masked: a key typed into a manifest is refused,
    and the refusal must not print it to a CI log. In a `source_line` the value of a key
    named like a secret (api_key: ...) is masked too, whatever it looks like."""
    text = _LOOKS_SECRET.sub(_masked, text)
    return _SECRET_KEYED.sub(_masked, text) if source_line else text


def _masked(match: re.Match[str]) -> str:
    return (match.groupdict().get("keep") or "") + MASK
