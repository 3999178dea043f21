"""Providers by kind, and opening the one a manifest names (starting the emulator if it is that)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp

from batchgen.errors import ManifestError
from batchgen.models import Manifest
from batchgen.providers import aimlapi, fal, gemini, openai
from batchgen.providers.base import Provider
from batchgen.providers.hosts import HostGuard
from batchgen.providers.http import HttpProvider, new_session

__all__ = ["KINDS", "Provider", "ProviderKind", "open_provider", "serve_emulator"]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """How to open one kind: its client class, default origin and key variables (first wins)."""

    make: type[
        aimlapi.AimlapiProvider | gemini.GeminiProvider | openai.OpenAIProvider | fal.FalProvider
    ]
    base_url: str
    key_envs: tuple[str, ...]
    emulator_path: str  # where the built-in emulator speaks this wire format


KINDS: dict[str, ProviderKind] = {
    "aimlapi": ProviderKind(
        aimlapi.AimlapiProvider, aimlapi.DEFAULT_BASE_URL, (aimlapi.DEFAULT_KEY_ENV,), ""
    ),
    "gemini": ProviderKind(gemini.GeminiProvider, gemini.DEFAULT_BASE_URL, gemini.KEY_ENVS, ""),
    "openai": ProviderKind(
        openai.OpenAIProvider, openai.DEFAULT_BASE_URL, openai.KEY_ENVS, "/openai/v1"
    ),
    "fal": ProviderKind(fal.FalProvider, fal.DEFAULT_BASE_URL, fal.KEY_ENVS, "/fal"),
}


@asynccontextmanager
async def open_provider(manifest: Manifest) -> AsyncIterator[Provider]:
    """The manifest's provider with one HTTP session; the emulator is started in-process
    on 127.0.0.1 when the manifest names it without a base_url (or names no provider)."""
    config = manifest.provider
    kind = KINDS[config.api]
    key: str | None
    relink: Callable[[str], str] | None = None
    async with AsyncExitStack() as stack:
        if config.kind == "emulator":
            if config.base_url is None:
                built_in = _in_process_emulator(manifest)
                root, key, relink = await stack.enter_async_context(built_in)
            else:
                root, key = config.base_url, _api_key(manifest)
            base_url = root.rstrip("/") + kind.emulator_path
        else:
            base_url, key = config.base_url or kind.base_url, _api_key(manifest)
        guard = HostGuard(api_url=base_url, allow_private=config.allow_private_image_hosts)
        session = new_session(request_timeout_s=manifest.limits.request_timeout_s, guard=guard)
        provider = _make(kind, session, base_url, key, manifest)
        stack.push_async_callback(provider.aclose)
        if relink is not None:  # a killed run's emulator links: fetched, never bought again
            provider.fetch_links_through(relink)
        yield provider


def _make(
    kind: ProviderKind,
    session: aiohttp.ClientSession,
    base_url: str,
    key: str | None,
    manifest: Manifest,
) -> HttpProvider:
    if kind.make is openai.OpenAIProvider:  # GPT image models can send JPEG/WebP themselves
        file_format = openai.FileFormat.wanted(manifest.output)
        return openai.OpenAIProvider(
            session, base_url=base_url, api_key=key, file_format=file_format
        )
    return kind.make(session, base_url=base_url, api_key=key)


def _api_key(manifest: Manifest) -> str | None:
    config = manifest.provider
    if config.api_key_env:
        names: tuple[str, ...] = (config.api_key_env,)
    elif config.kind == "emulator":
        return None
    else:
        names = KINDS[config.kind].key_envs
    for name in names:
        if key := os.environ.get(name, "").strip():
            return key
    either = " or ".join(names)
    raise ManifestError(
        [
            f"{manifest.source or 'manifest'}: provider.api_key_env: the environment variable "
            f"{either} is not set; export it with your {config.kind} API key"
        ]
    )


@asynccontextmanager
async def serve_emulator(manifest: Manifest) -> AsyncIterator[tuple[str, str]]:
    """The built-in emulator alone, as (root URL, key), for workers in other processes that
    reach it by base_url (batchgen/cluster); the key is the one api_key_env names, if set."""
    async with _in_process_emulator(manifest) as (root, key, _):
        yield root, key


@asynccontextmanager
async def _in_process_emulator(
    manifest: Manifest,
) -> AsyncIterator[tuple[str, str, Callable[[str], str]]]:
    """The built-in emulator: its base URL, its key, and how it serves an earlier one's links."""
    from batchgen.emulator import EmulatorConfig, parse_faults, running_emulator

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
        yield emulator.base_url, key, emulator.file_link
