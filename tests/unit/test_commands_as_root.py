"""The README's commands work for root on a machine without sudo (issue 12, item 10)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _command_lines(markdown: str) -> list[str]:
    """Lines inside ``` blocks and `inline code` spans."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", markdown, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", markdown, flags=re.S))
    return [line for block in blocks for line in block.splitlines()] + inline


def test_no_documented_command_needs_sudo():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in _command_lines(doc.read_text()):
            assert not re.search(r"(^|[;&|(]\s*)sudo\s+\S", line.strip()), (doc.name, line)


def test_the_scripts_never_call_sudo():
    for script in [*sorted((ROOT / "scripts").iterdir()), ROOT / ".ci/run"]:
        code = [line for line in script.read_text().splitlines()
                if not line.lstrip().startswith("#")]
        assert not any(re.search(r"\bsudo\b", line) for line in code), script.name


def test_ci_runs_the_readme_test_command():
    assert "exec scripts/test" in (ROOT / ".ci/run").read_text()
    assert "scripts/test" in (ROOT / "README.md").read_text()
