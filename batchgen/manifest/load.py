"""Manifest v1: YAML text -> a validated Manifest; every problem found, each as file:line:col.

Pure apart from reading the manifest and the CSV files it names: no network, no environment.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any

from batchgen.errors import ManifestError
from batchgen.expand import count_tasks
from batchgen.manifest import fit, rowcheck, rows, rowspec, sources, suggest
from batchgen.manifest.batchcheck import batch_problems
from batchgen.manifest.build import as_list, build, notify_config
from batchgen.manifest.diagnostics import model_warnings
from batchgen.manifest.paths import unencodable
from batchgen.manifest.prices import unpriced_under_budget
from batchgen.manifest.schema import MANIFEST_SCHEMA, VAR_NAME
from batchgen.manifest.schema_check import validate
from batchgen.manifest.section_checks import check_fallback, check_output
from batchgen.manifest.sources import Anchor, KeyPath, Problem, show
from batchgen.models import Manifest, PromptSpec

MAX_TASKS = 10**12  # far past any real job, far below SQLite's 2**63 integers


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and validate a manifest file; ManifestError lists every problem found."""
    source = Path(path)
    return parse_manifest(sources.read_text(source), source=source)


def parse_manifest(text: str, *, source: Path) -> Manifest:
    """Validate manifest text; `source` names the file in messages and anchors CSV paths."""
    source = Path(source)
    document = sources.read_yaml(text)
    values = document.value
    if not isinstance(values, dict):
        if not document.problems:
            document.problems.append(Problem((), _not_a_mapping(values)))
        raise ManifestError(document.messages(source))
    document.problems += [
        problem
        for problem in validate(values, MANIFEST_SCHEMA)
        if not any(_within(problem.path, bad) for bad in document.broken)
    ]
    document.problems += batch_problems(values)
    check = _Check(source.parent, document.problems)
    prompts = check.manifest(values)
    warnings = model_warnings(values, document, source)
    if document.problems or check.row_problems:  # the warnings too: one pass shows everything
        raise ManifestError(document.messages(source) + check.row_problems, warnings)
    manifest = build(values, prompts, source, warnings)
    if (count := count_tasks(manifest)) > MAX_TASKS:
        document.problems.append(Problem(("prompts",), _too_many(count), "key"))
        raise ManifestError(document.messages(source), warnings)
    return manifest


def _too_many(count: int) -> str:
    return (
        f"makes {count:,} tasks (prompts x vars x models x aspect ratios x seeds), over the "
        f"{MAX_TASKS:,} one run directory can track; split the job into several manifests"
    )


def _not_a_mapping(values: Any) -> str:
    if values is None:
        return "the manifest is empty; expected a mapping with version, models and prompts"
    return f"the manifest must be a mapping (version, models, prompts, ...), got {show(values)}"


def _within(path: KeyPath, prefix: KeyPath) -> bool:
    return path[: len(prefix)] == prefix


@dataclass
class _Check:
    """The checks the schema cannot express; they run only where the schema found no problem."""

    base: Path  # CSV paths are relative to the manifest's directory
    problems: list[Problem]
    tables: dict[Path, list[list[str]]] = field(default_factory=dict)
    limit_by: str = "the AI/ML API"  # who sets the prompt limit, for messages
    values: dict[str, Any] = field(default_factory=dict)
    row_problems: list[str] = field(default_factory=list)  # file:line: ... in a row source
    used: list[str] = field(default_factory=list)  # the last template's placeholders
    longest: dict[str, str] = field(default_factory=dict)  # and its vars' longest values

    def clean(self, path: KeyPath) -> bool:
        return not any(_within(p.path, path) or _within(path, p.path) for p in self.problems)

    def add(self, path: KeyPath, message: str, anchor: Anchor = "value") -> None:
        self.problems.append(Problem(path, message, anchor))

    def manifest(self, values: dict[str, Any]) -> tuple[PromptSpec, ...]:
        self.values = values
        broken = unencodable(values)
        for path in broken:
            self.add(path, "holds a lone surrogate (like \\ud800), which is not text; remove it")
        if broken:
            return ()
        models = as_list(values["models"]) if self.clean(("models",)) else None
        if self.clean(("fallback",)):
            check_fallback(self, values.get("fallback", {}), models)
        if self.clean(("output",)):
            check_output(self, values)
        self.faults(values.get("provider"))
        notify = values.get("notify")
        if isinstance(notify, dict) and self.clean(("notify",)) and not notify_config(notify):
            self.add(("notify",), "names neither webhook_env nor command: nothing to notify")
        self.problems += fit.check_models(values, self.clean)
        if all(self.clean((key,)) for key in ("budget", "prices", "models", "fallback")):
            self.problems += unpriced_under_budget(values)
        limit, self.limit_by = fit.prompt_limit(fit.api_of(values), models)
        items = values.get("prompts")
        if not isinstance(items, list):
            return ()
        specs = [self.prompt(item, ("prompts", i), limit) for i, item in enumerate(items)]
        return rowspec.distinct(spec for spec in specs if spec is not None)

    def faults(self, provider: object) -> None:
        """The emulator's fault spec, parsed now so a typo is located before the run."""
        spec = provider.get("faults") if isinstance(provider, dict) else None
        if not isinstance(spec, str) or not self.clean(("provider", "faults")):
            return
        from batchgen.emulator.faults import parse_faults  # only manifests that name faults

        try:
            parse_faults(spec)
        except ValueError as exc:
            self.add(("provider", "faults"), str(exc))

    def placeholders(self, text: str, path: KeyPath, allowed: list[str]) -> list[str] | None:
        parsed = self.fields(text, path)
        if parsed is None:
            return None
        for name in parsed[1]:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"did you mean {{{close[0]}}}? " if close else ""
                expected = ", ".join(f"{{{a}}}" for a in allowed)
                self.add(path, f"placeholder {{{name}}} is not allowed; {hint}expected {expected}")
        return parsed[1]

    def fields(self, text: str, path: KeyPath) -> tuple[int, list[str]] | None:
        """Length of the literal text and the placeholder names, in order; None if unusable."""
        try:
            parsed = list(Formatter().parse(text))
        except ValueError as exc:
            self.add(path, f"{exc}; write {{{{ and }}}} for literal braces, got {show(text)}")
            return None
        usable = True
        for _, name, spec, conversion in parsed:
            if name is not None and (spec or conversion or not _is_name(name)):
                self.add(path, _bad_placeholder(name, spec, conversion))
                usable = False
        names = [name for _, name, _, _ in parsed if name is not None]
        return (sum(len(literal) for literal, *_ in parsed), names) if usable else None

    def prompt(self, item: Any, path: KeyPath, limit: int) -> PromptSpec | None:
        if isinstance(item, str) and self.clean(path):
            if len(item) > limit:
                self.add(path, f"prompt is {len(item)} characters; {self.accepts(limit)}")
            return PromptSpec(item)
        usable = isinstance(item, dict) and isinstance(item.get("vars", {}), dict)
        if usable and "rows" in item:
            return self.rows_entry(item, path, limit) if self.clean(path) else None
        if usable and "template" not in item:
            self.add((*path, "template"), "missing required key 'template'", "parent")
        elif usable and self.clean((*path, "template")):
            return self.template(item, path, limit)
        return None

    def rows_entry(self, item: dict[str, Any], path: KeyPath, limit: int) -> PromptSpec | None:
        """A template filled from each record of a file (the rows checked by streaming it)."""
        source = rowspec.source_of(item["rows"], self.base)
        try:
            names = rowspec.field_names(source)
        except rows.RowError as exc:
            self.add((*path, "rows", source.format), str(exc))
            return None
        self.problems += rowspec.header_problems(source, names, (*path, "rows"))
        if "template" not in item and source.format != "text":
            self.add((*path, "template"), "missing required key 'template'", "parent")
            return None
        text = item.get("template", rowspec.TEXT_TEMPLATE)
        spec = self.template({**item, "template": text}, path, limit, row_fields=names)
        if spec is None or not all(self.clean(k) for k in [path, *rowspec.DEFAULTS_FROM]):
            return spec
        needs = rowcheck.Needs(
            text, tuple(n for n in self.used if n in names), self.longest, limit, self.limit_by
        )
        checked, problems = rowcheck.scan(source, needs, rowspec.defaults(self.values, spec))
        self.row_problems += problems
        return PromptSpec(spec.template, spec.vars, is_template=True, rows=checked)

    def template(
        self, item: dict[str, Any], path: KeyPath, limit: int, *, row_fields: Sequence[str] = ()
    ) -> PromptSpec | None:
        text, raw_vars = item["template"], item.get("vars", {})
        variables = {
            name: self.var_values(raw, (*path, "vars", name)) for name, raw in raw_vars.items()
        }
        parsed = self.fields(text, (*path, "template"))
        if parsed is None:
            return None
        fixed, names = parsed
        self.used = names
        for name in raw_vars:
            if name in row_fields:
                self.add(
                    (*path, "vars", name),
                    f"var {name!r} is also a field of the rows; rename the var",
                    "key",
                )
        unused = [name for name in raw_vars if name not in names]
        unmatched = [
            name for name in dict.fromkeys(names) if name not in raw_vars and name not in row_fields
        ]
        for name in unmatched:
            self.add(
                (*path, "template"),
                f"placeholder {{{name}}} has no var; {suggest.placeholder_hint(name, unused)}"
                f"add {name} under vars, or write {{{{{name}}}}} for literal braces",
            )
        for name in unused:
            if self.clean((*path, "vars", name)):
                self.add(
                    (*path, "vars", name),
                    f"var {name!r} is not used; {suggest.var_hint(name, unmatched)}"
                    f"expected a {{{name}}} placeholder in the template",
                    "key",
                )
        ready = {name: values for name, values in variables.items() if values}
        self.longest = {name: max(values, key=len) for name, values in ready.items()}
        # with rows, each row's prompt is measured as the rows are streamed
        if not row_fields and set(names) <= set(ready):
            self.expansion(fixed, names, ready, (*path, "template"), limit)
        return PromptSpec(text, tuple((n, v or ()) for n, v in variables.items()), is_template=True)

    def expansion(
        self,
        fixed: int,
        names: list[str],
        values: dict[str, tuple[str, ...]],
        path: KeyPath,
        limit: int,
    ) -> None:
        longest = {name: max(values[name], key=len) for name in names}
        size = fixed + sum(len(longest[name]) for name in names)
        if size > limit:
            example = ", ".join(f"{name}={show(value)}" for name, value in longest.items())
            self.add(
                path,
                f"the longest expansion is {size} characters (with {example}); "
                + self.accepts(limit),
            )

    def accepts(self, limit: int) -> str:
        return f"{self.limit_by} accepts at most {limit}"

    def var_values(self, raw: Any, path: KeyPath) -> tuple[str, ...] | None:
        if not self.clean(path):
            return None
        if isinstance(raw, list):
            return tuple(dict.fromkeys(str(value) for value in raw))
        return self.csv_column(raw["csv"], raw["column"], path)

    def csv_column(self, name: str, column: str, path: KeyPath) -> tuple[str, ...] | None:
        file = self.base / name
        try:
            if file not in self.tables:
                self.tables[file] = sources.read_csv(file)
            return sources.column_values(self.tables[file], column, file)
        except sources.CsvProblem as exc:
            self.add((*path, exc.key), exc.message)
            return None


def _is_name(text: str) -> bool:
    """A placeholder is named like a var (the schema's rule for var names)."""
    return not validate(text, VAR_NAME)


def _bad_placeholder(name: str, spec: str | None, conversion: str | None) -> str:
    written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    written += "}"
    if not _is_name(name):
        return f"placeholder {written} is not a name; expected {{name}}, or {{{{ }}}} for braces"
    return f"placeholder {written} has a format spec or conversion; expected {{{name}}}"
