"""The `relax` command line: thin click commands over the library."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from relax import __version__
from relax.errors import RelaxError, RoutineError, UsageError, brief, one_line
from relax.formats import FORMATS

# Commands import what they use in their bodies: `relax --version` or `relax list` must not pay for numpy,
# pydantic, the engines or the player (a test holds them to it).
if TYPE_CHECKING:
    from relax.cache import AudioCache
    from relax.config import Config
    from relax.plan import Plan
    from relax.player import PlayerKind

SHOWN_PROBLEMS = 100


class RelaxGroup(click.Group):
    """Turns every RelaxError into its one-line messages and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelaxError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _echo_error(exc)
            ctx.exit(1)


def _echo_error(exc: RelaxError) -> None:
    """A routine's problems as `PATH:LINE:COL: message` lines, anything else as `Error: ...`."""
    if isinstance(exc, RoutineError):
        for problem in exc.problems[:SHOWN_PROBLEMS]:
            click.echo(str(problem), err=True)
        if len(exc.problems) > SHOWN_PROBLEMS:
            click.echo(f"Error: {len(exc.problems) - SHOWN_PROBLEMS:,} more problems not shown; fix these first", err=True)
    else:
        click.echo(f"Error: {one_line(str(exc))}", err=True)


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


class Text(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """Words from the command line: bytes that are not UTF-8 (which Python keeps as lone surrogates) would
    fail later, in YAML or a hash, so they are refused here in one line."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if any("\ud800" <= ch <= "\udfff" for ch in text):
            label = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name if param else "TEXT"
            raise UsageError(f"{label}: {brief(text)} is not UTF-8 text")
        return text


TEXT = Text()


class LazyChoice(click.Choice):  # type: ignore[type-arg]
    """Choices read when first needed (a --help or a value to check), so no command pays for importing what
    knows them, nor for finding the engine plugins."""

    def __init__(self, choices: Callable[[], Sequence[str]]) -> None:
        super().__init__([])
        self.load = choices

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        return self.load()

    @choices.setter
    def choices(self, value: object) -> None:
        pass  # click's constructor sets it


def _engines() -> list[str]:
    from relax.speech import engine_names

    return engine_names()


def _players() -> list[str]:
    from relax.config import PLAYERS

    return list(PLAYERS)


set_option = click.option(
    "--set", "sets", multiple=True, type=TEXT, metavar="NAME=VALUE", help="Override a routine param (repeatable)."
)


def voice_options(command: Any) -> Any:
    """--engine, --voice, --rate, --volume, --cache-dir and --workers."""
    for option in reversed([
        click.option("--engine", type=LazyChoice(_engines), help="Speech engine (default: the routine's; see relax engines)."),
        click.option("--voice", type=TEXT, help="Voice name (see relax voices) or a Piper .onnx file."),
        click.option("--rate", type=int, help="Speaking rate in words per minute (80-400)."),
        click.option("--volume", type=float, help="Voice volume, 0.0 to 1.0 (or voice_volume in relax.toml)."),
        click.option("--cache-dir", type=click.Path(path_type=Path), help="Audio cache folder (default: RELAX_CACHE_DIR)."),
        click.option("--workers", type=click.IntRange(1, 64), help="Synthesis processes (default: one per core)."),
    ]):
        command = option(command)
    return command


def _voice(engine: str | None, voice: str | None, rate: int | None, volume: float | None) -> dict[str, object]:
    return {"engine": engine, "voice": voice, "rate": rate, "volume": volume}


def _plan(routine: str, sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None, rate: int | None,
          volume: float | None, config: Config, on_miss: Callable[[], None] | None = None) -> Plan:
    """The plan of ROUTINE: command-line voice options beat the routine's, which beat relax.toml's."""
    from relax.memo import remembered_plan

    return remembered_plan(routine, sets=sets, pace=pace, voice=_voice(engine, voice, rate, volume),
                           defaults=_config_voice(config), on_miss=on_miss)


def _config_voice(config: Config) -> dict[str, object]:
    return {"engine": config.engine, "voice": config.voice, "rate": config.rate, "volume": config.voice_volume,
            "command": config.command}


volume_type = click.FloatRange(0.0, 1.0)


def sound_options(command: Any) -> Any:
    """--ambience, --ambience-volume and --bell-volume."""
    for option in reversed([
        click.option("--ambience", metavar="NAME|FILE|none",
                     help="A bed of sound under the voice: brown, pink, rain, ocean, drone, an audio file, or none."),
        click.option("--ambience-volume", type=volume_type, help="Ambience volume, 0.0 to 1.0."),
        click.option("--bell-volume", type=volume_type, help="Bell volume, 0.0 to 1.0."),
    ]):
        command = option(command)
    return command


def _cache(path: Path | None) -> AudioCache:
    from relax.cache import AudioCache
    from relax.paths import cache_dir

    return AudioCache(path or cache_dir())


def _progress(label: str) -> Any:
    """A progress callback drawing a bar on a terminal's stderr, silent otherwise."""
    if not sys.stderr.isatty():
        return None
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and done < total:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)
            if done >= total:
                bar.__exit__(None, None, None)

    return update


player_option = click.option(
    "--player", type=LazyChoice(_players), envvar="RELAX_PLAYER",
    help="Audio backend: auto (default: pulse where a PulseAudio or PipeWire server answers, else miniaudio), pulse, "
         "miniaudio or simpleaudio (or RELAX_PLAYER, or player in relax.toml).")


def _player(player: str | None, no_audio: bool, config: Config) -> PlayerKind | None:
    from relax.player import PlayerKind

    if no_audio:
        return None
    return PlayerKind(player or config.player or PlayerKind.auto.value)


pace_option = click.option(
    "--pace", type=float, default=1.0, show_default=True, help="Speed factor: 0.8 is slower (longer pauses, slower speech)."
)


class Length(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A session length: seconds, or a duration like 15m or 1h5m."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from relax.duration import parse_duration

        try:
            seconds = parse_duration(TEXT.convert(value, param, ctx))
        except ValueError as exc:
            raise UsageError(f"--length {exc}") from None
        if seconds <= 0:
            raise UsageError(f"--length must be more than 0 seconds, not {brief(value)}")
        return seconds


class Rating(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A rating from 0 to 10."""

    name = "0-10"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from relax.history import RATING_RANGE

        label = param.opts[0] if isinstance(param, click.Option) else "rating"
        text = TEXT.convert(value, param, ctx).strip()
        if not text.isdigit() or int(text) not in RATING_RANGE:
            raise UsageError(f"{label}: a rating is a whole number from 0 to 10, not {brief(value)}")
        return int(text)


def rating_options(command: Any) -> Any:
    """--before, --after, --pain-before and --pain-after."""
    for option in reversed([
        click.option("--before", "tension_before", type=Rating(), help="How tense you are before (0-10): recorded, not asked."),
        click.option("--after", "tension_after", type=Rating(), help="How tense you are after (0-10): recorded, not asked."),
        click.option("--pain-before", type=Rating(), help="How much pain before (0-10), for routines that track it."),
        click.option("--pain-after", type=Rating(), help="How much pain after (0-10), for routines that track it."),
    ]):
        command = option(command)
    return command


length_option = click.option(
    "--length", type=Length(), metavar="DURATION",
    help="Fit the session to this length (like 15m) by scaling its pauses, holds and breaths; never speech.")


def _fit(plan: Plan, length: float | None, cache_dir: Path | None, workers: int | None, estimate: bool = False) -> Plan:
    """The plan fitted to --length, from real clip lengths (or estimated ones)."""
    from relax.prepare import fitted_plan

    if length is None:
        return plan
    return fitted_plan(plan, length, None if estimate else _cache(cache_dir), workers=workers,
                       on_progress=_progress("Synthesizing"))


@click.group(cls=RelaxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="relax")
@click.option("--debug", is_flag=True, help="Show a traceback for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Guided relaxation and stretching sessions in the terminal.

    ROUTINE is a built-in or user routine name (see `relax list`) or a path to a YAML file.
    """
    ctx.obj = {"debug": debug}


@cli.command("list")
@click.option("--tag", "tags", multiple=True, type=TEXT, help="Only routines with this tag (repeat for several).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(tags: tuple[str, ...], as_json: bool) -> None:
    """List built-in and user routines with title, duration and tags."""
    from relax.library import available
    from relax.summary import list_rows

    rows = list_rows(available(), tags)
    if tags and not rows:
        click.echo(f"No routine has the tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}.", err=True)
    if as_json:
        _echo_json([row.to_json() for row in rows])
    else:
        for row in rows:
            click.echo(row.line())


@cli.command()
@click.argument("routine")
@set_option
@pace_option
@voice_options
@click.option("--estimate", is_flag=True, help="Do not synthesize: estimate speech lengths from the rate.")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.option("--markdown", is_flag=True, help="Print a script of the session to read or print, in Markdown.")
@length_option
def show(routine: str, sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None, rate: int | None,
         volume: float | None, cache_dir: Path | None, workers: int | None, estimate: bool, as_json: bool,
         markdown: bool, length: float | None) -> None:
    """Print the timeline of ROUTINE: every cue with its start and duration (or --json, or --markdown: a
    handout with the safety note, the sections and their times, and every step)."""
    from relax.config import load_config
    from relax.pcm import SESSION_RATE
    from relax.prepare import exact_schedule, settings_for
    from relax.report import handout_markdown, timeline_text
    from relax.schedule import build_schedule

    plan = _plan(routine, sets, pace, engine, voice, rate, volume, load_config())
    plan = _fit(plan, length, cache_dir, workers, estimate)
    if estimate:
        schedule = build_schedule(plan, SESSION_RATE)
    else:
        schedule = exact_schedule(plan, settings_for(plan), _cache(cache_dir), workers=workers, on_progress=_progress("Synthesizing"))
    if as_json:
        _echo_json(schedule.to_json())
    elif markdown:
        click.echo(handout_markdown(schedule), nl=False)
    else:
        click.echo(timeline_text(schedule))


@cli.command()
@click.argument("routine")
@set_option
@pace_option
@voice_options
@sound_options
@player_option
@click.option("--no-audio", is_flag=True, help="Guide in text only, in real time.")
@click.option("--start-at", metavar="SECTION", type=TEXT, help="Begin at this section.")
@length_option
@rating_options
@click.option("--no-ratings", is_flag=True, help="Do not ask how tense you are (or ratings = false in relax.toml).")
@click.pass_context
def play(ctx: click.Context, routine: str, sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None,
         rate: int | None, volume: float | None, cache_dir: Path | None, workers: int | None, ambience: str | None,
         ambience_volume: float | None, bell_volume: float | None, player: str | None, no_audio: bool,
         start_at: str | None, length: float | None, tension_before: int | None, tension_after: int | None,
         pain_before: int | None, pain_after: int | None, no_ratings: bool) -> None:
    """Guide a session of ROUTINE: speech, timed holds, breaths and bells, an ambience bed if asked for,
    with keys to pause, skip and set volumes.

    Keys: space pause/resume, n or right next step (a say with its pause, a hold with its countdown,
    a whole breathing exercise), b or left back, s next section, + and - voice volume, a and z ambience
    volume, q quit. Not on a terminal: one plain line per cue.
    """
    from relax.config import load_config
    from relax.prepare import ready_workers, settings_for, warm_start

    config = load_config()
    cache = _cache(cache_dir)
    early = warm_start(cache, workers, engine or config.engine, voice or config.voice)
    plan = _fit(_plan(routine, sets, pace, engine, voice, rate, volume, config, on_miss=early), length, cache_dir, workers)
    settings = settings_for(plan)
    ready_workers(plan, settings, cache, workers)

    from relax.recording import Ratings, session_recorder
    from relax.session import play_session
    from relax.sound import session_sound

    sound = session_sound(plan, config, ambience=ambience, ambience_volume=ambience_volume, bell_volume=bell_volume)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    ratings = Ratings(tension_before, tension_after, pain_before, pain_after,
                      ask=interactive and not no_ratings and config.ratings is not False)
    recorder = session_recorder(plan, settings, ratings, warn=lambda line: click.echo(line, err=True))
    try:
        summary = play_session(plan, settings, cache, sound, player=_player(player, no_audio, config),
                               start_at=start_at, interactive=interactive, workers=workers, recorder=recorder)
    except KeyboardInterrupt:
        click.echo("Stopped before the session began.")
        ctx.exit(130)
    click.echo(summary.line())
    for line in recorder.warnings:
        click.echo(line, err=True)
    if ctx.obj.get("debug"):
        click.echo(summary.debug_line(), err=True)
    ctx.exit(summary.exit_code)


def text_options(command: Any) -> Any:
    """--chapters-file and --chapters, shared by render and transcript."""
    for option in reversed([
        click.option("--chapters-file", type=click.Path(path_type=Path),
                     help="Also write the chapters as `HH:MM:SS title` lines (the list video and podcast sites read)."),
        click.option("--chapters", type=click.Choice(["top", "all"]), default="top", show_default=True,
                     help="Chapters for top-level sections, or for nested sections too."),
    ]):
        command = option(command)
    return command


@cli.command()
@click.argument("routine")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The file to write: .wav, .flac, .mp3, .ogg, .opus, .m4a, or .html (a session page with the audio inside).")
@click.option("--format", "kind", type=click.Choice(list(FORMATS)), help="The format, when the file name has no suffix.")
@click.option("--quality", metavar="RATE|LEVEL",
              help="Bit rate like 96k (mp3, opus, m4a; ogg too, else a level 0-10), or flac's level 0-12. "
                   "Speech defaults: mp3 64k, ogg 3, opus 32k, m4a 64k, flac 5.")
@click.option("--force", is_flag=True, help="Replace the output files if they exist.")
@click.option("--transcript", type=click.Path(path_type=Path), help="Also write the captions, timed to the audio: .vtt or .srt.")
@text_options
@set_option
@pace_option
@voice_options
@sound_options
@length_option
def render(routine: str, output: Path, kind: str | None, quality: str | None, force: bool, transcript: Path | None,
           chapters_file: Path | None, chapters: str,
           sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None, rate: int | None,
           volume: float | None, cache_dir: Path | None, workers: int | None, ambience: str | None,
           ambience_volume: float | None, bell_volume: float | None, length: float | None) -> None:
    """Write a session of ROUTINE to an audio file: the same audio as `relax play` (sample for sample in WAV),
    with tags and a chapter per section in the compressed formats; or to a session page (.html) with the audio,
    captions, safety note and chapters inside."""
    from relax.cache import format_size
    from relax.config import load_config
    from relax.duration import format_duration
    from relax.prepare import exact_schedule, settings_for
    from relax.transcript import TextOutputs
    from relax.render import AudioOutput, check_target, render_plan
    from relax.sound import session_sound

    config = load_config()
    audio = AudioOutput(output, kind, quality, chapters == "all", force)
    texts = TextOutputs(transcript, chapters_file, chapters == "all", force)
    check_target(output, force, kind)
    texts.check()
    plan = _fit(_plan(routine, sets, pace, engine, voice, rate, volume, config), length, cache_dir, workers)
    sound = session_sound(plan, config, ambience=ambience, ambience_volume=ambience_volume, bell_volume=bell_volume)
    result = render_plan(plan, settings_for(plan), _cache(cache_dir), audio, sound, workers=workers,
                         on_progress=_progress("Synthesizing"), on_encoding=_progress("Writing"))
    click.echo(f"Wrote {result.path} ({format_duration(result.seconds)}, {format_size(result.bytes)})")
    for path in texts.write(exact_schedule(plan, settings_for(plan), _cache(cache_dir))):
        click.echo(f"Wrote {path}")


@cli.command()
@click.argument("routine")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .vtt or .srt file to write.")
@click.option("--force", is_flag=True, help="Replace the output files if they exist.")
@text_options
@set_option
@pace_option
@voice_options
@length_option
def transcript(routine: str, output: Path, force: bool, chapters_file: Path | None, chapters: str, sets: tuple[str, ...],
               pace: float, engine: str | None, voice: str | None, rate: int | None, volume: float | None,
               cache_dir: Path | None, workers: int | None, length: float | None) -> None:
    """Write the captions of a session of ROUTINE (WebVTT or SRT), timed to the millisecond as `relax render`
    places the words, synthesizing what is not cached."""
    from relax.config import load_config
    from relax.prepare import exact_schedule, settings_for
    from relax.transcript import TextOutputs

    texts = TextOutputs(output, chapters_file, chapters == "all", force)
    texts.check()
    plan = _fit(_plan(routine, sets, pace, engine, voice, rate, volume, load_config()), length, cache_dir, workers)
    schedule = exact_schedule(plan, settings_for(plan), _cache(cache_dir), workers=workers,
                              on_progress=_progress("Synthesizing"))
    for path in texts.write(schedule):
        click.echo(f"Wrote {path}")


@cli.command()
@click.argument("text", required=False, type=TEXT)
@click.option("--routine", metavar="ROUTINE", help="Speak with this routine's voice and pronounce: words.")
@click.option("--step", type=click.IntRange(1), help="Speak this step of --routine (the numbers of relax show).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write an audio file (.wav, .mp3, ...) instead of playing.")
@click.option("--force", is_flag=True, help="Replace the --output file if it exists.")
@set_option
@voice_options
@player_option
def say(text: str | None, routine: str | None, step: int | None, output: Path | None, force: bool, sets: tuple[str, ...],
        engine: str | None, voice: str | None, rate: int | None, volume: float | None, cache_dir: Path | None,
        workers: int | None, player: str | None) -> None:
    """Speak TEXT, or step N of a routine, with the routine's voice and pronounce: words (and your lexicon):
    hear a wording or a pronunciation fix at once."""
    from relax.cache import format_size
    from relax.config import load_config
    from relax.duration import format_duration
    from relax.expand import said_plan
    from relax.prepare import settings_for
    from relax.render import check_target, render_plan
    from relax.session import play_session
    from relax.sound import session_sound

    config = load_config()
    plan = said_plan(text, routine, step, sets, _voice(engine, voice, rate, volume), _config_voice(config))
    if output is not None:
        check_target(output, force)
    spoken = " ".join(cue.spoken for cue in plan.cues)
    if spoken != " ".join(cue.text for cue in plan.cues):
        click.echo(f"Spoken as: {spoken}")
    sound = session_sound(plan, config, ambience="none")
    if output is not None:
        result = render_plan(plan, settings_for(plan), _cache(cache_dir), output, sound, workers=workers, overwrite=force)
        click.echo(f"Wrote {result.path} ({format_duration(result.seconds)}, {format_size(result.bytes)})")
        return
    summary = play_session(plan, settings_for(plan), _cache(cache_dir), sound, player=_player(player, False, config),
                           workers=workers, text_fallback=False)
    sys.exit(summary.exit_code)


@cli.command("prepare")
@click.argument("routines", nargs=-1, required=True, metavar="ROUTINE...")
@set_option
@pace_option
@voice_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def prepare_command(routines: tuple[str, ...], sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None,
                    rate: int | None, volume: float | None, cache_dir: Path | None, workers: int | None, as_json: bool) -> None:
    """Synthesize every missing speech clip of the routines, so they play instantly."""
    from relax.config import load_config
    from relax.plan import Plan
    from relax.prepare import prepare, settings_for

    config = load_config()
    plans: list[Plan] = [_plan(spec, sets, pace, engine, voice, rate, volume, config) for spec in routines]
    result = prepare([(plan, settings_for(plan)) for plan in plans], _cache(cache_dir), workers=workers,
                     on_progress=_progress("Synthesizing"))
    if as_json:
        _echo_json(result.to_json())
    else:
        click.echo(f"{result.synthesized} clips synthesized, {result.reused} reused, in {result.seconds:.1f} s")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def engines(as_json: bool) -> None:
    """List the speech engines, built in and from plugins, and whether each can run here."""
    from relax.speech import engines_table

    rows = engines_table()
    if as_json:
        _echo_json([{"name": name, "status": status, "summary": summary} for name, status, summary in rows])
    else:
        width = max(len(name) for name, _, _ in rows)
        for name, status, summary in rows:
            click.echo(f"{name:<{width}}  {status:<6} {summary}" if status == "ready" else f"{name:<{width}}  {status}")


@cli.command()
@click.option("--engine", type=LazyChoice(lambda: _engines()[1:]), help="Only this engine's voices.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def voices(engine: str | None, as_json: bool) -> None:
    """List the voices of the installed speech engines."""
    from relax.speech import list_voices

    found = list_voices(engine)
    if as_json:
        _echo_json([{"engine": v.engine, "id": v.id, "name": v.name, "languages": list(v.languages)} for v in found])
    else:
        for v in found:
            click.echo(f"{v.engine:<7} {v.id:<28} {v.name} [{', '.join(v.languages)}]")


@cli.group()
def cache() -> None:
    """Inspect and tidy the audio cache."""


cache_dir_option = click.option("--cache-dir", type=click.Path(path_type=Path), help="Audio cache folder.")


@cache.command("info")
@cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(cache_dir: Path | None, as_json: bool) -> None:
    """Show the cache folder, its number of clips and size."""
    from relax.cache import format_size

    info = _cache(cache_dir).info()
    if as_json:
        _echo_json({"folder": info.folder, "entries": info.entries, "bytes": info.bytes})
    else:
        click.echo(f"{info.folder}\n{info.entries} clips, {format_size(info.bytes)}")


@cache.command("clear")
@cache_dir_option
def cache_clear(cache_dir: Path | None) -> None:
    """Delete every cached clip."""
    click.echo(f"Removed {_cache(cache_dir).clear()} clips")


@cache.command("prune")
@cache_dir_option
@click.option("--max-size", required=True, help="Keep the cache under this size, like 200M or 1G.")
def cache_prune(cache_dir: Path | None, max_size: str) -> None:
    """Delete the least recently used clips until the cache fits --max-size."""
    from relax.cache import format_size, parse_size

    removed, left = _cache(cache_dir).prune(parse_size(max_size))
    click.echo(f"Removed {removed} clips; {format_size(left)} left")


@cli.command()
@click.option("--routine", type=TEXT, help="Only the sessions of this routine.")
@click.option("--since", type=TEXT, metavar="DATE", help="Only sessions from this day on (YYYY-MM-DD, your time zone).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of sessions.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, one row per session.")
@click.option("--forget", is_flag=True, help="Delete sessions for good (all of them, or those before --before).")
@click.option("--before", type=TEXT, metavar="DATE", help="With --forget: only sessions before this day.")
@click.option("--repair", is_flag=True, help="Move an unreadable history file aside and start a new one.")
def history(routine: str | None, since: str | None, as_json: bool, as_csv: bool, forget: bool, before: str | None,
            repair: bool) -> None:
    """Your past sessions: when, which routine, minutes, how each ended, and tension and pain before and after.
    Everything stays on this machine, in history.db in the data folder."""
    from relax.history import history_forget, history_records, history_repair, to_csv
    from relax.report import history_text

    if repair:
        click.echo(history_repair())
    elif forget:
        click.echo(history_forget(before))
    else:
        records = history_records(routine, since)
        click.echo(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False) if as_json else
                   to_csv(records).rstrip("\n") if as_csv else history_text(records))


@cli.command()
@rating_options
def rate(tension_before: int | None, tension_after: int | None, pain_before: int | None, pain_after: int | None) -> None:
    """Rate the last session afterwards: --after N (how tense, 0-10), and --before, --pain-before, --pain-after."""
    from relax.history import history_rate

    click.echo(history_rate(tension_before, tension_after, pain_before, pain_after))


@cli.command()
@click.argument("text", type=TEXT)
def note(text: str) -> None:
    """Attach a note to the last session, like "felt it in the left hip"."""
    from relax.history import history_note

    click.echo(history_note(text))


@cli.command()
@click.option("--weeks", type=click.IntRange(1, 520), default=8, show_default=True, help="Weeks the charts cover.")
@click.option("--png", type=click.Path(path_type=Path), help="Also draw the charts into this PNG file.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats(weeks: int, png: Path | None, as_json: bool) -> None:
    """Your practice: minutes a week, sessions, streaks, and how tension and pain change, as charts."""
    from relax.stats import history_stats, stats_text, write_png

    figures = history_stats(weeks)
    click.echo(json.dumps(figures.to_json(), indent=2, ensure_ascii=False) if as_json else stats_text(figures))
    if png is not None:
        write_png(figures, png)
        click.echo(f"Wrote {png}")


@cli.command("export-history")
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
def export_history(output: Path, force: bool) -> None:
    """Write every session to a CSV file, for a therapist's own records."""
    from relax.history import history_export

    click.echo(history_export(output, force))


@cli.command()
@click.argument("routines", nargs=-1, required=True, metavar="ROUTINE...")
@click.option("--strict", is_flag=True, help="Exit with status 1 on warnings too.")
def check(routines: tuple[str, ...], strict: bool) -> None:
    """Validate routines: `OK name (duration)` for each, or every error found; warn about text the voice may
    say wrongly or a listener may not follow, and long silences (exit 0 unless --strict)."""
    from relax.duration import format_duration
    from relax.summary import summarize

    failed = False
    for spec in routines:
        try:
            summary = summarize(spec)
        except RelaxError as exc:
            failed = True
            _echo_error(exc)
            continue
        warnings = summary.warnings
        for warning in warnings:
            click.echo(warning, err=True)
        failed = failed or (strict and bool(warnings))
        click.echo(f"OK {summary.name} ({format_duration(summary.duration)})"
                   + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""))
    if failed:
        sys.exit(1)


@cli.group()
def ambience() -> None:
    """The ambience beds that can play under the voice."""


@ambience.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ambience_list(as_json: bool) -> None:
    """List the built-in ambience beds."""
    from relax.ambience import BUILTIN_BEDS

    if as_json:
        _echo_json([{"name": bed.name, "description": bed.description} for bed in BUILTIN_BEDS])
    else:
        for bed in BUILTIN_BEDS:
            click.echo(f"{bed.name:<8} {bed.description}")


@ambience.command("preview")
@click.argument("name", metavar="NAME|FILE")
@click.option("--volume", type=volume_type, help="Ambience volume, 0.0 to 1.0 (default: relax.toml's, else 0.3).")
@player_option
@cache_dir_option
def ambience_preview(name: str, volume: float | None, player: str | None, cache_dir: Path | None) -> None:
    """Play ten seconds of a built-in bed or an audio file."""
    from relax.config import load_config
    from relax.player import PlayerKind
    from relax.session import preview_ambience

    config = load_config()
    kind = _player(player, False, config) or PlayerKind.auto
    summary = preview_ambience(name, _cache(cache_dir), volume=volume if volume is not None else config.ambience_volume,
                               player=kind)
    click.echo("Done." if summary.finished else summary.line())


@cli.command()
def docs() -> None:
    """Print the reference of the routine language: every key, with examples."""
    from relax.library import reference

    text = reference()
    if sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        click.echo(text, nl=False)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the routine format (for editors)."""
    from relax.routine import routine_json_schema

    _echo_json(routine_json_schema())


@cli.command()
@click.argument("name")
@click.option("--path", type=click.Path(path_type=Path), help="File or folder to write to (default: your routines folder).")
def new(name: str, path: Path | None) -> None:
    """Create a commented starter routine NAME to edit."""
    from relax.library import create_routine

    target = create_routine(name, path)
    click.echo(f"Created {target}\nEdit it, then: relax check {target}")


if __name__ == "__main__":  # python -m relax.cli, used by tests that need a real process
    cli()
