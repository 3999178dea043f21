"""The manifest room: YAML and the row files it names -> a validated Manifest."""

from __future__ import annotations

from batchgen.manifest.load import load_manifest, parse_manifest

__all__ = ["load_manifest", "parse_manifest"]
