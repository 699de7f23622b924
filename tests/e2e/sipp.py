"""sipp as the far end of calls: a subprocess on loopback whose own counters say what happened."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

SCENARIOS = Path(__file__).parent / "scenarios"


class Sipp:
    """One sipp process. `finish()` waits for it to end (it stops after -m calls)."""

    def __init__(self, args: list[str], workdir: Path, name: str) -> None:
        self.stats_file = workdir / f"{name}-stats.csv"
        self.output = workdir / f"{name}.out"
        argv = ["sipp", *args, "-nostdin", "-trace_stat", "-stf", str(self.stats_file),
                "-fd", "1", "-trace_err", "-error_file", str(workdir / f"{name}-errors.log")]
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=workdir)

    @classmethod
    def uas(cls, port: int, media_port: int, calls: int, workdir: Path, name: str) -> Sipp:
        """The built-in answering scenario: 180, 200 with SDP, then waits for BYE."""
        return cls(["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port),
                    "-m", str(calls), "-timeout", "60s", "-timeout_error"], workdir, name)

    def finish(self, timeout: float = 20.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"sipp did not finish; output:\n{self.tail()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def counters(self) -> dict[str, str]:
        """The last line of sipp's statistics file, by column name."""
        with open(self.stats_file, newline="") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        return rows[-1]

    def tail(self, size: int = 3000) -> str:
        return self.output.read_bytes()[-size:].decode(errors="replace")
