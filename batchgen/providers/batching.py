"""The batch API client for a run's provider, on the same session, origin and key."""

from __future__ import annotations

from batchgen.errors import ManifestError
from batchgen.providers.base import Provider
from batchgen.providers.batch_base import BatchClient
from batchgen.providers.gemini_batch import GeminiBatchClient
from batchgen.providers.http import HttpProvider
from batchgen.providers.openai import OpenAIProvider
from batchgen.providers.openai_batch import OpenAIBatchClient

CLIENTS: dict[str, type[OpenAIBatchClient | GeminiBatchClient]] = {
    "openai": OpenAIBatchClient,
    "gemini": GeminiBatchClient,
}


def batch_client_for(provider: Provider) -> BatchClient:
    """The provider's batch API; a ManifestError for a provider that has none."""
    make = CLIENTS.get(provider.kind)
    if make is None or not isinstance(provider, HttpProvider):
        raise ManifestError([f"mode: batch is not possible with provider {provider.kind}"])
    if isinstance(provider, OpenAIProvider):  # output.format asked of GPT image models
        return OpenAIBatchClient(
            provider.session,
            base_url=provider.base_url,
            api_key=provider.api_key,
            file_format=provider.file_format,
        )
    return make(provider.session, base_url=provider.base_url, api_key=provider.api_key)
