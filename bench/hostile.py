"""Time and memory of `relax check` on hostile files up to the 1 MB limit, and on every built-in at once.

    .venv/bin/python bench/hostile.py [--runs 3]

Each case is a file written to a private folder, checked by `relax check FILE` as a user would run it (a
new process: start-up included). Wall time is the median of --runs; memory is the child's own peak RSS
(os.wait4), the largest of the runs. The cases are the shapes of issue 9's class 6 (small files that asked
for unbounded work or text) and the largest files of each kind that fit the size and value limits.
Targets: every file under 2 s and 300 MB; `relax check` of all built-ins, one command, under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _params(count: int, value: str = "1") -> str:
    return "".join(f"  p{i}: {value}\n" for i in range(count))


def _fan_out(leaf: str, width: int) -> str:
    lines = [f"  p0: '{leaf}'"] + [f"  p{i}: '" + f"{{p{i - 1}}}" * width + "'" for i in range(1, 5)]
    return "params:\n" + "\n".join(lines) + "\nsteps:\n  - say: 'x {p4}'\n"


def _fill(line: str, limit: int = 990_000) -> str:
    """`line` (with {i}) repeated to just under `limit` bytes."""
    out: list[str] = []
    size, i = 0, 0
    while size + len(line) + 12 < limit:
        piece = line.format(i=i)
        out.append(piece)
        size += len(piece)
        i += 1
    return "".join(out)


def cases() -> dict[str, str]:
    """Name -> routine text."""
    items = "[" + ", ".join(str(i) for i in range(450)) + "]"
    return {
        "breathe: 9,990 spaces": "steps:\n  - breathe: '4" + " " * 9_990 + "-x'\n",
        "template fan-out (5 levels x 500)": _fan_out("xxxxxxxxxx", 500),
        "template fan-out of nothing (x 2,000)": _fan_out("", 2_000),
        "include in a loop (111 bytes)": "steps:\n  - repeat: 190000\n    steps:\n      - include: _part\n",
        "202,500 section titles, no cues (to the step limit)": (
            f"params:\n  n: {items}\nsteps:\n  - for: a\n    in: '{{n}}'\n    steps:\n      - for: b\n"
            "        in: '{n}'\n        steps:\n          - section: 's{a} {b}'\n            steps:\n"
            "              - for: c\n                in: []\n                steps: [{pause: 1}]\n  - pause: 1\n"),
        "unknown names, 100 params": "params:\n" + _params(100) + "steps:\n" + _fill("  - say: 'x {{nope{i}}}'\n"),
        "100 params, loop of 20,000 items": (
            "params:\n" + _params(99) + "  items: [" + ", ".join(["1"] * 20_000) + "]\nsteps:\n  - for: i\n"
            "    in: '{items}'\n    steps:\n      - for: j\n        in: []\n        steps: [{pause: 1}]\n"
            "  - pause: 1\n"),
        "a 9,000-character word said 9,000 times": (
            "params:\n  w: " + "a" * 9_000 + "\nsteps:\n  - repeat: 9000\n    steps:\n      - say: '{w}'\n"),
        "1 MB of say steps": "steps:\n" + _fill("  - say: Now breathe in slowly and gently, {i}.\n"),
        "1 MB of pause steps": "steps:\n" + _fill("  - pause: 1\n"),
        "1 MB of unknown keys": "steps:\n" + _fill("  - {{pause: 1, extra{i}: 1}}\n"),
        "1 MB flow list": "steps: [" + ", ".join(["{pause: 1}"] * 80_000) + "]\n",
        "1 MB of digits to lint": "steps:\n" + _fill("  - say: '" + "1 " * 2_000 + "'\n"),
        "1 MB of heteronyms to lint": "steps:\n" + _fill("  - say: '" + "close " * 1_600 + "'\n"),
        "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "steps:\n  - say: hi\n",
    }


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in MB, exit code of one `relax` process."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "relax.cli", *args], env=env, cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss // 1024, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {**os.environ, "HOME": str(work), "RELAX_DATA_DIR": str(work / "data"),
               "RELAX_CACHE_DIR": str(work / "cache"), "RELAX_ROUTINES_DIR": str(work / "routines"),
               "XDG_CONFIG_HOME": str(work / "config")}
        (work / "_part.yaml").write_text("safety: Go gently.\nsteps:\n  - for: x\n    in: []\n    steps: [{pause: 1}]\n")
        print(f"{'case':45} {'bytes':>9} {'median s':>9} {'max MB':>7} {'exit':>4}")
        worst_time, worst_mb = 0.0, 0
        for name, text in cases().items():
            path = work / "case.yaml"
            path.write_text(text)
            runs = [run(["check", str(path)], env, work) for _ in range(options.runs)]
            seconds = statistics.median(r[0] for r in runs)
            mb = max(r[1] for r in runs)
            worst_time, worst_mb = max(worst_time, seconds), max(worst_mb, mb)
            print(f"{name:45} {len(text.encode()):>9,} {seconds:>9.2f} {mb:>7} {runs[0][2]:>4}")
        print(f"worst: {worst_time:.2f} s, {worst_mb} MB (targets: under 2 s and 300 MB)")
        builtins = sorted(p.stem for p in (ROOT / "routines").glob("*.yaml") if not p.name.startswith("_"))
        runs = [run(["check", *builtins], env, work) for _ in range(max(5, options.runs))]
        assert all(r[2] == 0 for r in runs), "a built-in routine fails check"
        print(f"relax check of all {len(builtins)} built-ins, one command: median "
              f"{statistics.median(r[0] for r in runs):.2f} s, {max(r[1] for r in runs)} MB (target: under 0.5 s)")


if __name__ == "__main__":
    main()
