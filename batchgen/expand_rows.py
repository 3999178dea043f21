"""A prompt entry with rows -> one prompt per record (x its vars), streamed from the file: only
the current row is in memory, whatever the file's size."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

from batchgen.errors import ManifestError

if TYPE_CHECKING:
    from batchgen.models import Manifest, PromptSpec, RowSource


@dataclass(frozen=True, slots=True)
class RowPrompt:
    """One prompt and what its row says of it (None: the manifest's own value)."""

    prompt: str
    vars: Mapping[str, str] = field(default_factory=dict)
    row_id: str | None = None
    row: Mapping[str, str] = field(default_factory=dict)
    models: tuple[str, ...] | None = None
    aspect_ratios: tuple[str, ...] | None = None
    num_images: int | None = None
    seeds: tuple[int, ...] | None = None
    params: Mapping[str, Any] | None = None


def row_prompts(spec: PromptSpec, source: RowSource, manifest: Manifest) -> Iterator[RowPrompt]:
    """Every row's prompts in file order; a row identical to an earlier one is skipped (it is
    the same task). ManifestError if the file changed since it was validated."""
    # Imported here: batchgen.manifest's package init loads manifest.load, which imports expand.
    from batchgen.manifest import rows  # noqa: PLC0415

    names = [name for name, _ in spec.vars]
    combos = [dict(zip(names, combo, strict=True)) for combo in product(*(v for _, v in spec.vars))]
    try:
        for row in rows.read_rows(source):
            if row.line in source.skip_lines:
                continue
            ident = rows.row_id(source, row)
            found = rows.overrides(source, row)
            for chosen in combos:  # inline vars are few: held, unlike rows
                yield RowPrompt(
                    prompt=spec.template.format_map({**row.fields, **chosen}),
                    vars=chosen,
                    row_id=ident,
                    row=row.fields,
                    models=found.models,
                    aspect_ratios=found.aspect_ratios,
                    num_images=found.num_images,
                    seeds=found.seeds,
                    params=found.params,
                )
    except (rows.RowError, KeyError) as exc:
        raise ManifestError([f"{source.path} changed since it was validated: {exc}"]) from exc
