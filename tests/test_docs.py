"""docs/routines.md stays true to the code: every YAML example passes `relax check`, and the
drafts in its "Limits and error messages" section fail as the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from relax.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "routines.md"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)
FAILING_SECTION = "## Limits and error messages"


def blocks() -> list[tuple[int, str, bool]]:
    text = DOC.read_text()
    failing_from = text.index(FAILING_SECTION)
    failing_to = text.index("\n## ", failing_from + 1)
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), failing_from < m.start() < failing_to)
            for m in BLOCK.finditer(text)]


def as_routine(source: str) -> str:
    """A whole routine for a fragment: steps alone, or top-level keys without steps."""
    data: Any = yaml.safe_load(source)
    if isinstance(data, list):
        return yaml.safe_dump({"title": "Example", "steps": data})
    if isinstance(data, dict) and "steps" not in data and "include" not in data:
        return source + "\nsteps:\n  - say: Hello.\n"
    return source


def test_the_doc_has_examples() -> None:
    assert len(blocks()) >= 15


@pytest.mark.parametrize("line, source, failing", blocks(), ids=[f"line-{b[0]}" for b in blocks()])
def test_yaml_example(line: int, source: str, failing: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Files named in a `# file:` comment are written together, so includes between examples resolve.
    for _, other, _ in blocks():
        named = re.match(r"# file: (\S+)", other)
        if named:
            target = tmp_path / named.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(other)
    named = re.match(r"# file: (\S+)", source)
    path = tmp_path / (named.group(1) if named else "example.yaml")
    if not named:
        path.write_text(as_routine(source))
    if path.name.startswith("_"):
        pytest.skip("a snippet: checked through the file that includes it")
    result = CliRunner().invoke(cli, ["check", str(path)])
    if failing:
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    else:
        assert result.exit_code == 0, f"docs/routines.md:{line}: {result.stderr}"
