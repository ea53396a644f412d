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
from relax.library import available, create_routine
from relax.plan import plan_for
from relax.report import list_rows, timeline_text
from relax.routine import routine_json_schema
from relax.timeline import build_timeline


class RelaxGroup(click.Group):
    """Turns every RelaxError into its one-line messages and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelaxError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            for line in str(exc).splitlines():
                click.echo(f"Error: {line}" if not isinstance(exc, RoutineError) else line, err=True)
            ctx.exit(1)


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


set_option = click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a routine param (repeatable)."
)
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
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
def show(routine: str, sets: tuple[str, ...], pace: float, as_json: bool) -> None:
    """Print the timeline of ROUTINE: every cue with its start and duration."""
    timeline = build_timeline(plan_for(routine, sets=sets, pace=pace))
    if as_json:
        _echo_json(timeline.to_json())
    else:
        click.echo(timeline_text(timeline))


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
            for line in str(exc).splitlines():
                click.echo(line if isinstance(exc, RoutineError) else f"Error: {line}", err=True)
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
