"""The import rules between rooms, kept by a test: every module under batchgen/ is parsed with
`ast` (nothing imported, no side effects) and each rule names the module and line that breaks it.

Where today's code breaks a rule in a room another change owns, the break is listed in an
allowance (module, imported module) beside the rule: the lead shrinks the list, never grows it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "batchgen"


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, dotted: batchgen.run.engine
    line: int
    target: str  # what is imported, dotted: batchgen.store.journal, aiohttp.web, anyio.run
    lazy: bool  # inside a function: runs only when called
    relative: bool

    def where(self) -> str:
        return f"{self.module.replace('.', '/')}.py:{self.line}: imports {self.target}"


def dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {dotted(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(p.read_text(encoding="utf-8"), str(p)) for name, p in SOURCES.items()}


def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    """Dotted names an import statement reaches. `from batchgen import catalog` reaches the
    module batchgen.catalog; `from anyio import run` reaches anyio.run (so prefixes match)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    found = []
    for alias in node.names:
        full = f"{base}.{alias.name}" if base else alias.name
        internal = base.split(".")[0] == "batchgen"
        found.append(full if not internal or full in SOURCES else base)
    return found


def imports_of(module: str) -> list[Import]:
    tree = TREES[module]
    lazy_nodes = {
        id(inner)
        for outer in ast.walk(tree)
        if isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(outer)
    }
    return [
        Import(
            module,
            node.lineno,
            target,
            id(node) in lazy_nodes,
            isinstance(node, ast.ImportFrom) and node.level > 0,
        )
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for target in targets(node)
    ]


IMPORTS = [imp for module in SOURCES for imp in imports_of(module)]


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def broken(found: list[str], rule: str) -> str:
    return f"{rule}:\n  " + "\n  ".join(found)


def test_the_parser_sees_every_room() -> None:
    # guards the test itself: a path or parse mistake would make every rule pass vacuously
    for room in ("manifest", "run", "store", "report", "providers", "emulator", "cluster"):
        assert any(within(m, f"batchgen.{room}") for m in SOURCES), room
    assert any(i.target == "batchgen.store.journal" for i in IMPORTS)


def test_no_relative_imports() -> None:
    found = [i.where() for i in IMPORTS if i.relative]
    assert not found, broken(found, "imports are absolute only")


# --- concurrency: one task-group owner -------------------------------------------------------

TASK_GROUP_OWNER = "batchgen.run.engine"
TASK_GROUP_NAMES = {"create_task_group", "TaskGroup"}  # anyio's and asyncio's


def test_only_the_engine_opens_a_task_group() -> None:
    found = []
    for module, tree in TREES.items():
        if module == TASK_GROUP_OWNER:
            continue
        for node in ast.walk(tree):
            name = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else node.name
                if isinstance(node, ast.alias)
                else None
            )
            if name in TASK_GROUP_NAMES:
                line = getattr(node, "lineno", 0)
                found.append(f"{module.replace('.', '/')}.py:{line}: uses {name}")
    assert not found, broken(found, f"only {TASK_GROUP_OWNER} opens a task group")


# --- third-party seams -------------------------------------------------------------------------

# The HTTP client (aiohttp and the URL/header types it hands out) lives in providers/ only.
# The emulator is a server: it may use aiohttp's server side (aiohttp.web, aiohttp.typedefs) and
# nothing of the client. asyncio is touched directly only by those two rooms (a timeout type in
# the client, the server's own loop); the rest of the library runs on anyio.
CLIENT_PACKAGES = ("aiohttp", "yarl", "multidict")
SERVER_MODULES = ("aiohttp.web", "aiohttp.typedefs")
PROVIDERS = "batchgen.providers"
EMULATOR = "batchgen.emulator"


def test_only_providers_use_the_http_client() -> None:
    found = [
        i.where()
        for i in IMPORTS
        if within(i.target, *CLIENT_PACKAGES)
        and not within(i.module, PROVIDERS)
        and not (within(i.module, EMULATOR) and within(i.target, *SERVER_MODULES))
    ]
    assert not found, broken(
        found, "aiohttp's client only in providers/; the emulator uses aiohttp.web only"
    )


def test_asyncio_only_in_providers_and_emulator() -> None:
    found = [
        i.where()
        for i in IMPORTS
        if within(i.target, "asyncio") and not within(i.module, PROVIDERS, EMULATOR)
    ]
    assert not found, broken(found, "the library runs on anyio; asyncio only at the HTTP seams")


def test_only_the_cli_imports_click() -> None:
    found = [i.where() for i in IMPORTS if within(i.target, "click") and i.module != "batchgen.cli"]
    assert not found, broken(found, "only batchgen/cli.py imports click")


# The manifest's checks produce located messages; showing them with source excerpts is terminal
# display, for the CLI alone.
DISPLAY = "batchgen.manifest.excerpts"


def test_only_the_cli_shows_source_excerpts() -> None:
    found = [i.where() for i in IMPORTS if i.target == DISPLAY and i.module != "batchgen.cli"]
    assert not found, broken(found, f"only batchgen/cli.py imports {DISPLAY}")


# --- the emulator shares no code with the client side ------------------------------------------

# The two places that start an emulator, and only lazily (inside the function that starts it),
# so that a real run never loads the emulator's code.
# providers/ starts it, cli.py serves `batchgen emulator`, and manifest/load.py asks it to read its
# own fault spec at validate (a bad spec is located before anything starts), each lazily.
EMULATOR_STARTERS = {"batchgen.providers", "batchgen.cli", "batchgen.manifest.load"}


def test_the_emulator_imports_nothing_of_the_client() -> None:
    found = [
        i.where()
        for i in IMPORTS
        if within(i.module, EMULATOR)
        and within(i.target, "batchgen")
        and not within(i.target, EMULATOR)
    ]
    assert not found, broken(found, "batchgen/emulator/ imports only from batchgen/emulator/")


def test_the_client_imports_the_emulator_only_where_it_starts_it() -> None:
    found = [
        i.where() + ("" if i.lazy else " (at module level)")
        for i in IMPORTS
        if not within(i.module, EMULATOR)
        and within(i.target, EMULATOR)
        and not (i.module in EMULATOR_STARTERS and i.lazy)
    ]
    assert not found, broken(
        found,
        "only providers/__init__.py, cli.py and manifest/load.py import the emulator, lazily",
    )


# --- pure modules ----------------------------------------------------------------------------

PURE = {
    "batchgen.catalog",
    "batchgen.errors",
    "batchgen.expand",
    "batchgen.models",
    "batchgen.plan",
    "batchgen.redact",
    "batchgen.pricing",
    "batchgen.retry",
    "batchgen.manifest.schema",
    "batchgen.manifest.batchmode",
    "batchgen.report.stats",
    "batchgen.run.adaptive",
    "batchgen.store.imageinfo",
}
# A catalog job's rows are streamed from their file as tasks are drawn (a million rows never sit
# in memory), so expansion reads through this one module; everything else in expand.py is pure.
ROW_READERS = {("batchgen.expand", "batchgen.expand_rows")}
# I/O, processes, the clock and randomness (they come in as arguments: STYLE habit 3), event
# loops, and the outside libraries that do any of it. pathlib stays allowed: models.py keeps a
# Path as data; file operations on paths are caught by IO_CALLS below instead.
IMPURE_IMPORTS = (
    "aiohttp",
    "aiolimiter",
    "anyio",
    "asyncio",
    "click",
    "concurrent",
    "csv",
    "fcntl",
    "glob",
    "http",
    "io",
    "logging",
    "matplotlib",
    "multiprocessing",
    "os",
    "PIL",
    "random",
    "rich",
    "secrets",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "urllib.request",
    "uuid",
    "yaml",
)
IO_CALLS = {
    "open",
    "print",
    "input",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "mkdir",
    "unlink",
    "rmdir",
    "iterdir",
    "glob",
    "rglob",
    "touch",
    "exists",
    "is_file",
    "is_dir",
    "stat",
}


def test_pure_modules_exist() -> None:
    assert set(SOURCES) >= PURE, PURE - set(SOURCES)


def test_pure_modules_import_no_io() -> None:
    found = [
        i.where()
        for i in IMPORTS
        if i.module in PURE
        and (i.module, i.target) not in ROW_READERS
        and (
            within(i.target, *IMPURE_IMPORTS)
            or (within(i.target, "batchgen") and i.target not in PURE)
        )
    ]
    assert not found, broken(found, "pure modules import no I/O and only pure batchgen modules")


def test_pure_modules_call_no_io() -> None:
    found = []
    for module in sorted(PURE):
        for node in ast.walk(TREES[module]):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in IO_CALLS:
                found.append(f"{module.replace('.', '/')}.py:{node.lineno}: calls {name}()")
    assert not found, broken(found, "pure modules touch no files and print nothing")


# --- the direction between rooms -------------------------------------------------------------

# A room may import the rooms on its right, never those on its left: the manifest is read
# before anything runs, the store knows nothing of the run that writes it, the report reads the
# store after the run.
ROOM_RULES = {
    "batchgen.manifest": (
        "batchgen.run",
        "batchgen.store",
        "batchgen.report",
        "batchgen.providers",
    ),
    "batchgen.store": ("batchgen.run", "batchgen.report", "batchgen.providers"),
    "batchgen.report": ("batchgen.run", "batchgen.providers"),
}


def room_breaks() -> list[Import]:
    return [
        i
        for i in IMPORTS
        for room, forbidden in ROOM_RULES.items()
        if within(i.module, room) and within(i.target, *forbidden)
    ]


def test_rooms_import_only_downstream() -> None:
    found = [i.where() for i in room_breaks()]
    assert not found, broken(
        found,
        "manifest/ imports no run/ store/ report/ providers/; store/ no run/ report/ "
        "providers/; report/ no run/ providers/",
    )


# --- the cluster (the ray extra) ---------------------------------------------------------------

# batchgen/cluster/ runs one job on Ray: it may use run/, store/, report/, providers/ and the top
# level; only the command line's entry points reach it, and lazily; ray is imported inside it
# alone, lazily, so a default install, a local run and `batchgen --help` never load ray.
CLUSTER = "batchgen.cluster"
CLUSTER_ENTRY_POINTS = {"batchgen.cli", "batchgen.cli_text"}


def test_only_the_entry_points_reach_the_cluster() -> None:
    found = [
        i.where() + ("" if i.lazy else " (at module level)")
        for i in IMPORTS
        if within(i.target, CLUSTER)
        and not within(i.module, CLUSTER)
        and not (i.module in CLUSTER_ENTRY_POINTS and i.lazy)
    ]
    assert not found, broken(found, "only cli.py / cli_text.py import batchgen/cluster, lazily")


def test_ray_only_in_the_cluster_and_lazily() -> None:
    found = [
        i.where() + ("" if i.lazy else " (at module level)")
        for i in IMPORTS
        if within(i.target, "ray") and not (within(i.module, CLUSTER) and i.lazy)
    ]
    assert not found, broken(found, "ray is imported in batchgen/cluster/ only, inside functions")
