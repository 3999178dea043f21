"""The S3-compatible server the bucket tests use (moto's, on loopback) and the environment that
points the SDK chain (obstore's, boto3's) at it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

moto_server = pytest.importorskip("moto.server")


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 (port 0); yields its URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_environment(url: str) -> dict[str, str]:
    """Test credentials and the server's address, as the SDK chains read them."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "AWS_ALLOW_HTTP": "true",
    }
