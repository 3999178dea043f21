"""output.format / quality / sizes / keep_original: their cross-key checks and their config."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from batchgen.manifest.sources import KeyPath
from batchgen.models import DEFAULT_QUALITY, OutputConfig, OutputSize

BOXED_FITS = ("contain", "cover")  # fit modes that need a height


def output_config(output: Mapping[str, Any]) -> OutputConfig:
    """The OutputConfig of a checked `output:` mapping."""
    return OutputConfig(
        **{key: value for key, value in output.items() if key not in ("sizes", "quality")},
        quality=int(output.get("quality", DEFAULT_QUALITY)),
        sizes=tuple(_size(item) for item in output.get("sizes", [])),
    )


def _size(item: Mapping[str, Any]) -> OutputSize:
    height = item.get("height")
    fit = item.get("fit", "contain" if height is not None else "width")
    return OutputSize(width=int(item["width"]), height=height, fit=fit)


def problems(output: Mapping[str, Any]) -> Iterator[tuple[KeyPath, str]]:
    """What the schema cannot say: fits that need a height, sizes named twice, nothing kept."""
    sizes = output.get("sizes", [])
    labels: set[str] = set()
    for number, item in enumerate(sizes):
        path: KeyPath = ("output", "sizes", number)
        fit, height = item.get("fit"), item.get("height")
        if fit in BOXED_FITS and height is None:
            yield (*path, "fit"), f"fit: {fit} needs a height (the box to fit into)"
        if fit == "width" and height is not None:
            yield (*path, "height"), "fit: width takes no height (it keeps the aspect)"
        label = _size(item).label
        if label in labels:
            yield path, f"size {label} is listed twice: both would write the same files"
        labels.add(label)
    if output.get("keep_original") is False and not sizes:
        yield ("output", "keep_original"), "is false but output.sizes is empty: no file is left"
    if "quality" in output and output.get("format") == "png":
        yield ("output", "quality"), "applies to format jpeg or webp (PNG is lossless)"
