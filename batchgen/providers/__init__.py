"""Providers by kind, and opening the one a manifest names (starting the emulator if it is that)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from ..errors import ManifestError
from ..models import Manifest
from .aimlapi import DEFAULT_BASE_URL, DEFAULT_KEY_ENV, AimlapiProvider
from .base import Provider
from .http import new_session

__all__ = ["Provider", "open_provider"]


@asynccontextmanager
async def open_provider(manifest: Manifest) -> AsyncIterator[Provider]:
    """The manifest's provider with one HTTP session; the emulator is started in-process
    on 127.0.0.1 when the manifest names it without a base_url (or names no provider)."""
    config = manifest.provider
    key: str | None
    async with AsyncExitStack() as stack:
        if config.kind == "emulator" and config.base_url is None:
            base_url, key = await stack.enter_async_context(_in_process_emulator(manifest))
        else:
            base_url = config.base_url or DEFAULT_BASE_URL
            key = _api_key(manifest)
        session = new_session(request_timeout_s=manifest.limits.request_timeout_s)
        provider = AimlapiProvider(session, base_url=base_url, api_key=key)
        stack.push_async_callback(provider.aclose)
        yield provider


def _api_key(manifest: Manifest) -> str | None:
    config = manifest.provider
    env = config.api_key_env or (DEFAULT_KEY_ENV if config.kind == "aimlapi" else None)
    if env is None:
        return None
    key = os.environ.get(env, "").strip()
    if not key:
        raise ManifestError(
            [
                f"{manifest.source or 'manifest'}: provider.api_key_env: the environment variable "
                f"{env} is not set; export it with your {config.kind} API key"
            ]
        )
    return key


@asynccontextmanager
async def _in_process_emulator(manifest: Manifest) -> AsyncIterator[tuple[str, str]]:
    from ..emulator import EmulatorConfig, parse_faults, running_emulator

    options = dict(manifest.provider.options)
    # The emulator demands a key like the real API does; without one configured, a
    # throwaway key lives in memory for this run only.
    key = _api_key(manifest) or secrets.token_urlsafe(24)
    try:
        if isinstance(options.get("faults"), str):
            options["faults"] = parse_faults(options["faults"])
        emulator_config = EmulatorConfig(api_key=key, **options)
    except (TypeError, ValueError) as exc:
        raise ManifestError([f"{manifest.source or 'manifest'}: provider: {exc}"]) from exc
    async with running_emulator(emulator_config) as emulator:
        yield emulator.base_url, key
