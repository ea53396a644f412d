from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from relax import __version__
from relax.cli import cli
from relax.library import builtin_dir

Write = Callable[..., Path]
BUILTINS = sorted(p.stem for p in builtin_dir().glob("*.yaml") if not p.stem.startswith("_"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


SMALL = """\
title: Small
safety: Go gently.
params:
  hold: 4s
steps:
  - section: Start
    steps:
      - say: Hello there.
        pause: 2
  - hold: "{hold}"
    countdown: 2
  - bell: chime
"""


def test_version() -> None:
    assert run("--version") == (0, f"relax, version {__version__}\n", "")


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["check"], ["schema"], ["new"], ["play"], ["render"], ["prepare"],
                                     ["voices"], ["cache"], ["cache", "info"], ["cache", "clear"], ["cache", "prune"],
                                     ["ambience"], ["ambience", "list"], ["ambience", "preview"], ["say"], ["docs"]])
def test_every_command_has_help(command: list[str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0 and out.startswith("Usage: ")


def test_show_prints_the_timeline(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = routine_file(SMALL)
    monkeypatch.chdir(path.parent)
    code, out, err = run("show", "r.yaml", "--estimate")
    assert (code, err) == (0, "")
    assert out == (
        "Small\n=====\n\n! Go gently.\n\n## Start\n"
        "  0:00.0     1.0s     1  speech   Hello there.\n"
        "  0:01.0     2.0s        silence  Pause\n\n## (no section)\n"
        "  0:03.0     2.0s     2  silence  Hold\n"
        "  0:05.0     0.6s        speech   two\n"
        "  0:05.5     0.4s        silence  Hold\n"
        "  0:06.0     0.6s        speech   one\n"
        "  0:06.5     0.4s        silence  Hold\n"
        "  0:07.0     3.0s     3  bell     (chime bell)\n"
        "\nTotal 0:10 in 8 cues (estimated from the speaking rate)\n"
    )


def test_show_json_shape_and_set(routine_file: Write) -> None:
    code, out, _ = run("show", str(routine_file(SMALL)), "--estimate", "--json", "--set", "hold=10", "--pace", "0.5")
    assert code == 0
    data = json.loads(out)
    assert (data["routine"], data["title"], data["estimated"], data["sections"]) == ("r", "Small", True, ["Start"])
    assert set(data["cues"][0]) >= {"index", "section", "kind", "start", "duration", "text"}
    holds = [c for c in data["cues"] if c["text"] == "Hold"]
    assert round(sum(c["duration"] for c in holds) + 2 * data["cues"][3]["duration"], 3) == 20.0
    assert data["duration"] == round(sum(c["duration"] for c in data["cues"]), 3)


def test_check_reports_ok_and_errors_together(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    good = routine_file(SMALL, "good.yaml")
    routine_file("title: Bad\nsteps:\n  - hold: soon\n", "bad.yaml")
    monkeypatch.chdir(good.parent)
    code, out, err = run("check", "good.yaml", "bad.yaml")
    assert code == 1
    assert out == "OK good (0:10)\n"
    assert err == "bad.yaml:3:11: hold: must be a number of seconds or a duration like 90s, 1m30s, 2m, not 'soon'\n"


def test_unknown_routine_name() -> None:
    code, out, err = run("show", "no-such-routine")
    assert code == 1 and out == ""
    assert err.startswith("Error: no routine named 'no-such-routine' (known: ")


def test_debug_shows_the_traceback(routine_file: Write) -> None:
    result = CliRunner().invoke(cli, ["--debug", "show", "nope-nope"])
    assert result.exit_code == 1 and result.exc_info is not None
    assert "no routine named" in str(result.exception)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_passes_check(name: str) -> None:
    code, out, err = run("check", name)
    assert (code, err) == (0, "")
    assert out.startswith(f"OK {name} (")


def test_builtins_exist_and_ship_as_package_data() -> None:
    assert {"pmr", "pmr-short", "knee-twists", "cobra", "breathing", "back-pain-relief"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_validate_against_the_schema(name: str) -> None:
    schema = json.loads(run("schema")[1])
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load((builtin_dir() / f"{name}.yaml").read_text()), schema)


def test_schema_rejects_unknown_keys() -> None:
    schema = json.loads(run("schema")[1])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "x", "steps": [{"hold": 3, "count": 2}]}, schema)


def test_list_shows_builtins_and_user_routines(isolated_home: Path) -> None:
    user = isolated_home / "routines"
    user.mkdir()
    (user / "mine.yaml").write_text("title: Mine\nsteps: [{pause: 90}]\n")
    (user / "broken.yaml").write_text("title: [\n")
    code, out, _ = run("list")
    assert code == 0
    lines = out.splitlines()
    assert "mine                    1:30  user      Mine" in lines
    assert any(line.startswith("broken") and "error" in line for line in lines)
    assert {line.split()[0] for line in lines} >= set(BUILTINS)
    listed = json.loads(run("list", "--json")[1])
    assert {row["name"]: row["origin"] for row in listed}["pmr"] == "built-in"


def test_new_scaffolds_a_valid_routine_and_never_overwrites(isolated_home: Path) -> None:
    code, out, _ = run("new", "evening-stretch")
    target = isolated_home / "routines" / "evening-stretch.yaml"
    assert code == 0 and out.startswith(f"Created {target}\n")
    assert run("check", "evening-stretch")[:2] == (0, "OK evening-stretch (2:46)\n")
    original = target.read_text()
    code, _, err = run("new", "evening-stretch")
    assert code == 1 and err == f"Error: {target}: already exists (choose another name or remove it first)\n"
    assert target.read_text() == original
    assert run("new", "../escape")[2] == "Error: '../escape' is not a routine name (letters, digits, - and _)\n"


def test_new_into_a_given_folder(tmp_path: Path) -> None:
    code, out, _ = run("new", "x", "--path", str(tmp_path))
    assert code == 0 and (tmp_path / "x.yaml").is_file()
    assert not list(tmp_path.glob(".*partial"))


def test_ambience_list() -> None:
    code, out, err = run("ambience", "list")
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()] == ["brown", "pink", "rain", "ocean", "drone"]
    code, out, _ = run("ambience", "list", "--json")
    assert [bed["name"] for bed in json.loads(out)] == ["brown", "pink", "rain", "ocean", "drone"]


def test_a_bad_config_file_is_one_located_line(tmp_path: Path, routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "relax.toml"
    config.write_text("engine = \"espeak\"\nrate = 20\n")
    monkeypatch.setenv("RELAX_CONFIG", str(config))
    code, out, err = run("render", str(routine_file(SMALL)), "-o", str(tmp_path / "x.wav"))
    assert (code, out) == (1, "")
    assert err == f"Error: {config}:2:1: rate: must be a whole number of words per minute from 80 to 400, not 20\n"
    assert not (tmp_path / "x.wav").exists()


def test_config_file_sets_defaults_the_routine_and_command_line_beat(tmp_path: Path, routine_file: Write,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "relax.toml"
    config.write_text("engine = \"espeak\"\nrate = 200\nambience = \"brown\"\nambience_volume = 0.5\n")
    monkeypatch.setenv("RELAX_CONFIG", str(config))
    path = routine_file("title: Fast\nsteps:\n  - say: one two three four five six seven eight nine ten\n  - pause: 3\n")
    fast = json.loads(run("show", str(path), "--estimate", "--json")[1])
    slow = json.loads(run("show", str(path), "--estimate", "--json", "--rate", "100")[1])
    assert fast["cues"][0]["duration"] == round(10 * 60 / 200 + 0.15, 3)  # the config's rate
    assert slow["cues"][0]["duration"] == round(10 * 60 / 100 + 0.15, 3)  # the command line's
    routine_rate = routine_file("voice: {rate: 120}\nsteps: [{say: one two three four five six}]\n", "slowish.yaml")
    assert json.loads(run("show", str(routine_rate), "--estimate", "--json")[1])["cues"][0]["duration"] == round(
        6 * 60 / 120 + 0.15, 3)  # the routine's own rate beats the config's
    bedded, plain = tmp_path / "bed.wav", tmp_path / "plain.wav"
    assert run("render", str(path), "-o", str(bedded))[0] == 0
    assert run("render", str(path), "-o", str(plain), "--ambience", "none")[0] == 0
    import wave

    import numpy as np

    def pause_level(file: Path) -> float:
        with wave.open(str(file)) as reader:
            samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16).astype(float)
        pause = samples[-2 * 22050:-22050]
        return float(np.sqrt(np.mean(pause ** 2)))

    assert pause_level(plain) == 0.0  # --ambience none beats the config's brown noise
    assert pause_level(bedded) > 300


def test_an_unusable_cache_folder_is_reported_once_before_synthesis(routine_file: Write) -> None:
    code, out, err = run("prepare", str(routine_file(SMALL)), "--engine", "espeak", "--cache-dir", "/proc/relax-cache")
    assert (code, out) == (1, "")
    assert err.startswith("Error: cannot use the audio cache folder /proc/relax-cache: ") and err.count("\n") == 1


def loaded_modules(args: list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a relax command imports, run as the console script runs it."""
    probe = ("import sys, runpy; sys.argv = ['relax', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('relax.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {watched!r} if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
    assert done.stderr.splitlines(), done.stderr
    return list(eval(done.stderr.splitlines()[-1]))  # the probe's own last line: a list of names


AUDIO = ("numpy", "miniaudio", "rich", "relax.mixer", "relax.player")
HEAVY = ("pydantic", "yaml", "importlib.metadata", "relax.routine", "relax.speech", "relax.engines.espeak",
         "relax.engines.piper", "pyttsx3", "piper", "onnxruntime")


@pytest.mark.parametrize("args", [["--version"], ["check", "pmr"], ["history"]])
def test_commands_without_sound_load_no_audio_code(args: list[str]) -> None:
    # numpy, the players and the mixer cost every command a tenth of a second; only sound needs them.
    assert loaded_modules(args, AUDIO) == []


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_load_neither_pydantic_nor_the_engines(args: list[str]) -> None:
    assert loaded_modules(args, AUDIO + HEAVY) == []


def test_a_commands_help_lists_the_engines_without_loading_them() -> None:
    # Listing the plugins' names takes importlib.metadata; loading an engine is left to synthesis.
    assert loaded_modules(["play", "--help"], AUDIO + HEAVY) == ["importlib.metadata", "relax.speech"]


def test_an_unchanged_routine_is_checked_and_listed_without_pydantic(routine_file: Write) -> None:
    """The second `check` and `list` answer from the summary remembered with the file's content; an edit to an
    included file is seen."""
    path = routine_file("title: T\nsteps:\n  - include: part.yaml\n")
    part = routine_file("steps:\n  - say: Hello there.\n  - pause: 10\n", "part.yaml")
    assert "pydantic" in loaded_modules(["check", str(path)], HEAVY)
    assert loaded_modules(["check", str(path)], HEAVY) == []
    assert run("check", str(path)) == (0, "OK r (0:11)\n", "")
    assert loaded_modules(["list"], HEAVY) != []  # the built-ins, the first time
    assert loaded_modules(["list"], HEAVY) == []
    part.write_text("steps:\n  - say: Hello there.\n  - pause: 20\n", encoding="utf-8")
    assert run("check", str(path)) == (0, "OK r (0:21)\n", "")


def test_a_changed_routine_is_checked_without_importlib_metadata(routine_file: Write) -> None:
    # pydantic's plugin loader would import it (20 ms of every first check after an edit) to find no plugins.
    path = routine_file("title: T\nsteps:\n  - say: Hello there.\n  - pause: 10\n")
    assert loaded_modules(["check", str(path)], ("pydantic", "importlib.metadata")) == ["pydantic"]


def test_an_installed_pydantic_plugin_still_sees_the_routine_models(
        routine_file: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    (plugins / "spy-1.0.dist-info").mkdir(parents=True)
    (plugins / "spy-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy:plugin\n", encoding="utf-8")
    (plugins / "spy.py").write_text(
        "import sys\n\n\nclass Spy:\n    def new_schema_validator(self, schema, schema_type, *args):\n"
        "        print('spy:', schema_type.__name__, file=sys.stderr)\n        return None, None, None\n\n\n"
        "plugin = Spy()\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    path = routine_file("title: T\nsteps:\n  - say: Hello there.\n  - pause: 10\n")
    done = subprocess.run([sys.executable, "-m", "relax.cli", "check", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, "OK r (0:11)\n")
    assert "spy: Routine" in done.stderr.splitlines()


def test_a_broken_or_unwritable_summary_memo_only_costs_time(routine_file: Write, isolated_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(routine_file("title: T\nsteps:\n  - say: Hello there.\n  - pause: 10\n"))
    assert run("check", path) == (0, "OK r (0:11)\n", "")
    memos = list((isolated_home / "cache" / "memo").glob("summary-*"))
    assert len(memos) == 1
    for broken in ("{", '{"fingerprint": 3}', "", '{"fingerprint": {"files": {}}, "summary": {"name": 1}}'):
        memos[0].write_text(broken, encoding="utf-8")
        assert run("check", path) == (0, "OK r (0:11)\n", "")
    monkeypatch.setenv("RELAX_CACHE_DIR", "/proc/no/such")
    assert run("check", path) == (0, "OK r (0:11)\n", "")
    assert run("list")[0] == 0
