"""Tools for routine authors: pronunciation (pronounce: and the user's lexicon), warnings from `relax check`,
`relax say`, and the messages an author meets, tried as a new author would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pulse import PulseServer, Recorder, onsets, samples_of

from relax.cache import AudioCache
from relax.cli import cli
from relax.lint import instructions, text_advice
from relax.expand import plan_for
from relax.prepare import settings_for
from relax.engines.piper import bundled_piper_voice, piper_installed

Write = Callable[..., Path]

EYES = """\
title: Eyes for {who}
description: A test of
  the lexicon.
author: Jo Example
tags: [test, eyes]
safety: Go gently.
params:
  who: Sam
pronounce:
  close: cloze
  Jacobson: {say: Yakobson, espeak: "j'ak@bs@n", piper: "jˈakəbsən"}
steps:
  - say: Let your eyes close, said Jacobson.
  - pause: 1
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def relax(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relax.cli", *args], env=env or dict(os.environ), capture_output=True,
                          text=True, timeout=120)


# --- pronunciation ---------------------------------------------------------------------------------------


def test_pronounce_changes_the_speech_and_keeps_the_written_words(routine_file: Write) -> None:
    plan = plan_for(str(routine_file(EYES)), voice={"engine": "espeak"})
    said = plan.cues[0]
    assert said.text == "Let your eyes close, said Jacobson."
    assert said.spoken == "Let your eyes cloze, said [[j'ak@bs@n]]."
    piper = plan_for(str(routine_file(EYES)), voice={"engine": "piper"}).cues[0]
    assert piper.spoken == "Let your eyes cloze, said [[ jˈakəbsən ]]."
    # Whole words only, in any case; the caption in show stays as written.
    code, out, _ = run("show", str(routine_file(EYES)), "--estimate", "--json")
    assert code == 0 and json.loads(out)["cues"][0]["text"] == "Let your eyes close, said Jacobson."


def test_a_respelling_sounds_exactly_like_the_word_written_that_way(routine_file: Write, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Real espeak: the respelled line is the same clip as the respelling typed in; without the entry it differs."""
    path = routine_file(EYES)
    respelled, typed, plain = tmp_path / "respelled.wav", tmp_path / "typed.wav", tmp_path / "plain.wav"
    code, out, err = run("say", "Let your eyes close.", "--routine", str(path), "--engine", "espeak", "-o", str(respelled))
    assert (code, err) == (0, "") and out.startswith("Spoken as: Let your eyes cloze.\n")
    monkeypatch.setenv("RELAX_CACHE_DIR", str(tmp_path / "other-cache"))  # synthesized afresh, not found in the cache
    assert run("say", "Let your eyes cloze.", "--engine", "espeak", "-o", str(typed))[0] == 0
    assert run("say", "Let your eyes close.", "--engine", "espeak", "-o", str(plain))[0] == 0
    assert np.array_equal(samples_of(respelled), samples_of(typed))
    assert not np.array_equal(samples_of(respelled), samples_of(plain))


NEEDS_PIPER = pytest.mark.skipif(not piper_installed() or bundled_piper_voice() is None, reason="Piper is optional (NEURAL=0)")


@pytest.mark.parametrize("engine", ["espeak", pytest.param("piper", marks=NEEDS_PIPER)])
def test_each_engine_reads_a_lexicon_entrys_phonemes_as_sounds(engine: str, routine_file: Write, tmp_path: Path) -> None:
    """The phonemes of `close` sound like the respelling `cloze` (not like brackets read aloud)."""
    path = routine_file("pronounce:\n  close: {say: klohz, espeak: \"kl'oUz\", piper: \"klˈoʊz\"}\nsteps:\n  - say: Hi.\n")
    lengths = {}
    for name, args in {"phonemes": ["Let your eyes close.", "--routine", str(path)], "word": ["Let your eyes cloze."],
                       "brackets": ["Let your eyes bracket bracket k l o u z bracket bracket."]}.items():
        out = tmp_path / f"{name}.wav"
        assert run("say", *args, "--engine", engine, "-o", str(out))[0] == 0
        lengths[name] = len(samples_of(out))
    assert abs(lengths["phonemes"] - lengths["word"]) < 0.1 * lengths["word"], lengths
    assert lengths["brackets"] > 1.5 * lengths["word"]


def test_the_cache_key_follows_the_spoken_form(routine_file: Write) -> None:
    path = routine_file(EYES)
    assert run("prepare", str(path), "--engine", "espeak")[0] == 0
    plan = plan_for(str(path), voice={"engine": "espeak"})
    settings = settings_for(plan)
    cache = AudioCache(Path(os.environ["RELAX_CACHE_DIR"]))
    assert cache.get(settings.key("Let your eyes cloze, said [[j'ak@bs@n]]."), settings.sample_rate) is not None
    assert cache.get(settings.key("Let your eyes close, said Jacobson."), settings.sample_rate) is None


def test_the_user_lexicon_applies_and_a_routine_entry_beats_it(routine_file: Write) -> None:
    data = Path(os.environ["RELAX_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "lexicon.yaml").write_text("# my words\nclose: klohz\nshoulders: SHOHL-ders\n")
    plan = plan_for(str(routine_file(EYES.replace("Jacobson.", "Jacobson. Drop your shoulders."))),
                    voice={"engine": "espeak"})
    assert plan.cues[0].spoken == "Let your eyes cloze, said [[j'ak@bs@n]]. Drop your SHOHL-ders."
    code, out, _ = run("say", "Relax your shoulders.", "--engine", "espeak", "-o", str(data / "x.wav"))
    assert code == 0 and out.startswith("Spoken as: Relax your SHOHL-ders.\n")


@pytest.mark.parametrize(("text", "errors"), [
    ("close: {sey: x}\n", ["lexicon.yaml:1:8: close: missing required key 'say'",
                           "lexicon.yaml:1:9: sey: unknown key (did you mean 'say'?)"]),
    ("close: {say: x, espeek: y}\n", ["lexicon.yaml:1:17: espeek: unknown key (did you mean 'espeak'?)"]),
    ("tai chi:\n", ["lexicon.yaml:1:9: tai chi: is empty: give a respelling, or a mapping of say, espeak and piper"]),
    ("- close\n", ["lexicon.yaml:1:1: a lexicon must be a mapping of words to how to say them, not a list"]),
    ("close: [a, b]\n", ["lexicon.yaml:1:8: close: must be a mapping of keys"]),
    ("'{x}': y\n", ["lexicon.yaml:1:1: '{x}' is not a word or phrase to respell (letters, without braces or line breaks)"]),
    ("close: x\nclose: y\n", ["lexicon.yaml:2:1: close: duplicate key"]),
])
def test_a_bad_lexicon_file_is_located(text: str, errors: list[str], routine_file: Write,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = Path(os.environ["RELAX_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "lexicon.yaml").write_text(text)
    monkeypatch.chdir(data)
    code, out, err = run("show", str(routine_file(EYES)), "--estimate")
    assert (code, out, err.splitlines()) == (1, "", errors)


def test_a_bad_pronounce_entry_is_reported_where_it_is(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = routine_file("pronounce:\n  ok: fine\n  '{x}': y\n  close: {say: ''}\nsteps:\n  - say: Hi.\n")
    monkeypatch.chdir(path.parent)
    assert run("check", "r.yaml")[::2] == (1, "r.yaml:4:16: say: must not be empty\n")
    routine_file("pronounce:\n  ok: fine\n  '{x}': y\n  close: {say: cloze}\nsteps:\n  - say: Hi.\n")
    assert run("check", "r.yaml")[::2] == (1, "r.yaml:3:3: pronounce: '{x}' is not a word or phrase to respell "
                                              "(letters, without braces or line breaks)\n")


# --- warnings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "warning"), [
    ("Hold for 20s.", "'20s': digits are read in ways that vary"),
    ("Rest 5 & breathe.", "'&': a symbol is read oddly"),
    ("Stretch, e.g. your arms.", "'e.g.': an abbreviation"),
    ("The NHS says so.", "'NHS': an abbreviation"),
    ("Rest (if you like).", "parentheses are not heard"),
    ("Let your eyes close.", "'close' can be said two ways"),
    ("Use your arms to push up.", "'Use' can be said two ways"),
    ("Wind down now.", "'Wind' can be said two ways"),
    ("Read the minute print.", "'Read' can be said two ways"),
    ("Rest for a minute and then the minute details.", "'minute' can be said two ways"),
    (" ".join(["word"] * 26) + ".", "a sentence of 26 words"),
    ("Lie down. Bend your knees, and place your feet flat.", "3 instructions in one step"),
])
def test_each_kind_of_text_warning(text: str, warning: str) -> None:
    assert any(message.startswith(warning) for message in text_advice(text)), list(text_advice(text))


@pytest.mark.parametrize("text", [
    "Keep your knees close together.", "Rest for a minute.", "Make good use of it.", "Breathe in for four seconds.",
    " ".join(["word"] * 25) + ".", "Lie down, and bend your knees.", "I am here.",
])
def test_plain_text_gets_no_warning(text: str) -> None:
    assert list(text_advice(text)) == []


def test_instructions_are_clauses_opening_with_a_verb() -> None:
    assert instructions("Now, slowly lower your knees. Your arms may rest. Keep breathing, and then let go.") == 3
    assert instructions("As you breathe out, the knees lower.") == 0


def test_check_warns_with_places_and_strict_fails(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = routine_file("""\
params:
  hold: 5s
  roudns: 2
  who: Sam
steps:
  - say: Hello {who}. Let your eyes close.
  - pause: 20
  - hold: 15
  - say: Rest.
  - include: _snip
""")
    routine_file("params:\n  items: [example]\n  gap: 2s\nsteps:\n  - for: i\n    in: '{items}'\n    steps:\n"
                 "      - say: '{i}.'\n        pause: '{gap}'\n", "_snip.yaml")
    monkeypatch.chdir(path.parent)
    code, out, err = run("check", "r.yaml")
    assert code == 0 and re.fullmatch(r"OK r \(\d:\d\d\), 5 warnings\n", out)
    assert err.splitlines() == [
        "r.yaml:2:3: warning: params: 'hold' is never used in this file",
        "r.yaml:3:3: warning: params: 'roudns' is never used in this file",
        "r.yaml:6:10: warning: 'close' can be said two ways and the voice may choose the wrong one "
        "(\"Hello Sam. Let your eyes close.\"); as in shut, write 'fall closed' or 'shut', or give its sound in pronounce:",
        "r.yaml:7:12: warning: 35 s with nothing said from here; listeners wonder whether the session stopped: keep "
        "silences to 30 s, or break them with a short line",
        "r.yaml:10:14: warning: include: _snip.yaml's list 'items' is not given in with:, so its example "
        "default plays; give it with: {items: ...}",
    ]
    assert run("check", "--strict", "r.yaml")[0] == 1


def test_a_loop_warns_once_and_silences_are_as_heard(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    routine_file("params:\n  items: [example]\nsteps:\n  - for: i\n    in: '{items}'\n    steps:\n      - say: '{i}.'\n",
                 "_snip.yaml")
    path = routine_file("steps:\n  - repeat: 3\n    steps:\n      - include: _snip\n      - say: Rest (gently).\n"
                        "  - hold: 29\n    countdown: 3\n  - pause: 29.3\n  - breathe: 4-6\n    cycles: 5\n")
    monkeypatch.chdir(path.parent)
    code, out, err = run("check", "r.yaml")
    # After "one", the rest of its second and the pause make 29.7 s as heard (not 30.3): no warning.
    assert [line.split(": warning: ")[0] for line in err.splitlines()] == ["r.yaml:4:18", "r.yaml:5:14"]
    assert out.endswith(", 2 warnings\n")


def test_a_lexicon_word_is_not_warned_about(routine_file: Write) -> None:
    code, out, err = run("check", "--strict", str(routine_file(EYES)))
    assert (code, err) == (0, "") and out.startswith("OK r (")


def test_a_typo_in_a_used_name_is_suggested(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = routine_file("params:\n  roudns: 2\nsteps:\n  - repeat: '{rounds}'\n    steps:\n      - say: Hi.\n")
    monkeypatch.chdir(path.parent)
    assert run("check", "r.yaml")[2] == ("r.yaml:4:13: repeat: unknown name '{rounds}' (known here: roudns); "
                                         "did you mean '{roudns}'?\n")


# --- relax say --------------------------------------------------------------------------------------------


def test_say_plays_one_step_through_the_speakers(pulse: PulseServer, routine_file: Write, tmp_path: Path) -> None:
    path = routine_file(EYES)
    env = {**os.environ, **{k: pulse.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR")}}
    show = relax("show", str(path), "--engine", "espeak", "--json", env=env)
    spoken = [cue for cue in json.loads(show.stdout)["cues"] if cue["kind"] == "speech"]
    assert [cue["step"] for cue in spoken] == [1]
    recorder = Recorder(pulse, tmp_path / "heard.raw")
    done = relax("say", "--routine", str(path), "--step", "1", "--engine", "espeak", env=env)
    heard = recorder.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Spoken as: Let your eyes cloze, said [[j'ak@bs@n]]."
    sounding = np.flatnonzero(np.abs(heard.astype(np.int32)) > 1000)
    assert len(onsets(heard)) == 1
    assert abs((sounding[-1] - sounding[0]) / 22050 - spoken[0]["duration"]) < 0.5


def test_say_without_a_device_is_an_error(routine_file: Write) -> None:
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse/native"}
    done = relax("say", "Hello.", "--engine", "espeak", env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("Error: No audio device")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "error"), [
    ([], "Error: give the TEXT to say, or --routine and --step (not both)"),
    (["Hi", "--routine", "pmr", "--step", "2"], "Error: give the TEXT to say, or --routine and --step (not both)"),
    (["--step", "2"], "Error: --step needs --routine"),
    (["Hi", "--step", "2"], "Error: --step needs --routine"),
    (["Hi", "--set", "x=1"], "Error: --set needs --routine"),
    (["  "], "Error: TEXT: nothing to say"),
    (["--routine", "breathing", "--step", "100000"], re.compile(
        r"Error: --step 100000: breathing has no spoken step 100000 \(spoken steps: 1-\d+.*; see relax show breathing\)")),
])
def test_say_usage_errors(args: list[str], error: str | re.Pattern[str]) -> None:
    code, out, err = run("say", *args)
    assert code == 1 and out == ""
    assert err.strip() == error if isinstance(error, str) else error.fullmatch(err.strip()), err


# --- what an author hit -----------------------------------------------------------------------------------


def test_render_keeps_an_existing_file_without_force(routine_file: Write, tmp_path: Path) -> None:
    path = routine_file("steps:\n  - say: Hi.\n")
    target = tmp_path / "client.wav"
    target.write_bytes(b"a client's recording")
    code, _, err = run("render", str(path), "--engine", "espeak", "-o", str(target))
    assert (code, err) == (1, f"Error: {target}: already exists (use --force to replace it)\n")
    assert target.read_bytes() == b"a client's recording"
    assert not AudioCache(Path(os.environ["RELAX_CACHE_DIR"])).info().entries  # refused before synthesizing
    assert run("render", str(path), "--engine", "espeak", "-o", str(target), "--force")[0] == 0
    assert target.read_bytes()[:4] == b"RIFF"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_author_and_tags_are_shown_and_listed(routine_file: Write) -> None:
    path = routine_file(EYES, "eyes.yaml")
    code, out, _ = run("show", str(path), "--estimate")
    assert out.splitlines()[:4] == ["Eyes for Sam", "============", "A test of the lexicon.", "By Jo Example · Tags: test, eyes"]
    data = json.loads(run("show", str(path), "--estimate", "--json")[1])
    assert (data["author"], data["tags"], data["safety"]) == ("Jo Example", ["test", "eyes"], "Go gently.")
    users = Path(os.environ["RELAX_ROUTINES_DIR"])
    users.mkdir(parents=True)
    (users / "eyes.yaml").write_text(EYES)
    listed = run("list", "--tag", "EYES")[1].splitlines()
    assert len(listed) == 1 and listed[0].startswith("eyes ") and listed[0].endswith("Eyes for Sam  [test, eyes]")
    assert run("list", "--tag", "eyes", "--tag", "nope") == (0, "", "No routine has the tags eyes, nope.\n")
    rows = json.loads(run("list", "--json", "--tag", "pmr")[1])
    assert {row["name"] for row in rows} >= {"pmr", "pmr-short"} and all("pmr" in row["tags"] for row in rows)


def test_text_fields_take_yaml_words_as_written(routine_file: Write) -> None:
    path = routine_file("title: 2024\nsteps:\n  - say: No\n  - say: on\n  - say: 12:30\n  - say: 2024-01-05\n"
                        "  - section: yes\n    steps:\n      - say: 3.0\n")
    data = json.loads(run("show", str(path), "--estimate", "--json")[1])
    assert data["title"] == "2024"
    assert [cue["text"] for cue in data["cues"]] == ["No", "on", "12:30", "2024-01-05", "3.0"]
    assert data["sections"] == ["yes"]


def test_a_typo_in_a_nested_step_key_is_found_where_it_is(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = routine_file("steps:\n  - section: S\n    steps:\n      - hodl: 20\n  - repeat: 2\n    steps:\n      - sya: Hi\n")
    monkeypatch.chdir(path.parent)
    keys = "repeat, for, sides, section, include, breathe, hold, say, bell, pause"
    assert run("check", "r.yaml")[2].splitlines() == [
        f"r.yaml:4:9: step: needs one of the keys {keys} (found hodl); did you mean 'hold'?",
        f"r.yaml:7:9: step: needs one of the keys {keys} (found sya); did you mean 'say'?",
    ]


def test_an_include_path_is_found_in_the_routines_folder(routine_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    common = Path(os.environ["RELAX_ROUTINES_DIR"]) / "common"
    common.mkdir(parents=True)
    (common / "intro.yaml").write_text("steps:\n  - say: Welcome.\n")
    path = routine_file("steps:\n  - include: common/intro\n  - include: common/outro\n")
    monkeypatch.chdir(path.parent)
    code, _, err = run("check", "r.yaml")
    assert code == 1
    assert err == (f"r.yaml:3:14: include: no routine file 'common/outro' (.yaml or .yml) in {path.parent}, "
                   f"{common.parent}, {Path(__file__).resolve().parent.parent / 'routines'}\n")
    (common / "outro.yaml").write_text("steps:\n  - say: Goodbye.\n")
    assert run("check", "r.yaml")[0] == 0


@pytest.mark.parametrize(("sets", "error"), [
    (["rounds=1.5"], "Error: --set rounds: must be a whole number of at least 1, not 1.5 (it sets repeat at r.yaml:7:17)"),
    (["rounds=0"], "Error: --set rounds: must be a whole number of at least 1, not 0 (it sets repeat at r.yaml:7:17)"),
    (["hold=0"], "Error: --set hold: must be a positive number of seconds, not '0' (it sets hold at r.yaml:9:19)"),
    (["groups="], "Error: --set groups: empty; give a value (the default is [a, b])"),
    (["name="], "Error: --set name: empty; give a value (the default is Sam)"),
    (["name= "], "Error: --set name: empty; give a value (the default is Sam)"),
    (["rounds="], "Error: --set rounds: empty; give a value (the default is 2)"),
])
def test_set_values_are_blamed_on_the_command_line(sets: list[str], error: str, routine_file: Write,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = routine_file("""\
title: Hello {name}
params: {rounds: 2, hold: 5s, name: Sam, groups: [a, b]}
steps:
  - for: g
    in: "{groups}"
    steps:
      - repeat: "{rounds}"
        steps:
          - hold: "{hold}"
          - say: "{g}, {name}."
""")
    monkeypatch.chdir(path.parent)
    code, out, err = run("show", "r.yaml", "--estimate", *(f"--set={s}" for s in sets))
    assert (code, out, err.strip()) == (1, "", error)
    assert run("show", "r.yaml", "--estimate", "--set", "name=Kim")[1].startswith("Hello Kim\n")


def test_a_misspelt_routine_name_gets_a_suggestion_and_a_missing_file_no_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run("show", "pmt", "--estimate")
    assert code == 1 and err.startswith("Error: no routine named 'pmt' (did you mean 'pmr'? known: ")
    monkeypatch.chdir(tmp_path)
    assert run("check", "gone.yaml")[1:] == ("", "Error: gone.yaml: no such file\n")


def test_included_safety_notes_are_merged_once(routine_file: Write) -> None:
    routine_file("safety: |\n  Move slowly.\n  Stop if it hurts.\nsteps:\n  - say: Part.\n", "_part.yaml")
    path = routine_file("safety: |\n  Stop  if it HURTS.\n  Drink water.\nsteps:\n  - include: _part\n  - include: _part\n")
    data = json.loads(run("show", str(path), "--estimate", "--json")[1])
    assert data["safety"].splitlines() == ["Stop  if it HURTS.", "Drink water.", "Move slowly."]


def test_docs_prints_the_installed_reference() -> None:
    code, out, _ = run("docs")
    reference = (Path(__file__).resolve().parent.parent / "docs" / "routines.md").read_text()
    assert code == 0 and out == reference


def test_the_scaffold_points_at_relax_docs(tmp_path: Path) -> None:
    assert run("new", "draft", "--path", str(tmp_path))[0] == 0
    text = (tmp_path / "draft.yaml").read_text()
    assert "relax docs" in text and "docs/routines.md" not in text
