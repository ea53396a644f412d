"""`relax history` and `relax stats` on a history of 10,000 sessions: wall time of the whole command, as a user
runs it (process start to exit), median of several runs, beside `python -c pass` in the same run.

    .venv/bin/python bench/history.py [--sessions 10000] [--runs 5]

The history is written once into a temp data folder through relax's own History (a session a day or two,
over about twenty years, with ratings on most), then each command runs --runs times with its output
discarded. Targets: under 0.5 s each.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

RELAX = [sys.executable, "-m", "relax.cli"]
TARGET = 0.5
ROUTINES = {"pmr": 1300, "pmr-short": 822, "knee-twists": 650, "back-pain-relief": 2124, "breathing": 453}


def fill(path: Path, count: int) -> None:
    from relax.history import History  # creates and migrates the file: the schema is relax's own

    rng = random.Random(7)
    start = datetime(2006, 1, 1, 19, tzinfo=timezone.utc)
    with History(path) as history:
        history.db.execute("BEGIN")
        for number in range(count):
            routine = rng.choice(list(ROUTINES))
            when = (start + timedelta(hours=number * 17)).strftime("%Y-%m-%dT%H:%M:%SZ")
            before = rng.randint(3, 9)
            history.db.execute(
                "INSERT INTO sessions (routine, started, ended, seconds_planned, seconds_played, outcome, tension_before,"
                " tension_after, pain_before, pain_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (routine, when, when, ROUTINES[routine], ROUTINES[routine] * rng.choice((1, 1, 1, 0.4)),
                 rng.choice(("finished",) * 8 + ("quit", "unfinished")), before, max(0, before - rng.randint(0, 4)),
                 rng.randint(2, 6) if "back" in routine or "knee" in routine else None, None))
        history.db.execute("COMMIT")


def timed(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relax-history-") as name:
        folder = Path(name)
        env = {**os.environ, "RELAX_DATA_DIR": str(folder / "data"), "HOME": str(folder), "RELAX_CONFIG": str(folder / "none.toml")}
        (folder / "none.toml").write_text("")
        os.environ.update(env)
        fill(folder / "data" / "history.db", args.sessions)
        python = timed([sys.executable, "-c", "pass"], env, args.runs)
        print(f"{args.sessions:,} sessions; median of {args.runs} runs, whole command (python -c pass: {python:.3f} s)")
        for label, command in (("relax history", ["history"]), ("relax history --json", ["history", "--json"]),
                               ("relax stats", ["stats"]), ("relax stats --weeks 52", ["stats", "--weeks", "52"])):
            seconds = timed(RELAX + command, env, args.runs)
            print(f"  {label:<24} {seconds:.3f} s  ({seconds / python:.1f}x python; target < {TARGET} s)", flush=True)


if __name__ == "__main__":
    main()
