"""What a run was asked to do, as the journal keeps it beside the run: provider, base URL,
models, limits, mode, batchgen's version and the manifest's digest (no key, no userinfo)."""

from __future__ import annotations

import hashlib
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from batchgen.models import Manifest
from batchgen.providers.base import Provider
from batchgen.redact import redact

IN_PROCESS = "(in-process emulator)"  # its port changes every run: not a difference


def run_settings(manifest: Manifest, provider: Provider | None = None) -> dict[str, Any]:
    """The run's settings as JSON-ready data. The base URL loses userinfo, query and fragment
    (where a key could hide) and goes through the redaction boundary as well."""
    config, limits = manifest.provider, manifest.limits
    return {
        "provider": {
            "kind": config.kind,
            "api": config.api,
            "base_url": _base_url(manifest, provider),
        },
        "models": list(manifest.models),
        "limits": {
            "concurrency": "adaptive" if limits.concurrency is None else limits.concurrency,
            "requests_per_minute": limits.requests_per_minute,
            "request_timeout_s": limits.request_timeout_s,
            "max_attempts": limits.max_attempts,
        },
        "max_usd": manifest.max_usd,
        "mode": str(getattr(manifest, "mode", "live")),  # batch mode, where a branch adds it
        "emulator": dict(config.options) if config.kind == "emulator" else None,
        "batchgen_version": version(),
        "manifest_sha256": manifest_digest(manifest),
    }


def public_url(url: str) -> str:
    """scheme://host[:port]/path: what may be shown of a URL (no userinfo, query or fragment)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # a port that is not a number: show nothing but the scheme
        return redact(url.split(":", 1)[0])
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return redact(urlunsplit((parts.scheme, host + port, parts.path, "", "")))


def _base_url(manifest: Manifest, provider: Provider | None) -> str | None:
    if manifest.provider.kind == "emulator" and manifest.provider.base_url is None:
        return IN_PROCESS
    url = getattr(provider, "base_url", None) or manifest.provider.base_url
    return public_url(url) if isinstance(url, str) else None


def version() -> str:
    try:
        return metadata.version("batchgen")
    except metadata.PackageNotFoundError:  # a source tree never installed
        return "unknown"


def manifest_digest(manifest: Manifest) -> str | None:
    """sha256 of the manifest file's bytes (None: built in code, no file)."""
    if manifest.source is None:
        return None
    try:
        return hashlib.sha256(manifest.source.read_bytes()).hexdigest()
    except OSError:
        return None
