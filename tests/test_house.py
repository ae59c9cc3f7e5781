"""House rules of the code base that no linter checks: short functions in the hub and a
repository that stands on its own (nothing cites files outside it)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
    ]


def test_no_function_in_the_hub_is_longer_than_60_lines() -> None:
    long = [
        f"{where} has {lines} lines"
        for path in sorted((ROOT / "hub").rglob("*.py"))
        if "migrations" not in path.parts
        for where, lines in _functions(path)
        if lines > MAX_FUNCTION_LINES
    ]
    assert not long, "split these (a function reads best on one screen):\n" + "\n".join(long)


def test_the_counter_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    sample = ROOT / "tests" / f"_house_sample_{tmp_path.name}.py"
    sample.write_text(f"def long():\n{body}\n", encoding="utf-8")
    try:
        assert _functions(sample)[0][1] == MAX_FUNCTION_LINES + 1
    finally:
        sample.unlink()


def test_nothing_cites_files_outside_the_repository() -> None:
    """Whoever clones the project has only the repository: facts the code relies on are
    restated in docs/. The test corpus beside a checkout is an optional input, read only by
    tests/corpus.py (and bench/), which skip where it is absent."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    allowed = {"tests/corpus.py", "tests/test_house.py"}
    citing = [
        name
        for name in tracked
        if name not in allowed
        and name.endswith((".py", ".md", ".sh", ".toml", ".html", ".ini", ".cfg", ".yml", ".yaml"))
        and (
            "../shared" in (text := (ROOT / name).read_text(encoding="utf-8", errors="replace"))
            or "/work/shared" in text
        )
    ]
    assert not citing, f"these cite files outside the repository: {citing}"
