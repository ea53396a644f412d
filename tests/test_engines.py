"""The engine registry (built-ins and an entry-point plugin), the command engine with real programs and
broken ones, resampling on the way into the cache, and languages."""

from __future__ import annotations

import json
import os
import shutil
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relax.cli import cli
from relax.pcm import SESSION_RATE, resample
from relax.expand import plan_for
from relax.prepare import settings_for
from relax.speech import engine_names, get_backend

Write = Callable[..., Path]

ONE_LINE = """\
title: One line
steps:
  - say: Let your shoulders drop.
"""
ESPEAK_NG = shutil.which("espeak-ng")
needs_espeak_ng = pytest.mark.skipif(ESPEAK_NG is None, reason="make install installs espeak-ng")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def config(home: Path, text: str) -> None:
    path = home / "relax.toml"
    path.write_text(text, encoding="utf-8")
    os.environ["RELAX_CONFIG"] = str(path)


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAX_CONFIG", raising=False)
    monkeypatch.delenv("RELAX_COMMAND_TIMEOUT", raising=False)


def clip_frames(cache_dir: Path) -> list[tuple[int, int]]:
    """(rate, frames) of every clip in a cache folder."""
    found = []
    for path in sorted(cache_dir.glob("*/*.wav")):
        with wave.open(str(path), "rb") as reader:
            found.append((reader.getframerate(), reader.getnframes()))
    return found


def test_the_plugin_is_found_through_its_entry_point() -> None:
    assert engine_names() == ["auto", "command", "espeak", "fake", "missing", "notabackend", "piper"]
    code, out, err = run("engines", "--json")
    rows = {row["name"]: row["status"] for row in json.loads(out)}
    assert (code, err) == (0, "")
    assert rows["fake"] == "ready" and rows["espeak"] == "ready" and rows["command"] == "ready"
    # A plugin cannot take a built-in's name: the test plugin also registers `espeak`.
    assert type(get_backend("espeak")).__module__ == "relax.engines.espeak"


@pytest.mark.parametrize(("engine", "message"), [
    ("missing", "Error: the missing engine plugin (relax_fake_engine_gone:Engine) does not load: "
                "ModuleNotFoundError: No module named 'relax_fake_engine_gone'\n"),
    ("notabackend", "Error: the notabackend engine plugin (relax_fake_engine:NotABackend) is not a relax.speech.Backend\n"),
])
def test_a_broken_plugin_is_one_line(routine_file: Write, engine: str, message: str) -> None:
    assert run("prepare", str(routine_file(ONE_LINE)), "--engine", engine) == (1, "", message)
    code, out, _ = run("engines")
    assert code == 0 and f"{engine:<11}  {message.removeprefix('Error: ').strip()}" in out.splitlines()


def test_an_unknown_engine_in_a_routine_is_located(routine_file: Write) -> None:
    path = routine_file("title: T\nvoice:\n  engine: festival\nsteps:\n  - say: Hello.\n")
    code, _, err = run("check", str(path))
    assert code == 1
    assert err == (f"{path}:3:11: engine: must be one of: auto, command, espeak, fake, missing, notabackend, piper\n")


def test_plugin_clips_are_resampled_into_the_cache(routine_file: Write, tmp_path: Path) -> None:
    """The fake engine speaks at 16 kHz; the cache holds the session's rate, the same length in seconds."""
    path = routine_file("title: T\nsteps:\n  - say: one two three four\n  - pause: 1\n  - say: five\n")
    code, out, err = run("prepare", str(path), "--engine", "fake", "--cache-dir", str(tmp_path / "c"), "--json")
    assert (code, err) == (0, ""), err
    assert json.loads(out)["synthesized"] == 2
    assert sorted(clip_frames(tmp_path / "c")) == [(SESSION_RATE, round(0.3 * SESSION_RATE)),
                                                   (SESSION_RATE, round(4 * 0.3 * SESSION_RATE))]


def test_resampling_keeps_a_tone_and_drops_what_the_target_cannot_hold() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 15000 * t)  # 15 kHz is above 22050 Hz's limit
    out = resample(tone.astype(np.float32), rate, SESSION_RATE)
    assert len(out) == SESSION_RATE
    spectrum = np.abs(np.fft.rfft(out)) / len(out)
    peaks = np.argsort(spectrum)[-3:]
    assert 440 in peaks  # one-hertz bins over one second
    assert spectrum[440] > 0.45 and spectrum.sum() - spectrum[440] < 0.01  # no alias of 15 kHz folded back


@needs_espeak_ng
@pytest.mark.parametrize("command", [
    "espeak-ng -v {language} -s {rate} -w {out} {text}",
    "espeak-ng -v {language} -w {out} --stdin",  # no {text}: the text on standard input
])
def test_the_command_engine_runs_espeak_ngs_own_program(isolated_home: Path, routine_file: Write, tmp_path: Path,
                                                        command: str) -> None:
    config(isolated_home, f"command = {json.dumps(command)}\n")
    out_file = tmp_path / "out.wav"
    code, _, err = run("render", str(routine_file(ONE_LINE)), "--engine", "command", "-o", str(out_file))
    assert code == 0, err
    with wave.open(str(out_file), "rb") as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    assert len(samples) > SESSION_RATE  # about 1.5 s of words
    assert np.abs(samples.astype(np.int32)).max() > 3000
    clips = clip_frames(isolated_home / "cache")
    assert len(clips) == 1 and clips[0][0] == SESSION_RATE


def test_the_command_engine_in_a_routine(routine_file: Write, tmp_path: Path) -> None:
    """A routine may carry its command; the cache key holds it, so another command makes another clip."""
    script = tmp_path / "tone.py"
    script.write_text("import sys, wave\nw = wave.open(sys.argv[1], 'wb')\nw.setnchannels(2)\nw.setsampwidth(2)\n"
                      "w.setframerate(44100)\nw.writeframes(bytes(range(256)) * 700)\nw.close()\n", encoding="utf-8")
    for extra in ("", " x"):
        command = f"python3 {script} {{out}}{extra}"
        path = routine_file(f"title: T\nvoice:\n  engine: command\n  command: {json.dumps(command)}\nsteps:\n  - say: Hello.\n")
        assert run("prepare", str(path))[0] == 0
    assert [rate for rate, _ in clip_frames(Path(os.environ["RELAX_CACHE_DIR"]))] == [SESSION_RATE, SESSION_RATE]


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(("body", "message"), [
    ("echo 'no such voice: xx' >&2\necho 'giving up' >&2\nexit 3", "command: 'PROGRAM' failed (exit 3): giving up"),
    ("kill -9 $$", "command: 'PROGRAM' failed (signal 9)"),
    ("exit 0", "command: 'PROGRAM' wrote no audio to {out}"),
    ("printf 'RIFF....WAVEjunk' > \"$1\"", "command: 'PROGRAM' wrote 16 bytes that are not audio relax can read (a WAV file is best)"),
    ("head -c 5000 /dev/urandom > \"$1\"", "command: 'PROGRAM' wrote 5,000 bytes that are not audio relax can read (a WAV file is best)"),
    ("sleep 30 & sleep 30", "command: 'PROGRAM' did not finish in 1 s"),
])
def test_a_broken_command_is_one_line_and_leaves_no_clip(isolated_home: Path, routine_file: Write, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, body: str, message: str) -> None:
    program = script(tmp_path, "tts.sh", body)
    config(isolated_home, f'command = "{program} {{out}} {{text}}"\n')
    monkeypatch.setenv("RELAX_COMMAND_TIMEOUT", "1")
    code, out, err = run("prepare", str(routine_file(ONE_LINE)), "--engine", "command")
    assert (code, out, err) == (1, "", f"Error: {message.replace('PROGRAM', str(program))}\n")
    cache = isolated_home / "cache"
    assert [p for p in cache.glob("*/*") if p.parent.name != "memo"] == []  # neither a clip nor a temp file is left


@pytest.mark.parametrize(("line", "message"), [
    ('command = "tts {text}"', "1:1: command: must write the audio to {out} (for example: "
                               'command = "espeak-ng -v {voice} -s {rate} -w {out} {text}")'),
    ('command = "tts {out} {words}"', "1:1: command: unknown placeholder {words} (placeholders: {text}, {out}, "
                                      "{voice}, {language}, {rate}, {pitch})"),
    ('command = "tts \'{out}"', "1:1: command: cannot read \"tts '{out}\" as a command line (No closing quotation)"),
    ('command = "{text} {out}"', "1:1: command: the program's name cannot be a placeholder"),
    ("command = 3", "1:1: command: must be text (a command line with {text} and {out}), not 3"),
])
def test_a_bad_command_in_relax_toml_is_located(isolated_home: Path, routine_file: Write, line: str, message: str) -> None:
    config(isolated_home, line + "\n")
    code, _, err = run("show", str(routine_file(ONE_LINE)))
    assert (code, err) == (1, f"Error: {isolated_home / 'relax.toml'}:{message}\n")


def test_a_command_not_installed_or_missing_is_one_line(isolated_home: Path, routine_file: Write) -> None:
    path = str(routine_file(ONE_LINE))
    assert run("prepare", path, "--engine", "command") == (
        1, "", "Error: the command engine needs a command: set `command` in relax.toml or the routine's voice "
               '(for example: command = "espeak-ng -v {voice} -s {rate} -w {out} {text}")\n')
    config(isolated_home, 'command = "no-such-tts -o {out} {text}"\n')
    assert run("prepare", path, "--engine", "command") == (1, "", "Error: command: 'no-such-tts' is not installed (not found on PATH)\n")


def test_a_bad_command_in_a_routine_is_located(routine_file: Write) -> None:
    path = routine_file("title: T\nvoice:\n  engine: command\n  command: say {text}\nsteps:\n  - say: Hello.\n")
    code, _, err = run("check", str(path))
    assert (code, err) == (1, f"{path}:4:12: command: must write the audio to {{out}} (for example: "
                              'command = "espeak-ng -v {voice} -s {rate} -w {out} {text}")\n')


GERMAN = "title: Ruhe\nlanguage: de\nsteps:\n  - say: Atme langsam ein.\n  - breathe: 4-4\n    cycles: 1\n  - hold: 4\n    countdown: 3\n"


def test_a_language_picks_espeaks_voice_and_its_own_words(routine_file: Write) -> None:
    """With only the bundled English Piper voice, `auto` speaks German with espeak, and the breath and
    countdown words are German."""
    plan = plan_for(str(routine_file(GERMAN)))
    settings = settings_for(plan)
    assert (settings.engine, settings.language) == ("espeak", "de")
    spoken = [cue.text for cue in plan.cues if cue.kind.value == "speech"]
    assert spoken == ["Atme langsam ein.", "Einatmen", "Ausatmen", "drei", "zwei", "eins"]


def test_a_piper_voice_in_the_voices_folder_speaks_its_language(isolated_home: Path, routine_file: Write) -> None:
    """`language: de` finds a German Piper voice in the data folder (a copy of the bundled model, labelled German)."""
    from relax.engines.piper import bundled_piper_voice

    bundled = bundled_piper_voice()
    if bundled is None:
        pytest.skip("Piper is optional (NEURAL=0)")
    voices = isolated_home / "data" / "voices"
    voices.mkdir(parents=True)
    (voices / "de_DE-test-medium.onnx").symlink_to(bundled)
    meta = json.loads(Path(f"{bundled}.json").read_text(encoding="utf-8"))
    meta["language"] = {"code": "de_DE", "family": "de"}
    (voices / "de_DE-test-medium.onnx.json").write_text(json.dumps(meta), encoding="utf-8")
    settings = settings_for(plan_for(str(routine_file(GERMAN))))
    assert (settings.engine, Path(settings.voice).name) == ("piper", "en_US-joe-medium.onnx")  # resolved link
    code, out, _ = run("voices", "--engine", "piper", "--json")
    assert code == 0 and [v["languages"] for v in json.loads(out)] == [["en-us"], ["de-de"]]


def test_no_piper_voice_for_a_language_is_one_line(routine_file: Write) -> None:
    code, _, err = run("prepare", str(routine_file(GERMAN)), "--engine", "piper")
    assert code == 1 and err.startswith("Error: no Piper voice for language 'de': put one (.onnx and .onnx.json) in ")


def test_text_checks_know_the_language() -> None:
    from relax.lint import text_advice

    german = "Atme ein, heb die Arme, und senke sie dann langsam."
    assert [m.split(" (")[0] for m in text_advice(german, language="de")] == ["3 instructions in one step"]
    assert list(text_advice("Spüre den Wind auf der Haut.", language="de")) == []  # not the English heteronym
    assert list(text_advice("Feel the wind on your skin.", language="en"))  # which it is in English
    spanish = "¡Inspira despacio, levanta los brazos y luego suelta el aire!"
    assert [m.split(" (")[0] for m in text_advice(spanish, language="es")] == ["3 instructions in one step"]
    assert list(text_advice("Use la toalla, etc.", language="es")) == []
    assert list(text_advice("Nimm z.B. ein Kissen.", language="de"))  # letters with dots, in any language


def test_a_language_without_words_warns_once(routine_file: Write) -> None:
    path = routine_file("title: T\nlanguage: it\nsteps:\n  - say: Respira.\n  - breathe: 4-4\n    cycles: 2\n")
    code, out, err = run("check", str(path))
    assert (code, out) == (0, "OK r (0:17), 1 warning\n")
    assert err == (f"{path}:5:5: warning: language 'it': relax speaks breath phases and countdowns only in de, en, "
                   "es, fr; these are English\n")


@pytest.mark.parametrize("example", ["entspannung", "relajacion"])
def test_the_example_routines_in_other_languages_check_and_render(example: str, tmp_path: Path) -> None:
    path = Path(__file__).resolve().parent.parent / "docs" / "examples" / f"{example}.yaml"
    code, out, err = run("check", "--strict", str(path))
    assert (code, err) == (0, ""), err
    out_file = tmp_path / "x.wav"
    code, _, err = run("render", str(path), "--engine", "espeak", "-o", str(out_file))
    assert code == 0, err
    with wave.open(str(out_file), "rb") as reader:
        assert reader.getnframes() / reader.getframerate() > 5 * 60
