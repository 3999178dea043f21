"""The official SDKs, unchanged, against the emulator: if they accept its answers, the emulator
speaks the wire formats the way the real services do (and batchgen's clients are tested against
something the SDKs also believe).

google-genai: generate_content runs in Gemini API mode. generate_images does not: since 2.20
(commit 43ef621f) the SDK refuses it in Gemini API mode (providers.md 0) and only sends it in
Vertex AI mode. So it runs as Vertex AI "express mode" (vertexai=True with an API key), whose
base URL override sends POST {base}/v1beta1/publishers/google/models/{model}:predict with
x-goog-api-key - a path the emulator serves alongside the Gemini API's. Every generate_images
call also emits the SDK's once-per-process ExperimentalWarning (the method is deprecated), which
the marker below lets through.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image

from batchgen.emulator import Emulator, EmulatorConfig, running_emulator

genai = pytest.importorskip("google.genai")
openai = pytest.importorskip("openai")
from google.genai import types  # noqa: E402 - after the importorskip that guards it

pytestmark = [
    pytest.mark.anyio,
    # google-genai's own async transport subclasses aiohttp.ClientSession, which aiohttp warns
    # about; the SDK is used unchanged, so its warning is let through (and only that one)
    pytest.mark.filterwarnings(
        "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
    ),
]
KEY = "sdk-test-key-0123456789"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(time_scale=0, image_bytes="small", api_key=KEY)
    async with running_emulator(config) as emu:
        yield emu


def pixels(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        size: tuple[int, int] = image.size
        return size


async def test_openai_sdk_images_generate_base64(emulator: Emulator) -> None:
    client = openai.AsyncOpenAI(
        base_url=emulator.base_url + "/openai/v1", api_key=KEY, max_retries=0
    )
    async with client:
        result = await client.images.generate(
            model="gpt-image-2", prompt="a red kite", n=2, size="1408x768"
        )
    assert len(result.data) == 2
    assert all(pixels(base64.b64decode(item.b64_json or "")) == (1408, 768) for item in result.data)
    assert result.usage is not None and result.usage.total_tokens > 0


async def test_openai_sdk_against_the_aimlapi_dialect_gets_urls(emulator: Emulator) -> None:
    """The AI/ML API is OpenAI-compatible: the SDK, pointed at its /v1, reads its answer."""
    client = openai.AsyncOpenAI(base_url=emulator.base_url + "/v1", api_key=KEY, max_retries=0)
    async with client:
        result = await client.images.generate(
            model="google/imagen-4.0-fast-generate-001",
            prompt="a red kite",
            extra_body={"aspect_ratio": "16:9", "num_images": 2},
        )
    assert len(result.data or []) == 2
    async with aiohttp.ClientSession() as session:
        for item in result.data or []:
            async with session.get(item.url or "") as response:
                assert pixels(await response.read()) == (1408, 768)


@pytest.mark.parametrize("model", ["dall-e-3", "dall-e-2", "gpt-image-1"])
async def test_openai_sdk_gets_404_for_retired_models(emulator: Emulator, model: str) -> None:
    """openai SDK 3.57 types/image_model.py: retired 2026-05-12 / shut down 2026-10-23."""
    client = openai.AsyncOpenAI(
        base_url=emulator.base_url + "/openai/v1", api_key=KEY, max_retries=0
    )
    async with client:
        with pytest.raises(openai.NotFoundError):
            await client.images.generate(model=model, prompt="a red kite")


async def test_openai_sdk_sees_the_emulators_errors_as_openais(emulator: Emulator) -> None:
    client = openai.AsyncOpenAI(
        base_url=emulator.base_url + "/openai/v1", api_key="sk-wrong", max_retries=0
    )
    async with client:
        with pytest.raises(openai.AuthenticationError):
            await client.images.generate(model="gpt-image-2", prompt="a red kite")


async def test_google_genai_generate_content_with_an_image_model(emulator: Emulator) -> None:
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=emulator.base_url))
    async with client.aio as aio:
        response = await aio.models.generate_content(
            model="gemini-3.1-flash-image",
            contents="A lighthouse at dusk",
            config=types.GenerateContentConfig(
                response_modalities=["TEXT", "IMAGE"],
                image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
            ),
        )
    parts = response.candidates[0].content.parts
    images = [part.inline_data for part in parts if part.inline_data]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert pixels(images[0].data or b"") == (2752, 1536)
    assert response.text  # the text part came through too


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
async def test_google_genai_generate_images_in_vertex_express_mode(emulator: Emulator) -> None:
    client = genai.Client(
        vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=emulator.base_url)
    )
    async with client.aio as aio:
        response = await aio.models.generate_images(
            model="imagen-4.0-generate-001",
            prompt="A fox in snow",
            config=types.GenerateImagesConfig(
                number_of_images=3,
                aspect_ratio="9:16",
                image_size="2K",
                seed=7,  # Vertex takes a seed; the Gemini API does not
                add_watermark=False,
                include_rai_reason=True,
                include_safety_attributes=True,
            ),
        )
    images = response.generated_images or []
    assert len(images) == 3  # the prompt's safety rating is split off, not counted as an image
    assert all(pixels(item.image.image_bytes or b"") == (1536, 2816) for item in images)
    assert response.positive_prompt_safety_attributes is not None


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
async def test_google_genai_refuses_generate_images_in_gemini_api_mode(emulator: Emulator) -> None:
    """Why the test above uses Vertex mode: this SDK will not send :predict to the Gemini API."""
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=emulator.base_url))
    async with client.aio as aio:
        with pytest.raises(ValueError, match="not in Gemini Developer API mode"):
            await aio.models.generate_images(model="imagen-4.0-fast-generate-001", prompt="x")
    assert emulator.stats.generation_requests == 0


async def test_google_genai_sees_the_emulators_errors_as_googles(emulator: Emulator) -> None:
    client = genai.Client(
        api_key="wrong", http_options=types.HttpOptions(base_url=emulator.base_url)
    )
    async with client.aio as aio:
        with pytest.raises(genai.errors.ClientError) as caught:
            await aio.models.generate_content(model="gemini-3-pro-image", contents="x")
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
