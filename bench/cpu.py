"""CPU used by the live player, as a percentage of one core, with an ambience bed and without, through a
private PulseAudio null sink.

    .venv/bin/python bench/cpu.py [--seconds 60] [--runs 3] [--routine knee-twists] [--beds rain] [--no-record]

`relax play ROUTINE --ambience BED` (and `--ambience none`, the baseline) runs as a user would start it,
with stdout not a terminal (the plain view, one line per cue), for --seconds. Its CPU time (utime + stime
of /proc/PID/stat: every thread of the process, the audio thread included) is read once it has
settled into playing (--settle seconds after start, with its stream checked to be on the sink) and again
just before it is stopped with SIGINT; CPU% = CPU seconds / wall seconds * 100 over that window. Child
processes are counted apart, live ones from their own /proc stat and reaped ones from the player's cutime
+ cstime: the speech is prepared and the bed cached beforehand, so there should be no synthesis workers
and the children column should read 0. The sink's monitor is recorded (parec, not counted) while each
player runs, unless --no-record: with nothing reading it the null sink drains the stream in bursts of
seconds at the start, which relax counts as an underrun, where a sound card pulls a period at a time. The
PulseAudio server's own CPU over the same window (serving the recorder included) is shown for context; it
is not part of relax's figure. Each figure is the median of --runs, the cases taking turns within each
round. The underrun count is from `relax --debug play`'s closing line. Target: under 10% of one core with
a bed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pulse import PulseServer, Recorder  # noqa: E402

RELAX = [sys.executable, "-m", "relax.cli"]
TICKS = os.sysconf("SC_CLK_TCK")
TARGET_PERCENT = 10.0
UNDERRUNS = re.compile(r"underruns: (\d+)")


@dataclass(frozen=True)
class Times:
    """CPU seconds of a process: its own (all threads) and its children's (reaped plus still running)."""

    own: float
    children: float
    live_children: int


@dataclass(frozen=True)
class Sample:
    """One measured window of one `relax play`."""

    player: float
    children: float
    server: float
    live_children: int
    underruns: str


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses): [0] is state."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue  # gone between the listing and the read
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_times(pid: int) -> Times:
    fields = stat_fields(pid)
    # utime, stime, cutime, cstime are fields 14-17 of proc(5), here 11-14 counting from the state.
    own = (int(fields[11]) + int(fields[12])) / TICKS
    reaped = (int(fields[13]) + int(fields[14])) / TICKS
    live = 0.0
    children = descendants(pid)
    for child in children:
        try:
            child_fields = stat_fields(child)
        except OSError:
            continue
        live += (int(child_fields[11]) + int(child_fields[12])) / TICKS
    return Times(own, reaped + live, len(children))


def playing(server: PulseServer) -> bool:
    """Whether a client stream is connected to the sink, i.e. the player has really started."""
    listing = subprocess.run(["pactl", "list", "short", "sink-inputs"], env=server.env, capture_output=True, text=True)
    return bool(listing.stdout.strip())


def measure(routine: str, ambience: str, player: str, seconds: float, settle: float, env: dict[str, str],
            server: PulseServer, folder: Path, record: bool) -> Sample:
    log = folder / "play.err"
    assert server.process is not None
    # Something reading the monitor keeps the null sink pulling in short periods, as a sound card does; with no
    # reader it drains the player's stream in large bursts, which its gap detector counts as an underrun.
    recorder = Recorder(server, folder / "monitor.raw") if record else None
    with open(log, "w") as stderr:
        # --debug only adds the closing `audio: ...; underruns: N` line on stderr.
        process = subprocess.Popen(RELAX + ["--debug", "play", routine, "--ambience", ambience, "--player", player],
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            time.sleep(settle)
            if process.poll() is not None or not playing(server):
                raise SystemExit(f"relax play --ambience {ambience} is not playing after {settle:.0f} s:\n{log.read_text()}")
            start_wall, start, start_server = time.monotonic(), cpu_times(process.pid), cpu_times(server.process.pid)
            time.sleep(max(0.0, seconds - settle))
            end_wall, end, end_server = time.monotonic(), cpu_times(process.pid), cpu_times(server.process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            if recorder:
                recorder.stop()
    wall = end_wall - start_wall
    found = UNDERRUNS.search(log.read_text())
    return Sample(100 * (end.own - start.own) / wall, 100 * (end.children - start.children) / wall,
                  100 * (end_server.own - start_server.own) / wall, max(start.live_children, end.live_children),
                  found[1] if found else "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds each player runs (default 60)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before the window opens (default 5)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--routine", default="knee-twists")
    parser.add_argument("--beds", default="rain", help="beds to measure besides none (default rain)")
    parser.add_argument("--player", default="pulse", choices=["pulse", "miniaudio", "simpleaudio"])
    parser.add_argument("--no-record", action="store_true", help="leave the sink's monitor unread (see above)")
    args = parser.parse_args()
    if args.seconds <= args.settle:
        parser.error("--seconds must be longer than --settle")
    with tempfile.TemporaryDirectory(prefix="relax-cpu-") as name:
        folder = Path(name)
        server = PulseServer(folder / "pulse")
        server.start()
        env = {**os.environ, **{k: server.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR")},
               "RELAX_CACHE_DIR": str(folder / "cache")}
        try:
            cases = ["none"] + [bed for bed in args.beds.split(",") if bed]
            subprocess.run(RELAX + ["prepare", args.routine], env=env, check=True, capture_output=True)
            for bed in cases[1:]:
                # A short render loads each bed through the cache, so no run pays for synthesizing it.
                subprocess.run(RELAX + ["render", args.routine, "-o", str(folder / "warm.wav"), "--ambience", bed],
                               env=env, check=True, capture_output=True)
            (folder / "warm.wav").unlink(missing_ok=True)
            print(f"relax play {args.routine} --player {args.player}, stdout not a terminal; window "
                  f"{args.seconds - args.settle:.0f} s from {args.settle:.0f} s after start; median of {args.runs}; "
                  f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
            samples: dict[str, list[Sample]] = {case: [] for case in cases}
            for _ in range(args.runs):
                for case in cases:
                    samples[case].append(measure(args.routine, case, args.player, args.seconds, args.settle, env, server,
                                                 folder, not args.no_record))
            print(f"{'ambience':<9} {'relax %':>8} {'runs %':>22} {'children %':>10} {'live':>4} {'pulseaudio %':>12} "
                  f"{'underruns':>9}")
            for case in cases:
                runs = samples[case]
                each = " ".join(f"{s.player:.1f}" for s in runs)
                print(f"{case:<9} {statistics.median(s.player for s in runs):>8.2f} {each:>22} "
                      f"{statistics.median(s.children for s in runs):>10.2f} {max(s.live_children for s in runs):>4} "
                      f"{statistics.median(s.server for s in runs):>12.2f} {','.join(s.underruns for s in runs):>9}")
            print(f"% of one core; target: relax under {TARGET_PERCENT:.0f}% with a bed. children: synthesis workers "
                  "or others, live and reaped; pulseaudio: the private server, for context")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
