"""The pool skips asyncpg's reset query (voxlancer/db.py `_keep_session`); that is only sound
while pooled connections never keep session state. This test fails when code grows some, so the
choice is made again on purpose rather than by accident. Our SQL keywords are capitals, so the
patterns are case-sensitive (prose such as "; set caller_id" must not match)."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "voxlancer"

# pattern -> files (relative to voxlancer/) where it is known to be harmless, and why.
SESSION_STATE = {
    # LISTEN: the API process's listeners (auth cache, live progress) open a connection of
    # their own (listening.py); the dialer and the webhook worker hold their listener
    # connection for their whole life and remove the listener (UNLISTEN) before releasing it.
    r"add_listener\(|\bLISTEN\s+\w": {"listening.py", "dialer/daemon.py",
                                        "webhooks_worker.py"},
    # Session advisory locks: only the migration lock, on migrate_url's own connection.
    r"pg_(try_)?advisory_lock(_shared)?\(": {"db.py"},
    # Cursors that outlive their transaction.
    r"WITH\s+HOLD|\bDECLARE\s+\w+\s+(BINARY\s+)?(NO\s+)?(SCROLL\s+)?CURSOR": set(),
    # Session settings (SET LOCAL ends with the transaction, so it is fine).
    r"(\"|;)\s*SET\s+(SESSION\s+)?(?!LOCAL\b)[\w.]+\s*(=|\bTO\b)|set_config\(": set(),
    # Temporary tables that outlive their transaction.
    r"CREATE\s+TEMP(ORARY)?\s+TABLE(?![^;\"]*ON\s+COMMIT\s+DROP)": set(),
}


def test_pooled_connections_keep_no_session_state():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        for pattern, allowed in SESSION_STATE.items():
            if name in allowed:
                continue
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {match.group(0)!r}")
    assert not found, ("session state on a possibly pooled connection; see db._keep_session:\n"
                       + "\n".join(found))


def test_the_patterns_catch_what_they_are_for():
    samples = {
        "await conn.add_listener('x', cb)": 0,
        "SELECT pg_advisory_lock($1)": 1,
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1": 2,
        '"SET statement_timeout = 0"': 3,
        "CREATE TEMP TABLE t (a int)": 4,
    }
    patterns = list(SESSION_STATE)
    for sample, index in samples.items():
        assert re.search(patterns[index], sample), sample
    harmless = ['"SET LOCAL statement_timeout = 0"', "UPDATE campaigns SET name = $3",
                "CREATE TEMP TABLE t (a int)\nON COMMIT DROP", "pg_advisory_xact_lock($1)"]
    for sample in harmless:
        assert not any(re.search(p, sample) for p in patterns), sample
