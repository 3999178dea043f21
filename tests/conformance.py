"""Helpers for the conformance tests: the vendored published specs (tests/data/specs/) as JSON
Schema validators, and an emulator on loopback that records every JSON body it is sent (over TLS
with a throwaway self-signed certificate when a client insists on https)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from batchgen.emulator import EmulatorConfig, create_app, stats_of
from batchgen.emulator.app import EmulatorStats

SPECS = Path(__file__).parent / "data" / "specs"
KEY = "sk-conformance-0123456789"


def openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 says `nullable: true` where JSON Schema says the type may be null."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: openapi_to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def aimlapi_spec(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request schema, 200 response schema) of one aimlapi/api-docs page."""
    document = json.loads((SPECS / "aimlapi" / f"{name}.json").read_text(encoding="utf-8"))
    (operation,) = (path["post"] for path in document["paths"].values())
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return openapi_to_json_schema(request), openapi_to_json_schema(response)


@cache
def openai_schemas() -> dict[str, Any]:
    document = json.loads((SPECS / "openai" / "images.json").read_text(encoding="utf-8"))
    return openapi_to_json_schema(document)  # type: ignore[no-any-return]


def openai_validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for components.schemas[name], its $refs resolved within the vendored file."""
    document = openai_schemas()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)
    ]


@dataclass
class Recorded:
    """A running emulator and every JSON body POSTed to it, by path."""

    base_url: str
    stats: EmulatorStats
    bodies: list[tuple[str, Any]] = field(default_factory=list)

    def sent_to(self, path: str) -> list[Any]:
        return [body for where, body in self.bodies if where == path]


@asynccontextmanager
async def recording_emulator(
    *, tls: ssl.SSLContext | None = None, **settings: Any
) -> AsyncIterator[Recorded]:
    config = EmulatorConfig(
        **{"time_scale": 0.0, "image_bytes": "small", "api_key": KEY, **settings}
    )
    app = create_app(config)
    scheme = "https" if tls else "http"
    recorded = Recorded("", stats_of(app))

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST":
            try:
                recorded.bodies.append((request.path, await request.json()))
            except ValueError:
                recorded.bodies.append((request.path, None))
        return await handler(request)  # type: ignore[no-any-return]

    app.middlewares.append(record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        recorded.base_url = f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
        yield recorded
    finally:
        await runner.cleanup()


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A throwaway certificate for 127.0.0.1: the server's TLS context and the CA file to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
