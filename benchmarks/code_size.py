"""Module and function sizes of batchgen/, against STYLE.md's targets (modules <= 300 lines, split
past 400; functions median 10, p90 30 lines).

    python benchmarks/code_size.py [--rev GIT_REV] [--top N]

A function's size is its lines from `def` to its last line (decorators and docstring included;
methods and nested functions count on their own). With --rev the files are read from that commit
(git show), so a change can be measured before and after without checking anything out.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent
MODULE_LIMIT = 300
SPLIT_LIMIT = 400


def sources(rev: str | None) -> dict[str, str]:
    """Every batchgen/*.py file's text, from the work tree or from a commit."""
    if rev is None:
        return {
            str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for p in sorted((ROOT / "batchgen").rglob("*.py"))
        }
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "batchgen/"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {
        name: subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        for name in names
        if name.endswith(".py")
    }


def function_sizes(text: str) -> list[tuple[int, str]]:
    sizes = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            sizes.append((node.end_lineno - start + 1 if node.end_lineno else 1, node.name))
    return sizes


def percentile(values: list[int], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="measure this commit instead of the work tree")
    parser.add_argument("--top", type=int, default=10, help="largest functions to list")
    args = parser.parse_args()
    files = sources(args.rev)
    lines = {name: len(text.splitlines()) for name, text in files.items()}
    functions = [
        (size, f"{name}:{func}")
        for name, text in files.items()
        for size, func in function_sizes(text)
    ]
    sizes = [size for size, _ in functions]
    print(f"batchgen/ at {args.rev or 'work tree'}")
    print(f"modules: {len(files)}, lines: {sum(lines.values())}")
    print(f"functions: {len(sizes)}, median {statistics.median(sizes):g} lines, ", end="")
    print(f"p90 {percentile(sizes, 0.9):g}, max {max(sizes)}")
    over = sorted(((n, name) for name, n in lines.items() if n > MODULE_LIMIT), reverse=True)
    print(f"modules over {MODULE_LIMIT} lines: {len(over)}")
    for n, name in over:
        print(f"  {n:5d}  {name}{'  (past the split limit)' if n > SPLIT_LIMIT else ''}")
    print(f"largest {args.top} functions:")
    for size, where in sorted(functions, reverse=True)[: args.top]:
        print(f"  {size:5d}  {where}")


if __name__ == "__main__":
    main()
