"""Live sessions through a real (private, null-sink) PulseAudio server, recorded and compared with
`relax render`'s file for the same routine; keys through a real pseudo-terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pexpect
import pytest
from pulse import RATE, PulseServer, Recorder, last_sound, onsets, samples_of

ROUTINE = """\
title: Audio test
safety: Go gently.
steps:
  - say: Breathe in slowly.
  - pause: 1
  - say: Let your shoulders drop.
  - pause: 3
  - section: Second
    steps:
      - say: Now rest.
      - pause: 1
      - bell: chime
      - say: Well done.
"""
TOLERANCE = 0.010


@pytest.fixture
def routine(tmp_path: Path) -> Path:
    path = tmp_path / "audio-test.yaml"
    path.write_text(ROUTINE)
    return path


def environment(pulse: PulseServer | None) -> dict[str, str]:
    env = dict(os.environ)
    if pulse is None:
        env["PULSE_SERVER"] = "unix:/nonexistent/pulse/native"
    else:
        env.update({k: pulse.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "PULSE_SINK")})
    env["COLUMNS"] = "100"
    return env


def relax(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relax.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def rendered_onsets(routine: Path, tmp_path: Path, env: dict[str, str], *extra: str) -> list[float]:
    out = tmp_path / "render.wav"
    done = relax("render", str(routine), "--engine", "espeak", "-o", str(out), *extra, env=env)
    assert done.returncode == 0, done.stderr
    return onsets(samples_of(out))


def aligned(times: list[float]) -> list[float]:
    return [t - times[0] for t in times]


def assert_same_onsets(recorded: list[float], rendered: list[float]) -> None:
    assert len(recorded) == len(rendered), (recorded, rendered)
    for heard, planned in zip(aligned(recorded), aligned(rendered)):
        assert abs(heard - planned) <= TOLERANCE, (aligned(recorded), aligned(rendered))


@pytest.mark.parametrize("player", ["pulse", "miniaudio", "simpleaudio"])
def test_live_onsets_match_the_rendered_file(player: str, pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    planned = rendered_onsets(routine, tmp_path, env)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    done = relax("play", str(routine), "--engine", "espeak", "--player", player, env=env)
    heard = recorder.stop()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[:2] == ["Audio test", "Go gently."]
    assert lines[2] == "   0:00  speech: Breathe in slowly."
    assert lines[-1].startswith("Session complete: 0:1")
    assert len(planned) == 5
    assert_same_onsets(onsets(heard), planned)


def test_start_at_a_section_plays_from_there(pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    planned = rendered_onsets(routine, tmp_path, env)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    done = relax("play", str(routine), "--engine", "espeak", "--start-at", "second", env=env)
    heard = recorder.stop()
    assert done.returncode == 0, done.stderr
    assert_same_onsets(onsets(heard), planned[2:])
    assert relax("play", str(routine), "--start-at", "Third", env=env).stderr == (
        "Error: --start-at: no section 'Third' in audio-test (sections: Second)\n")


def test_without_an_audio_device_the_session_is_guided_in_text(routine: Path) -> None:
    started = time.monotonic()
    done = relax("play", str(routine), "--engine", "espeak", env=environment(None))
    elapsed = time.monotonic() - started
    assert done.returncode == 0
    assert "ALSA" not in done.stderr and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[2] == ("No audio device (miniaudio: failed to init device): guiding in text only. "
                        "To listen elsewhere: relax render audio-test -o session.wav")
    assert [line.split(": ", 1)[1] for line in lines[3:-1]][:3] == ["Breathe in slowly.", "Pause", "Let your shoulders drop."]
    minutes, seconds = lines[-1].removeprefix("Session complete: ").split(".")[0].split(":")
    total = int(minutes) * 60 + int(seconds)
    assert total >= 10 and total - 0.5 < elapsed < total + 4.0  # real time, not as fast as possible


def spawn(routine: Path, env: dict[str, str], *extra: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "relax.cli", "play", str(routine), "--engine", "espeak", "--no-ratings", *extra],
                         env={**env, "TERM": "xterm-256color"}, dimensions=(30, 100), timeout=30, encoding="utf-8")


def wait_for_sound(recorder: Recorder, quiet_after: float | None = None, timeout: float = 15) -> None:
    """Until the recording has sound (then, optionally, `quiet_after` seconds of quiet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heard = samples_of(recorder.target)
        found = onsets(heard)
        if found and (quiet_after is None or len(heard) / 22050 - last_sound(heard) >= quiet_after):
            return
        time.sleep(0.02)
    raise AssertionError("no sound was recorded")


def wait_for_level(recorder: Recorder, threshold: int, timeout: float = 15) -> float:
    """Until the recording has a sample above `threshold`: the second it came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        loud = np.flatnonzero(np.abs(samples_of(recorder.target).astype(np.int32)) > threshold)
        if len(loud):
            return float(loud[0]) / RATE
        time.sleep(0.02)
    raise AssertionError("no sound was recorded")


def test_pause_leaves_silence_and_resume_continues(pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    planned = rendered_onsets(routine, tmp_path, env)
    relax("prepare", str(routine), "--engine", "espeak", env=env)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    child = spawn(routine, env)
    child.expect("Audio test")
    wait_for_sound(recorder)
    wait_for_sound(recorder, quiet_after=0.3)  # in the 1 s pause after the first sentence
    child.send(" ")
    child.expect("paused")
    time.sleep(1.5)
    child.send(" ")
    child.expect("Session complete", timeout=30)
    child.expect(pexpect.EOF)
    heard = onsets(recorder.stop())
    assert len(heard) == len(planned)
    shifts = [h - p for h, p in zip(aligned(heard), aligned(planned))]
    assert abs(shifts[0]) <= TOLERANCE
    # Everything after the pause is late by the same amount: nothing skipped, nothing repeated.
    assert 1.3 < shifts[1] < 2.5
    assert all(abs(shift - shifts[1]) <= TOLERANCE for shift in shifts[1:]), shifts


def test_quit_key_stops_sound_at_once_and_restores_the_terminal(pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    relax("prepare", str(routine), "--engine", "espeak", env=env)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    command = f"{sys.executable} -m relax.cli play {routine} --engine espeak --no-ratings; echo exit=$?; stty -a"
    child = pexpect.spawn("sh", ["-c", command], env={**env, "TERM": "xterm-256color"}, dimensions=(30, 100),
                          timeout=30, encoding="utf-8")
    wait_for_sound(recorder)
    time.sleep(0.3)  # in the middle of the first sentence
    pressed = recorder.frames() / 22050
    child.send("q")
    child.expect("Stopped at 0:0")
    child.expect("exit=0")
    child.expect(pexpect.EOF)
    settings = child.before.split()
    assert "echo" in settings and "icanon" in settings  # not -echo / -icanon: the terminal is back
    heard = recorder.stop()
    assert last_sound(heard) - pressed < 0.1


def test_ctrl_c_stops_with_exit_130_and_a_summary(pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    relax("prepare", str(routine), "--engine", "espeak", env=env)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    child = spawn(routine, env)
    wait_for_sound(recorder)
    time.sleep(0.3)
    pressed = recorder.frames() / 22050
    child.sendintr()
    child.expect("Stopped at 0:0")
    child.expect(pexpect.EOF)
    child.close()
    heard = recorder.stop()
    assert child.exitstatus == 130
    assert last_sound(heard) - pressed < 0.1


def test_cold_cache_synthesizes_ahead_and_never_waits(pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    env["RELAX_CACHE_DIR"] = str(tmp_path / "cold-cache")
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    done = relax("play", str(routine), "--engine", "espeak", env=env)
    heard = recorder.stop()
    assert done.returncode == 0, done.stderr
    # Rendered afterwards from the clips the live session synthesized while it played.
    assert_same_onsets(onsets(heard), rendered_onsets(routine, tmp_path, env))


def test_next_key_skips_the_rest_of_a_pause(pulse: PulseServer, routine: Path, tmp_path: Path) -> None:
    env = environment(pulse)
    relax("prepare", str(routine), "--engine", "espeak", env=env)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    child = spawn(routine, env)
    deadline = time.monotonic() + 15
    while len(onsets(samples_of(recorder.target))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # until the second sentence has started
    wait_for_sound(recorder, quiet_after=0.5)  # and ended: we are in its 3 s pause
    pressed = recorder.frames() / 22050
    child.send("n")
    child.expect("Session complete", timeout=30)
    child.expect(pexpect.EOF)
    after = [t for t in onsets(recorder.stop()) if t > pressed]
    # "Now rest." at once, not 2.5 s later, nor after the 0.2 s the server holds: the skip writes over that.
    assert after and after[0] - pressed < 0.1


BED_ROUTINE = """\
title: Bed
ambience: {sound: rain, volume: 0.5}
steps:
  - say: Breathe in slowly.
  - pause: 3
  - say: Let your shoulders drop.
  - pause: 4
  - say: Well done.
"""


def test_a_live_session_with_a_bed_is_the_rendered_file(pulse: PulseServer, tmp_path: Path) -> None:
    env = environment(pulse)
    routine = tmp_path / "bed.yaml"
    routine.write_text(BED_ROUTINE)
    out = tmp_path / "bed.wav"
    assert relax("render", str(routine), "--engine", "espeak", "-o", str(out), env=env).returncode == 0
    rendered = samples_of(out).astype(np.float64)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    done = relax("--debug", "play", str(routine), "--engine", "espeak", env=env)
    heard = recorder.stop().astype(np.float64)
    assert done.returncode == 0, done.stderr
    # Align on the first speech onset, then compare every 1 s window of the session.
    lag = round((onsets(heard.astype(np.int16))[0] - onsets(rendered.astype(np.int16))[0]) * RATE)
    best = max(range(lag - 40, lag + 41), key=lambda shift: float(np.dot(heard[shift:shift + RATE], rendered[:RATE])))
    windows = [(start, rendered[start:start + RATE], heard[best + start:best + start + RATE])
               for start in range(0, len(rendered) - RATE, RATE)]
    correlations = [(start / RATE, round(float(np.corrcoef(a, b)[0, 1]), 4)) for start, a, b in windows
                    if len(b) == RATE and np.std(a) > 0]
    assert len(correlations) >= 10
    assert min(c for _, c in correlations) > 0.99, (correlations, done.stderr)


def test_pause_fades_out_at_once_and_resume_fades_in_where_it_stopped(pulse: PulseServer, tmp_path: Path) -> None:
    env = environment(pulse)
    routine = tmp_path / "calm.yaml"
    routine.write_text("title: Calm\nambience: {sound: pink, volume: 1.0}\nsteps:\n  - pause: 12\n")
    out = tmp_path / "calm.wav"
    assert relax("render", str(routine), "-o", str(out), env=env).returncode == 0
    rendered = samples_of(out).astype(np.float64)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    child = spawn(routine, env)
    # Past the bed's 4 s fade-in, by the recording: a slow start on a busy machine must not put the key in it.
    began = wait_for_level(recorder, 20)
    deadline = time.monotonic() + 30
    while recorder.frames() / RATE < began + 5:
        assert time.monotonic() < deadline, "the recording stopped growing"
        time.sleep(0.02)
    pressed = recorder.frames() / RATE
    child.send(" ")
    child.expect("paused")
    time.sleep(1.0)
    child.send(" ")
    time.sleep(1.5)
    child.send("q")
    child.expect(pexpect.EOF)
    heard = recorder.stop().astype(np.float64)
    assert len(heard) / RATE > pressed + 2.4, f"the recording ends at {len(heard) / RATE:.2f} s, key at {pressed:.2f} s"
    since = int((pressed - 0.05) * RATE)  # the gap is looked for after the key, not in the fade-in's quiet start
    loud = since + np.flatnonzero(np.abs(heard[since:]) > 20)
    gap = int(np.argmax(np.diff(loud)))
    cut, back = int(loud[gap]), int(loud[gap + 1])
    # Silent within 0.1 s of the key (`pressed` is read from the recorder's clock, up to ~20 ms behind the sink).
    assert -0.02 < cut / RATE - pressed < 0.1 + 0.02, f"key at {pressed:.3f} s, silent from {cut / RATE:.3f} s"
    assert 0.9 < (back - cut) / RATE < 1.6, f"key at {pressed:.3f} s, silent from {cut / RATE:.3f} to {back / RATE:.3f} s"

    def best(at: int, near: int, span: int) -> tuple[int, float]:
        """The frame of the render that heard[at:at + 0.5 s] is, searched within `span` of `near`, and how alike."""
        piece = heard[at:at + RATE // 2]
        scores = {frame: float(np.corrcoef(piece, rendered[frame:frame + len(piece)])[0, 1])
                  for frame in range(max(0, near - span), near + span + 1)}
        frame = max(scores, key=lambda f: scores[f])
        return frame, scores[frame]

    window = RATE // 200  # 5 ms

    def gains(at: int, frame: int, windows: int) -> list[float]:
        """Level of the recording against the render, window by window, with heard[at] being rendered[frame]."""
        return [float(np.sqrt(np.mean(heard[at + k * window:at + (k + 1) * window] ** 2)
                              / np.mean(rendered[frame + k * window:frame + (k + 1) * window] ** 2)))
                for k in range(windows)]

    def is_fade(levels: list[float]) -> bool:
        """From full level to silence in steps of at most a third, taking 20 ms or more: a fade, not a cut."""
        steps = np.abs(np.diff(levels))
        full = [k for k, g in enumerate(levels) if g > 0.9]
        quiet = [k for k, g in enumerate(levels) if g < 0.1]
        return bool(full and quiet and steps.max() < 0.34 and abs(quiet[0] - full[-1]) * window >= 0.02 * RATE)

    # The half second before the fade is the render; the fade ends at the cut, so match what came before it.
    first = int(np.flatnonzero(np.abs(rendered) > 20)[0])
    at = cut - RATE // 10 - RATE // 2
    before, alike = best(at, at - (round(began * RATE) - first), RATE // 10)
    assert alike > 0.99
    going = gains(at + RATE // 2, before + RATE // 2, 24)  # the last 100 ms up to the cut, and 20 ms past it
    assert is_fade(going), [round(g, 2) for g in going]
    fade_start = max(k for k, g in enumerate(going) if g > 0.9) * window + before + RATE // 2

    # After it the session goes on from where the fade began, fading in: nothing lost, nothing repeated but
    # the faded moment. (The null sink's monitor may have recorded a few ms the sink had mixed ahead and
    # then took back; a sound card never plays that.)
    settled = int(0.3 * RATE)
    after, alike = best(back + settled, fade_start + settled, RATE // 10)
    assert alike > 0.99
    resumed = after - (fade_start + settled)
    assert abs(resumed) <= 0.012 * RATE, f"resumed {resumed} frames from where the fade began"
    coming = gains(back - 4 * window, after - settled - 4 * window, 24)  # heard[back + settled] is rendered[after]
    assert is_fade(coming[::-1]), [round(g, 2) for g in coming]


def test_a_stopped_session_says_how_far_it_got(pulse: PulseServer, tmp_path: Path) -> None:
    env = environment(pulse)
    routine = tmp_path / "long.yaml"
    routine.write_text("title: Long\nsteps:\n  - section: First\n    steps:\n      - pause: 2\n"
                       "  - section: Second\n    steps:\n      - say: Rest.\n      - pause: 20\n")
    relax("prepare", str(routine), "--engine", "espeak", env=env)
    process = subprocess.Popen([sys.executable, "-m", "relax.cli", "play", str(routine), "--engine", "espeak"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait for the session to reach the second section rather than a fixed time: a loaded machine may take
    # seconds just to start Python.
    assert process.stdout is not None
    line = ""
    for line in iter(process.stdout.readline, ""):
        if "[Second]" in line:
            break
    assert "[Second] speech" in line, line
    time.sleep(2.0)
    process.terminate()  # SIGTERM, as a service manager would
    out, err = process.communicate(timeout=10)
    assert process.returncode == 143, err
    assert out.splitlines()[-1] in {f"Stopped at 0:0{s} of 0:23 in Second." for s in (3, 4, 5)}, out


def test_no_audio_says_so_and_guides_in_text(routine: Path) -> None:
    done = relax("play", str(routine), "--engine", "espeak", "--no-audio", env=environment(None))
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[2] == "Guiding in text only (--no-audio): nothing is played."
    assert lines[3] == "   0:00  speech: Breathe in slowly."


def test_ambience_preview_plays_ten_seconds(pulse: PulseServer, tmp_path: Path) -> None:
    env = environment(pulse)
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    done = relax("ambience", "preview", "ocean", "--volume", "1", env=env)
    heard = recorder.stop()
    assert (done.returncode, done.stdout, done.stderr) == (0, "Done.\n", "")
    loud = np.flatnonzero(np.abs(heard.astype(np.int32)) > 200)
    assert 9.0 < (loud[-1] - loud[0]) / RATE < 10.5
    bad = relax("ambience", "preview", "forest", env=env)
    assert (bad.returncode, bad.stderr) == (1, "Error: unknown ambience 'forest' (built-in: brown, pink, rain, ocean, drone; "
                                               "or give a path to an audio file)\n")


def test_a_minute_beside_a_busy_process_inserts_no_silence(pulse: PulseServer, tmp_path: Path) -> None:
    env = environment(pulse)
    routine = tmp_path / "minute.yaml"
    routine.write_text("title: Minute\nsteps:\n  - repeat: 12\n    steps:\n      - say: Rest.\n      - pause: 4.5\n")
    planned = rendered_onsets(routine, tmp_path, env)
    relax("prepare", str(routine), "--engine", "espeak", env=env)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        recorder = Recorder(pulse, tmp_path / "heard.raw")
        done = subprocess.run([sys.executable, "-m", "relax.cli", "--debug", "play", str(routine), "--engine", "espeak"],
                              env=env, capture_output=True, text=True, timeout=120)
        heard = onsets(recorder.stop())
    finally:
        spinner.kill()
        spinner.wait()
    assert done.returncode == 0, done.stderr
    assert planned[-1] - planned[0] > 55
    assert len(heard) == len(planned) == 12
    drift = [h - p for h, p in zip(aligned(heard), aligned(planned))]
    assert max(abs(d) for d in drift) < 0.002, (drift, done.stderr)  # inserted silence would push later onsets late
    assert done.stderr.strip().endswith("underruns: 0"), done.stderr


def test_the_pulse_player_without_a_server_is_one_line(tmp_path: Path) -> None:
    env = environment(None)
    done = relax("ambience", "preview", "rain", "--player", "pulse", env=env)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "Error: no PulseAudio server (Connection refused)\n")


def test_a_sound_server_that_goes_away_ends_the_session_with_one_line(tmp_path: Path) -> None:
    server = PulseServer(tmp_path / "pulse")
    server.start()
    try:
        env = environment(server)
        done = None
        process = subprocess.Popen([sys.executable, "-m", "relax.cli", "ambience", "preview", "rain"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        recorder = Recorder(server, tmp_path / "heard.raw")
        deadline = time.monotonic() + 15
        while not np.any(np.abs(samples_of(recorder.target).astype(np.int32)) > 200) and time.monotonic() < deadline:
            time.sleep(0.02)
        recorder.stop()
    finally:
        server.stop()  # mid-preview
    out, err = process.communicate(timeout=20)
    done = process.returncode
    assert done == 1 and out == "", (done, out, err)
    assert err.startswith("Error: the sound stopped: ") and err.count("\n") == 1, err
