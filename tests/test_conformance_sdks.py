"""Official clients, unchanged, against the emulator (issue 12): google-genai with its own enum
values, fal-client (submit, status, result, subscribe, cancel) over loopback TLS with a throwaway
certificate, and litellm's aiml/, openai/ and gemini/ image routes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conformance import KEY, aimlapi_spec, problems, recording_emulator, self_signed

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings(
        "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
    ),
]


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
@pytest.mark.parametrize("person", ["ALLOW_ADULT", "DONT_ALLOW"])
async def test_google_genai_person_generation_enum_is_taken(person: str) -> None:
    """issue 12 point 5: the SDK sends its enum names (ALLOW_ADULT), not the REST docs' case."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    async with recording_emulator() as emulator:
        client = genai.Client(
            vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=emulator.base_url)
        )
        async with client.aio as aio:
            response = await aio.models.generate_images(
                model="imagen-4.0-fast-generate-001",
                prompt="a market crowd",
                config=types.GenerateImagesConfig(
                    number_of_images=1,
                    person_generation=types.PersonGeneration[person],
                    safety_filter_level=types.SafetyFilterLevel.BLOCK_LOW_AND_ABOVE,
                ),
            )
        (sent,) = [body for _, body in emulator.bodies]
    assert sent["parameters"]["personGeneration"] == person  # what the SDK really sends
    assert len(response.generated_images or []) == 1


# fal-client reads FAL_QUEUE_RUN_HOST when it is imported and speaks https only, so it runs in a
# child process pointed at the emulator's TLS port, trusting the throwaway certificate.
FAL_SCRIPT = textwrap.dedent("""
    import json, sys
    import fal_client

    app = "fal-ai/imagen4/preview"
    out = {}
    handle = fal_client.submit(app, {"prompt": "a fox", "num_images": 2, "aspect_ratio": "16:9"})
    out["status"] = type(handle.status()).__name__
    out["result"] = fal_client.result(app, handle.request_id)
    out["result_again"] = handle.get()
    out["subscribed"] = fal_client.subscribe(app, {"prompt": "a kite", "resolution": "2K"})
    try:
        fal_client.subscribe("fal-ai/imagen4/preview/ultra", {"prompt": "x", "num_images": 2})
    except Exception as exc:  # the 422 comes from the result URL, as on fal
        out["refused"] = [type(exc).__name__, getattr(exc, "status_code", None)]
    late = fal_client.submit(app, {"prompt": "a heron"})
    fal_client.cancel(app, late.request_id)
    out["cancelled"] = type(late.status()).__name__
    print(json.dumps(out))
""")


@pytest.mark.slow
async def test_fal_client_over_loopback_tls(tmp_path: Path) -> None:
    pytest.importorskip("fal_client")
    tls, ca_file = self_signed(tmp_path)
    async with recording_emulator(tls=tls, time_scale=0.002) as emulator:
        host = emulator.base_url.removeprefix("https://") + "/fal"
        env = os.environ | {
            "FAL_KEY": KEY,
            "FAL_QUEUE_RUN_HOST": host,
            "SSL_CERT_FILE": str(ca_file),
        }
        done = await anyio.run_process([sys.executable, "-c", FAL_SCRIPT], env=env, check=False)
        stats = emulator.stats
    assert done.returncode == 0, done.stderr.decode()
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["status"] in ("InProgress", "Queued", "Completed")
    assert len(out["result"]["images"]) == 2
    assert out["result"] == out["result_again"]  # issue 12 point 6: a stored result
    assert out["result"]["images"][0]["width"] == 1408
    assert out["subscribed"]["images"][0]["width"] == 2048
    assert out["refused"][1] == 422
    assert out["cancelled"] in ("Completed", "InProgress")
    assert stats.cancelled == 1 or out["cancelled"] == "Completed"


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Any:
    # the model price map ships inside the package: never fetched from the internet here
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return pytest.importorskip("litellm")


@pytest.mark.slow
# litellm's own import-time warnings (pydantic on its TypedDicts); litellm is used unchanged
@pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")
@pytest.mark.parametrize(
    ("route", "path", "size"),
    [
        ("aiml/google/imagen-4.0-fast-generate-001", "", (1024, 1024)),
        ("openai/gpt-image-2", "/openai/v1", (1408, 768)),
        ("gemini/gemini-3.1-flash-image", "/v1beta", (1376, 768)),
        ("gemini/imagen-4.0-generate-001", "/v1beta", (1024, 1024)),
    ],
)
async def test_litellm_image_routes(
    litellm: Any, route: str, path: str, size: tuple[int, int]
) -> None:
    extra: dict[str, Any] = {"size": "1408x768"} if route.startswith("openai/") else {}
    if route.startswith("gemini/gemini"):
        extra = {"imageConfig": {"aspectRatio": "16:9"}}
    async with recording_emulator() as emulator:
        response = await litellm.aimage_generation(
            model=route,
            prompt="a lighthouse at dusk",
            api_base=emulator.base_url + path,
            api_key=KEY,
            n=1,
            **extra,
        )
        sent = [body for _, body in emulator.bodies]
    assert len(sent) == 1
    if route.startswith("aiml/"):  # what litellm sends is what the AI/ML API's page allows
        request, _ = aimlapi_spec("imagen-4.0-fast-generate-001")
        assert problems(request, sent[0]) == []
    (image,) = response.data
    if image.b64_json:
        import base64
        import io

        from PIL import Image

        with Image.open(io.BytesIO(base64.b64decode(image.b64_json))) as picture:
            assert picture.size == size
    else:
        assert image.url.startswith(emulator.base_url)
