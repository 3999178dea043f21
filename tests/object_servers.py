"""Real GCS and Azure Blob servers on loopback for the bucket tests: gcp-storage-emulator (PyPI)
and Azurite (npm), with the few calls the tests make to them directly. A server that cannot
start says why, so a test can skip with that reason; nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30.0
GCS_BUCKET = "shop"
REPO = Path(__file__).resolve().parent.parent
# Azurite's well-known development account (public, the same in every Azurite and in Azure's
# docs): not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURE_VERSION = "2021-08-06"
_LISTENING = re.compile(r"listens on (http://127\.0\.0\.1:\d+)")


class ServerUnavailable(Exception):
    """The server could not be found or started: the reason a test skips with."""


@dataclass(frozen=True, slots=True)
class Server:
    url: str  # http://127.0.0.1:PORT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def azurite_command() -> str:
    """$AZURITE_BLOB, azurite-blob on PATH, or the one `npm install azurite` put in the repo."""
    for candidate in (
        os.environ.get("AZURITE_BLOB"),
        shutil.which("azurite-blob"),
        str(REPO / "node_modules" / ".bin" / "azurite-blob"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ServerUnavailable("azurite-blob not found (npm install azurite; .ci/run does)")


@contextmanager
def azurite(folder: Path) -> Iterator[Server]:
    """Azurite's blob service in memory on a free loopback port, telemetry off."""
    command = [
        azurite_command(), "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
        "--disableTelemetry", "--skipApiVersionCheck", "--loose",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder
    )
    try:
        yield Server(_wait_for_line(process))
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _wait_for_line(process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    assert process.stdout is not None
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        if match := _LISTENING.search(line):
            return match[1]
    raise ServerUnavailable(f"azurite did not start: {' | '.join(seen)[-300:]}")


@contextmanager
def gcs_emulator() -> Iterator[Server]:
    """gcp-storage-emulator (PyPI, pure Python) in this process, in memory, with GCS_BUCKET."""
    try:
        from gcp_storage_emulator.server import create_server
    except ImportError:
        raise ServerUnavailable("gcp-storage-emulator is not installed") from None
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=GCS_BUCKET)
    server.start()
    try:
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def gcs_service_account(server: Server, path: Path) -> Path:
    """object_store's way to a custom GCS endpoint: a service-account file naming the base URL,
    with OAuth off (no key, no token server); GOOGLE_SERVICE_ACCOUNT names the file."""
    account = {
        "gcs_base_url": server.url, "disable_oauth": True, "client_email": "",
        "private_key": "", "private_key_id": "",
    }  # fmt: skip
    path.write_text(json.dumps(account), encoding="utf-8")
    return path


def gcs_obstore_problem(server: Server, account: Path) -> str | None:
    """Why obstore cannot store an object in this server (None: it can): one conditional PUT
    and a HEAD, as batchgen's BucketSink makes them."""
    import obstore
    from obstore.store import GCSStore

    gcs_service_account(server, account)
    try:
        store = GCSStore(
            GCS_BUCKET, service_account_path=str(account), retry_config={"max_retries": 0}
        )
        obstore.put(store, "probe", b"probe", mode="create", use_multipart=False)
        obstore.head(store, "probe")
    except Exception as exc:  # noqa: BLE001 - any failure is the reason to report
        first = str(exc).splitlines()[0][:300]
        return f"obstore cannot use this GCS emulator ({server.url}): {first}"
    return None


def gcs_create_bucket(server: Server, bucket: str) -> None:
    body = json.dumps({"name": bucket}).encode()
    request = urllib.request.Request(
        f"{server.url}/storage/v1/b?project=test", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass


def gcs_objects(server: Server, bucket: str) -> dict[str, bytes]:
    """Every object's name and bytes, through the JSON API."""
    with urllib.request.urlopen(f"{server.url}/storage/v1/b/{bucket}/o", timeout=10) as answer:
        items = json.load(answer).get("items", [])
    found: dict[str, bytes] = {}
    for item in items:
        name = urllib.parse.quote(item["name"], safe="")
        with urllib.request.urlopen(
            f"{server.url}/storage/v1/b/{bucket}/o/{name}?alt=media", timeout=10
        ) as media:
            found[item["name"]] = media.read()
    return found


def azure_request(server: Server, method: str, path: str, query: dict[str, str]) -> bytes:
    """One Blob service call signed with the account's Shared Key (what the SDKs do)."""
    headers = {
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "x-ms-version": AZURE_VERSION,
    }
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}{path}" + "".join(
        f"\n{k}:{v}" for k, v in sorted(query.items())
    )
    # urllib sends a Content-Type with any body: it is signed too (a zero length signs as "")
    content_type = "application/octet-stream" if method == "PUT" else ""
    to_sign = f"{method}\n\n\n\n\n{content_type}\n\n\n\n\n\n\n{canonical_headers}{resource}"
    key = base64.b64decode(AZURITE_KEY)
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest())
    headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{signature.decode()}"
    url = f"{server.url}/{AZURITE_ACCOUNT}{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    data = b"" if method == "PUT" else None
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        content: bytes = answer.read()
        return content


def azure_create_container(server: Server, container: str) -> None:
    azure_request(server, "PUT", f"/{container}", {"restype": "container"})


def azure_objects(server: Server, container: str) -> dict[str, bytes]:
    listing = azure_request(
        server, "GET", f"/{container}", {"comp": "list", "restype": "container"}
    ).decode()
    names = re.findall(r"<Name>([^<]+)</Name>", listing)
    return {name: azure_request(server, "GET", f"/{container}/{name}", {}) for name in names}
