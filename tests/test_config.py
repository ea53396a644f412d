"""The user's config file relax.toml: where it is found, what it may hold, and one located line per mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relax.config import Config, ConfigError, config_path, load_config
from relax.errors import RelaxError

ENGINE = "must be one of: auto, command, espeak, fake, missing, notabackend, piper"
"""The built-in engines and the test plugin's (tests/plugins)."""
KNOWN = "ambience, ambience_volume, voice_volume, bell_volume, engine, command, voice, rate, player, ratings"
RATE = "must be a whole number of words per minute from 80 to 400"


@pytest.fixture(autouse=True)
def no_config_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RELAX_CONFIG in the developer's own environment must not leak into these tests."""
    monkeypatch.delenv("RELAX_CONFIG", raising=False)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work inside tmp_path, so messages name the file as `relax.toml`, like a user in that folder would see."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str, name: str = "relax.toml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return message


# --- valid files ---------------------------------------------------------------------------------


def test_every_key_valid(here: Path) -> None:
    path = write(here, """\
# my defaults
ambience = "rain"
ambience_volume = 0.25
voice_volume = 1
bell_volume = 0
engine = "piper"
voice = "en_US-joe-medium"
rate = 150
player = "simpleaudio"
""")
    config = load_config(path)
    assert config == Config(ambience="rain", ambience_volume=0.25, voice_volume=1.0, bell_volume=0.0, engine="piper",
                            voice="en_US-joe-medium", rate=150, player="simpleaudio", path=path)
    # Whole-number volumes come back as floats, so callers see one type.
    assert isinstance(config.voice_volume, float) and isinstance(config.bell_volume, float)


@pytest.mark.parametrize("text, field, value", [
    ('engine = "auto"', "engine", "auto"),
    ('engine = "espeak"', "engine", "espeak"),
    ('player = "miniaudio"', "player", "miniaudio"),
    ("ratings = false", "ratings", False),
    ("rate = 80", "rate", 80),
    ("rate = 400", "rate", 400),
    ("rate = 150.0", "rate", 150),
    ("voice_volume = 1.0", "voice_volume", 1.0),
    ("bell_volume = 0.0", "bell_volume", 0.0),
    ('ambience = "none"', "ambience", "none"),
    ('ambience = "ocean"', "ambience", "ocean"),
    # Bed names are checked elsewhere; here any plain word is a name.
    ('ambience = "waterfall"', "ambience", "waterfall"),
    ('"voice" = "joe"', "voice", "joe"),
    ("'rate' = 120", "rate", 120),
])
def test_single_values(here: Path, text: str, field: str, value: object) -> None:
    config = load_config(write(here, text + "\n"))
    assert getattr(config, field) == value
    assert type(getattr(config, field)) is type(value)


def test_empty_file_sets_nothing(here: Path) -> None:
    path = write(here, "# nothing yet\n\n")
    assert load_config(path) == Config(path=path)


def test_byte_order_mark_and_crlf_line_ends(here: Path) -> None:
    path = here / "relax.toml"
    path.write_bytes(b'\xef\xbb\xbfrate = 100\r\nengine = "espeak"\r\n')
    assert load_config(path) == Config(rate=100, engine="espeak", path=path)


# --- where the file is ---------------------------------------------------------------------------


def test_missing_default_file_is_an_empty_config(isolated_home: Path) -> None:
    assert not config_path().exists()
    assert load_config() == Config()


def test_platform_path_is_used_without_relax_config(isolated_home: Path) -> None:
    expected = Path(os.environ["XDG_CONFIG_HOME"]) / "relax" / "relax.toml"
    assert config_path() == expected
    write(expected.parent, 'engine = "espeak"\nrate = 120\n')
    assert load_config() == Config(engine="espeak", rate=120, path=expected)


def test_relax_config_overrides_the_platform_path(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(Path(os.environ["XDG_CONFIG_HOME"]) / "relax", 'engine = "espeak"\n')
    mine = write(here, 'engine = "piper"\n', "mine.toml")
    monkeypatch.setenv("RELAX_CONFIG", str(mine))
    assert config_path() == mine
    assert load_config() == Config(engine="piper", path=mine)


def test_relax_config_expands_home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(isolated_home, "rate = 90\n", "settings/relax.toml")
    monkeypatch.setenv("RELAX_CONFIG", "~/settings/relax.toml")
    assert config_path() == path
    assert load_config().rate == 90


def test_empty_relax_config_means_unset(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAX_CONFIG", "")
    assert config_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "relax" / "relax.toml"
    assert load_config() == Config()


def test_relax_config_naming_a_missing_file_is_an_error(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAX_CONFIG", str(here / "gone" / "relax.toml"))
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == "gone/relax.toml: no such file (named by RELAX_CONFIG)"


def test_explicit_missing_path_is_an_error(here: Path) -> None:
    assert error_of(here / "absent.toml") == "absent.toml: no such file"


def test_path_outside_the_working_folder_is_shown_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "rate = 1\n")
    assert error_of(path) == f"{path}:1:1: rate: {RATE}, not 1"


def test_folder_instead_of_file(here: Path) -> None:
    (here / "relax.toml").mkdir()
    assert error_of(here / "relax.toml") == "relax.toml: is a folder, not a config file"


def test_os_error_names_the_path(here: Path) -> None:
    write(here, "", "plain")
    assert error_of(here / "plain" / "relax.toml") == "plain/relax.toml: cannot read: Not a directory"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(here: Path) -> None:
    path = write(here, "rate = 100\n")
    path.chmod(0)
    try:
        assert error_of(path) == "relax.toml: cannot read: Permission denied"
    finally:
        path.chmod(0o644)


def test_not_utf8_is_located(here: Path) -> None:
    path = here / "relax.toml"
    path.write_bytes(b'rate = 100\nvoice = "\xc3\xa9\xff"\n')
    assert error_of(path) == "relax.toml:2:11: not UTF-8 text (byte 0xff)"


# --- bad values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ('ambiance = "rain"\n', "1:1: ambiance: unknown key (did you mean 'ambience'?)"),
    ("voice_volum = 0.5\n", "1:1: voice_volum: unknown key (did you mean 'voice_volume'?)"),
    ("colour = 1\n", f"1:1: colour: unknown key (known keys: {KNOWN})"),
    ('[sound]\nrate = 100\n', f"1:2: sound: unknown key (known keys: {KNOWN})"),
    ('[[ambiances]]\nname = "x"\n', "1:3: ambiances: unknown key (did you mean 'ambience'?)"),
    ('ambience_volume = "loud"\n', "1:1: ambience_volume: must be a number from 0 to 1, not 'loud'"),
    ("ambience_volume = true\n", "1:1: ambience_volume: must be a number from 0 to 1, not true"),
    ("voice_volume = 1.5\n", "1:1: voice_volume: must be a number from 0 to 1, not 1.5"),
    ("bell_volume = -0.1\n", "1:1: bell_volume: must be a number from 0 to 1, not -0.1"),
    ("bell_volume = 2\n", "1:1: bell_volume: must be a number from 0 to 1, not 2"),
    ("bell_volume = nan\n", "1:1: bell_volume: must be a number from 0 to 1, not nan"),
    ("voice_volume = [0.5]\n", "1:1: voice_volume: must be a number from 0 to 1, not a list"),
    ("rate = 20\n", f"1:1: rate: {RATE}, not 20"),
    ("rate = 401\n", f"1:1: rate: {RATE}, not 401"),
    ("rate = 150.5\n", f"1:1: rate: {RATE}, not 150.5"),
    ("rate = inf\n", f"1:1: rate: {RATE}, not inf"),
    ('rate = "fast"\n', f"1:1: rate: {RATE}, not 'fast'"),
    ("rate = false\n", f"1:1: rate: {RATE}, not false"),
    ('engine = "festival"\n', f"1:1: engine: {ENGINE}, not 'festival'"),
    ('engine = "Piper"\n', f"1:1: engine: {ENGINE}, not 'Piper'"),
    ('engine = { name = "piper" }\n', f"1:1: engine: {ENGINE}, not a table"),
    ('player = "pyaudio"\n', "1:1: player: must be one of: auto, pulse, miniaudio, simpleaudio, not 'pyaudio'"),
    ('ratings = "no"\n', "1:1: ratings: must be true or false, not 'no'"),
    ('[player]\nname = "miniaudio"\n', "1:2: player: must be one of: auto, pulse, miniaudio, simpleaudio, not a table"),
    ('rate.value = 100\n', f"1:1: rate: {RATE}, not a table"),
    ('voice = ""\n', "1:1: voice: must not be empty"),
    ("voice = 3\n", "1:1: voice: must be text (a voice name or a Piper .onnx file), not 3"),
    ("voice = 1979-05-27\n", "1:1: voice: must be text (a voice name or a Piper .onnx file), not a date/time (1979-05-27)"),
    ('ambience = ""\n', "1:1: ambience: must not be empty"),
    ("ambience = '   '\n", "1:1: ambience: must not be empty"),
    ("ambience = 0.5\n", "1:1: ambience: must be text (an ambience name, none, or an audio file), not 0.5"),
    ("ambience = {}\n", "1:1: ambience: must be text (an ambience name, none, or an audio file), not a table"),
])
def test_bad_values(here: Path, text: str, expected: str) -> None:
    assert error_of(write(here, text)) == f"relax.toml:{expected}"


@pytest.mark.parametrize("text, expected", [
    # Indented, and after comments and blank lines.
    ('# defaults\n\n   rate = 20\n', f"3:4: rate: {RATE}, not 20"),
    # Quoted keys, with an escape tomllib decodes.
    ('voice = "joe"\n"rate" = 20\n', f"2:1: rate: {RATE}, not 20"),
    ("\t'engine' = 'x'\n", f"1:2: engine: {ENGINE}, not 'x'"),
    ('"ra\\u0074e" = 20\n', f"1:1: rate: {RATE}, not 20"),
    # Look-alike lines inside a multi-line string or an array's comment are not keys.
    ('voice = """\nrate = 100\n"""\nrate = 20\n', f"4:1: rate: {RATE}, not 20"),
    ("voice = '''\nengine = 'x'\n'''\n  engine = 'y'\n", f"4:3: engine: {ENGINE}, not 'y'"),
    # An odd number of quotes inside them must not end the string early.
    ('voice = """say "hi\nrate = 100\n"""\nrate = 20\n', f"4:1: rate: {RATE}, not 20"),
    ("voice = '''it's\nengine = 'x'\n'''\nengine = 'y'\n", f"4:1: engine: {ENGINE}, not 'y'"),
    ('voice = """ends in a quote""""\nrate = 20\n', f"2:1: rate: {RATE}, not 20"),
    ('x = [\n  "]", # ] rate = 1 "\n  1,\n]\nrate = 20\n', f"1:1: x: unknown key (known keys: {KNOWN})"),
    ('engine = "auto"\nx = [ # [\n  {a = "}"},\n]\n', f"2:1: x: unknown key (known keys: {KNOWN})"),
    # A key inside a [table] is that table's, not a top-level one.
    ('[[ambiances]]\nrate = 100\n', "1:3: ambiances: unknown key (did you mean 'ambience'?)"),
    ('[ sound . more ]\n', f"1:3: sound: unknown key (known keys: {KNOWN})"),
])
def test_problems_are_located_at_their_key(here: Path, text: str, expected: str) -> None:
    assert error_of(write(here, text)) == f"relax.toml:{expected}"


def test_first_problem_in_file_order_is_reported(here: Path) -> None:
    path = write(here, 'engine = "espeak"\nrate = 20\nambiance = "rain"\nvoice = ""\n')
    assert error_of(path) == f"relax.toml:2:1: rate: {RATE}, not 20"


def test_table_header_before_a_bad_root_value_is_still_later(here: Path) -> None:
    # Root keys come before any [table] in the file, so the bad root value is the first problem.
    path = write(here, 'rate = 20\n[sound]\nvolume = 1\n')
    assert error_of(path) == f"relax.toml:1:1: rate: {RATE}, not 20"


def test_newline_in_a_value_keeps_one_line(here: Path) -> None:
    path = write(here, 'engine = "pi\\nper\\r\\u0007"\n')
    assert error_of(path) == f"relax.toml:1:1: engine: {ENGINE}, not 'pi\\nper\\r\\x07'"


def test_newline_in_a_key_keeps_one_line(here: Path) -> None:
    path = write(here, 'rate = 100\n"bad\\nkey" = 1\n')
    assert error_of(path) == f"relax.toml:2:1: bad\\nkey: unknown key (known keys: {KNOWN})"


def test_long_values_are_shortened(here: Path) -> None:
    path = write(here, f'engine = "{"x" * 200}"\n')
    assert error_of(path) == f"relax.toml:1:1: engine: {ENGINE}, not '{'x' * 56}..."


def test_config_error_is_a_relax_error(here: Path) -> None:
    with pytest.raises(RelaxError) as caught:
        load_config(write(here, "rate = 20\n"))
    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.path, error.line, error.column, error.message) == ("relax.toml", 1, 1, f"rate: {RATE}, not 20")


# --- syntax errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("engine = \n", "1:10: invalid TOML: invalid value"),
    ('rate = 100\nengine = "piper\n', "2:16: invalid TOML: illegal character '\\n'"),
    ('voice = """never closed\n', "2:1: invalid TOML: unterminated string"),
    ("rate = 100 120\n", "1:12: invalid TOML: expected newline or end of document after a statement"),
    ("rate == 100\n", "1:7: invalid TOML: invalid value"),
    ("rate 100\n", "1:6: invalid TOML: expected '=' after a key in a key/value pair"),
    ('engine = "piper"\nengine = "auto"\n', "2:16: invalid TOML: cannot overwrite a value"),
    ("[sound]\n[sound]\n", "2:7: invalid TOML: cannot declare ('sound',) twice"),
    ('voice = "a\u0007b"\n', "1:11: invalid TOML: illegal character '\\x07'"),
    # Cut off at the very end: placed just past the last character.
    ("rate = 100\nengine =", "2:9: invalid TOML: invalid value"),
])
def test_syntax_errors(here: Path, text: str, expected: str) -> None:
    assert error_of(write(here, text)) == f"relax.toml:{expected}"


def test_absurd_nesting_is_one_error(here: Path) -> None:
    path = write(here, "x = " + "[" * 100_000 + "\n")
    assert error_of(path) == "relax.toml: invalid TOML: nested too deeply"


# --- ambience paths ------------------------------------------------------------------------------


def test_relative_ambience_path_is_resolved_against_the_config_folder(here: Path) -> None:
    path = write(here, 'ambience = "sounds/rain.flac"\n', "conf/relax.toml")
    assert load_config(path).ambience == str((here / "conf" / "sounds" / "rain.flac").resolve())


def test_ambience_with_an_audio_suffix_is_a_file(here: Path) -> None:
    path = write(here, 'ambience = "Creek.WAV"\n', "conf/relax.toml")
    assert load_config(path).ambience == str((here / "conf" / "Creek.WAV").resolve())


def test_ambience_dot_dot_is_normalised(here: Path) -> None:
    path = write(here, 'ambience = "../beds/hum.mp3"\n', "conf/relax.toml")
    assert load_config(path).ambience == str((here / "beds" / "hum.mp3").resolve())


def test_ambience_home_is_expanded(isolated_home: Path, here: Path) -> None:
    path = write(here, 'ambience = "~/sounds/rain.ogg"\n', "conf/relax.toml")
    assert load_config(path).ambience == str((isolated_home / "sounds" / "rain.ogg").resolve())


def test_absolute_ambience_path_is_kept(here: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = tmp_path_factory.mktemp("beds").resolve() / "bed.wav"
    path = write(here, f"ambience = '{target}'\n", "conf/relax.toml")
    assert load_config(path).ambience == str(target)


def test_ambience_name_is_kept_as_written(here: Path) -> None:
    path = write(here, 'ambience = "brown"\n', "conf/relax.toml")
    assert load_config(path).ambience == "brown"


def test_relative_config_path_still_gives_an_absolute_ambience(here: Path) -> None:
    write(here, 'ambience = "beds/x.wav"\n', "conf/relax.toml")
    assert load_config(Path("conf/relax.toml")).ambience == str(here.resolve() / "conf" / "beds" / "x.wav")


def test_the_config_knows_every_player() -> None:
    from relax.config import PLAYERS
    from relax.player import PlayerKind

    assert PLAYERS == tuple(kind.value for kind in PlayerKind)
