"""The `relax` command line: thin click commands over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from relax import __version__
from relax.duration import format_duration
from relax.errors import RelaxError, RoutineError
from relax.cache import AudioCache, format_size, parse_size
from relax.library import available, create_routine
from relax.paths import cache_dir
from relax.plan import Plan, plan_for
from relax.prepare import exact_timeline, prepare, settings_for
from relax.player import PlayerKind
from relax.render import render_plan
from relax.report import list_rows, timeline_text
from relax.session import play_session
from relax.routine import Engine, routine_json_schema
from relax.speech import list_voices
from relax.timeline import build_timeline


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
    for line in str(exc).splitlines():
        click.echo(line if isinstance(exc, RoutineError) else f"Error: {line}", err=True)


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


set_option = click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a routine param (repeatable)."
)


def voice_options(command: Any) -> Any:
    """--engine, --voice, --rate, --volume, --cache-dir and --workers."""
    for option in reversed([
        click.option("--engine", type=click.Choice([e.value for e in Engine]), help="Speech engine (default: the routine's)."),
        click.option("--voice", help="Voice name (see relax voices) or a Piper .onnx file."),
        click.option("--rate", type=int, help="Speaking rate in words per minute (80-400)."),
        click.option("--volume", type=float, help="Speech volume, 0.0 to 1.0."),
        click.option("--cache-dir", type=click.Path(path_type=Path), help="Audio cache folder (default: RELAX_CACHE_DIR)."),
        click.option("--workers", type=click.IntRange(1, 64), help="Synthesis processes (default: one per core)."),
    ]):
        command = option(command)
    return command


def _voice(engine: str | None, voice: str | None, rate: int | None, volume: float | None) -> dict[str, object]:
    return {"engine": Engine(engine) if engine else None, "voice": voice, "rate": rate, "volume": volume}


def _cache(path: Path | None) -> AudioCache:
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


pace_option = click.option(
    "--pace", type=float, default=1.0, show_default=True, help="Speed factor: 0.8 is slower (longer pauses, slower speech)."
)


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List built-in and user routines with title and duration."""
    rows = list_rows(available())
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
def show(routine: str, sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None, rate: int | None,
         volume: float | None, cache_dir: Path | None, workers: int | None, estimate: bool, as_json: bool) -> None:
    """Print the timeline of ROUTINE: every cue with its start and duration."""
    plan = plan_for(routine, sets=sets, pace=pace, voice=_voice(engine, voice, rate, volume))
    if estimate:
        timeline = build_timeline(plan)
    else:
        timeline = exact_timeline(plan, settings_for(plan), _cache(cache_dir), workers=workers, on_progress=_progress("Synthesizing"))
    if as_json:
        _echo_json(timeline.to_json())
    else:
        click.echo(timeline_text(timeline))


@cli.command()
@click.argument("routine")
@set_option
@pace_option
@voice_options
@click.option("--player", type=click.Choice([p.value for p in PlayerKind]), envvar="RELAX_PLAYER", default="miniaudio",
              show_default=True, help="Audio backend (or RELAX_PLAYER).")
@click.option("--no-audio", is_flag=True, help="Guide in text only, in real time.")
@click.option("--start-at", metavar="SECTION", help="Begin at this section.")
@click.pass_context
def play(ctx: click.Context, routine: str, sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None,
         rate: int | None, volume: float | None, cache_dir: Path | None, workers: int | None, player: str,
         no_audio: bool, start_at: str | None) -> None:
    """Guide a session of ROUTINE: speech, timed holds and bells, with keys to pause and skip.

    Keys: space pause/resume, n or right next step, b or left back, s next section,
    + and - volume, q quit. Not on a terminal: one plain line per cue.
    """
    plan = plan_for(routine, sets=sets, pace=pace, voice=_voice(engine, voice, rate, volume))
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        summary = play_session(plan, settings_for(plan), _cache(cache_dir), player=None if no_audio else PlayerKind(player),
                               start_at=start_at, interactive=interactive, workers=workers)
    except KeyboardInterrupt:
        click.echo("Stopped before the session began.")
        ctx.exit(130)
    click.echo(summary.line())
    if summary.interrupted:
        ctx.exit(130)


@cli.command()
@click.argument("routine")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .wav file to write.")
@set_option
@pace_option
@voice_options
def render(routine: str, output: Path, sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None,
           rate: int | None, volume: float | None, cache_dir: Path | None, workers: int | None) -> None:
    """Write a session of ROUTINE to a WAV file: the same audio as `relax play`."""
    plan = plan_for(routine, sets=sets, pace=pace, voice=_voice(engine, voice, rate, volume))
    result = render_plan(plan, settings_for(plan), _cache(cache_dir), output, workers=workers,
                         on_progress=_progress("Synthesizing"))
    click.echo(f"Wrote {result.path} ({format_duration(result.seconds)}, {format_size(result.bytes)})")


@cli.command("prepare")
@click.argument("routines", nargs=-1, required=True, metavar="ROUTINE...")
@set_option
@pace_option
@voice_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def prepare_command(routines: tuple[str, ...], sets: tuple[str, ...], pace: float, engine: str | None, voice: str | None,
                    rate: int | None, volume: float | None, cache_dir: Path | None, workers: int | None, as_json: bool) -> None:
    """Synthesize every missing speech clip of the routines, so they play instantly."""
    plans: list[Plan] = [plan_for(spec, sets=sets, pace=pace, voice=_voice(engine, voice, rate, volume)) for spec in routines]
    result = prepare([(plan, settings_for(plan)) for plan in plans], _cache(cache_dir), workers=workers,
                     on_progress=_progress("Synthesizing"))
    if as_json:
        _echo_json(result.to_json())
    else:
        click.echo(f"{result.synthesized} clips synthesized, {result.reused} reused, in {result.seconds:.1f} s")


@cli.command()
@click.option("--engine", type=click.Choice(["espeak", "piper"]), help="Only this engine's voices.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def voices(engine: str | None, as_json: bool) -> None:
    """List the voices of the installed speech engines."""
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
    removed, left = _cache(cache_dir).prune(parse_size(max_size))
    click.echo(f"Removed {removed} clips; {format_size(left)} left")


@cli.command()
@click.argument("routines", nargs=-1, required=True, metavar="ROUTINE...")
def check(routines: tuple[str, ...]) -> None:
    """Validate routines: `OK name (duration)` for each, or every error found."""
    failed = False
    for spec in routines:
        try:
            timeline = build_timeline(plan_for(spec))
        except RelaxError as exc:
            failed = True
            _echo_error(exc)
            continue
        click.echo(f"OK {timeline.plan.name} ({format_duration(timeline.duration)})")
    if failed:
        sys.exit(1)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the routine format (for editors)."""
    _echo_json(routine_json_schema())


@cli.command()
@click.argument("name")
@click.option("--path", type=click.Path(path_type=Path), help="File or folder to write to (default: your routines folder).")
def new(name: str, path: Path | None) -> None:
    """Create a commented starter routine NAME to edit."""
    target = create_routine(name, path)
    click.echo(f"Created {target}\nEdit it, then: relax check {target}")


if __name__ == "__main__":  # python -m relax.cli, used by tests that need a real process
    cli()
