"""A run on the built-in emulator (no base_url: it lives in the run's process) killed after
paying: its links die with that process, so the rerun must fetch the paid images from its own
emulator (files are rebuilt from the token in their link), never buy them again. The PNG each
emulator answer holds names its request (tests/paid_requests.py): a saved image whose request is
not the paid one was bought twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from batchgen.emulator.app import file_link_here
from tests import test_bucket
from tests.helpers import FAST, journal_rows, write_manifest
from tests.paid_requests import PAY_THEN_DIE, paid_requests, request_of

s3, s3_url = test_bucket.s3, test_bucket.s3_url  # the bucket's fixtures (moto on loopback)

BUILT_IN = "kind: emulator, time_scale: 0, image_bytes: small"
ANSWERS = {  # the built-in emulator's answers: provider line, model
    "aimlapi-links": (f"{{{BUILT_IN}}}", FAST),
    "fal-links": (f"{{{BUILT_IN}, dialect: fal}}", FAST),
    "openai-b64_json": (f"{{{BUILT_IN}, dialect: openai}}", "gpt-image-2"),  # staged in .paid/
}


def pay_then_die(tmp_path: Path, answer: str, output: str) -> tuple[Path, Path, str]:
    """Write the job, let a child pay for its first task and die; the job, the state folder
    and the request paid for."""
    provider, model = ANSWERS[answer]
    manifest = write_manifest(tmp_path, f"""
        version: 1
        name: killed
        provider: {provider}
        models: [{model}]
        num_images: 2
        prompts: [a lighthouse at dawn]
        output: {output}
    """)  # fmt: skip
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    child = subprocess.run(
        [sys.executable, "-c", PAY_THEN_DIE, str(manifest), str(state)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    paid = paid_requests(state)
    assert len(paid) == 1 and len(next(iter(paid.values()))) == 1
    return manifest, state, next(iter(next(iter(paid.values()))))


def rerun(manifest: Path, state: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(manifest), "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert "1 done" in result.output, result.output


def assert_paid_once(state: Path, images: list[bytes], request: str) -> None:
    assert sorted(request_of(png) for png in images) == [(request, 0), (request, 1)]
    # the resumed task made no request at all (attempts count requests sent)
    assert journal_rows(state, "SELECT status, attempts FROM tasks") == [("done", 0)]
    assert journal_rows(state, "SELECT kind FROM errors") == []  # no link was refused
    assert journal_rows(state, "SELECT COUNT(*) FROM generations") == [(0,)]


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_a_kill_after_paying_the_built_in_emulator_is_fetched_not_bought_again(
    tmp_path: Path, answer: str
) -> None:
    manifest, state, request = pay_then_die(tmp_path, answer, "{dir: out}")
    rerun(manifest, state)
    paths = [row[0] for row in journal_rows(state, "SELECT path FROM images ORDER BY idx")]
    assert_paid_once(state, [(state / path).read_bytes() for path in paths], request)


def test_a_kill_after_paying_into_a_bucket_is_fetched_not_bought_again(
    s3: Any, tmp_path: Path
) -> None:
    manifest, state, request = pay_then_die(tmp_path, "aimlapi-links", '{dir: "s3://shop/k"}')
    rerun(manifest, state)
    stored = test_bucket.objects(s3)
    assert len(stored) == 2 and all(key.startswith("k/") for key in stored)
    assert_paid_once(state, list(stored.values()), request)


def test_only_an_emulator_file_link_on_the_same_host_is_served_by_this_emulator() -> None:
    here = "http://127.0.0.1:41000"
    token = "1024x1024-99615-2b83ecfcb3494a8b8ae90b1f76f00e36-0-b44a87d7-n-U3R1ZGlv"
    moved = file_link_here(f"http://127.0.0.1:39999/files/{token}.png?x=1", here)
    assert moved == f"{here}/files/{token}.png?x=1"
    for kept in (
        f"http://127.0.0.1:41000/files/{token}.png",  # this emulator's own
        f"https://cdn.example.com/files/{token}.png",  # another host
        f"https://127.0.0.1:39999/files/{token}.png",  # another scheme
        "http://127.0.0.1:39999/v1/images/generations",  # not a file
        f"http://127.0.0.1:39999/files/{token}.png/more",
    ):
        assert file_link_here(kept, here) == kept
