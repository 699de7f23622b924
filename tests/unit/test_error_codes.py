"""Every error code the server can emit is declared once (errors.CODES) and documented."""

import re
from pathlib import Path

import voxlancer
from voxlancer import errors
from voxlancer.api import server

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(voxlancer.__file__).resolve().parent


def _error_classes() -> list[type[errors.VoxlancerError]]:
    found, pending = [], [errors.VoxlancerError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _codes_in_source() -> set[str]:
    """Every `code="..."` the package passes, and the codes written in its tables."""
    codes = set()
    for path in PACKAGE.rglob("*.py"):
        # code="x" at raise sites, code: str = "x" as a default, code = "x" on classes
        codes |= set(re.findall(r'\bcode(?:: str)? ?= ?"([a-z_]+)"', path.read_text()))
    codes |= {code for _, _, code, _ in server._PARSER_ERRORS}
    codes |= set(errors._STATUS_CODES.values())
    return codes


def _documented() -> list[str]:
    return re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs/errors.md").read_text(), re.M)


def test_every_code_the_server_can_emit_is_declared():
    emitted = {cls.code for cls in _error_classes()} | _codes_in_source()
    assert emitted - set(errors.CODES) == set()
    # ...and nothing is declared (and documented) that the server never says.
    assert set(errors.CODES) - emitted == set()


def test_docs_list_every_declared_code_once_and_nothing_else():
    documented = _documented()
    assert sorted(documented) == sorted(errors.CODES)


def test_the_readme_links_the_error_codes():
    assert "docs/errors.md" in (ROOT / "README.md").read_text()


def test_every_status_has_a_code():
    for status in range(400, 600):
        assert errors.code_for_status(status) in errors.CODES
