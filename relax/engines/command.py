"""Any command-line text-to-speech program as an engine: `command` in relax.toml or a routine's voice, with
{placeholders} relax fills in for each clip (the way w2a runs a custom speech command)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import wave
from pathlib import Path

from relax.errors import brief
from relax.speech import Backend, SpeechEngine, SpeechError, SpeechSettings, VoiceRequest

PLACEHOLDERS = ("text", "out", "voice", "language", "rate", "pitch")
PLACEHOLDER = re.compile(r"\{(\w*)\}")
COMMAND_TIMEOUT = 30.0
"""Seconds one clip's command may run by default; RELAX_COMMAND_TIMEOUT changes it (the pool stops a worker at 60)."""
COMMAND_HELP = "for example: command = \"espeak-ng -v {voice} -s {rate} -w {out} {text}\""


def parse_command(command: str) -> list[str]:
    """The words of a command line, its placeholders checked; raises SpeechError naming what is wrong."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise SpeechError(f"command: cannot read {brief(command)} as a command line ({exc})") from None
    if not words:
        raise SpeechError(f"command: is empty ({COMMAND_HELP})")
    used = {name for word in words for name in PLACEHOLDER.findall(word)}
    unknown = sorted(used - set(PLACEHOLDERS))
    if unknown:
        raise SpeechError(f"command: unknown placeholder {{{unknown[0]}}} (placeholders: "
                          f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
    if "out" not in used:
        raise SpeechError(f"command: must write the audio to {{out}} ({COMMAND_HELP})")
    if PLACEHOLDER.search(words[0]):
        raise SpeechError("command: the program's name cannot be a placeholder")
    return words


def command_problem(command: str) -> str | None:
    """What is wrong with a command line as written (without the `command:` prefix), or None."""
    try:
        parse_command(command)
    except SpeechError as exc:
        return str(exc).removeprefix("command: ")
    return None


def command_timeout() -> float:
    value = os.environ.get("RELAX_COMMAND_TIMEOUT", "")
    try:
        seconds = float(value) if value else COMMAND_TIMEOUT
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 50:  # nan fails too
        raise SpeechError(f"RELAX_COMMAND_TIMEOUT must be a number of seconds from 0 to 50, not {brief(value)}")
    return seconds


def _fill(words: list[str], values: dict[str, str]) -> list[str]:
    return [PLACEHOLDER.sub(lambda match: values[match.group(1)], word) for word in words]


def _program(words: list[str]) -> Path:
    found = shutil.which(words[0])
    if found is None:
        raise SpeechError(f"command: '{words[0]}' is not installed (not found on PATH)")
    return Path(found).resolve()


class CommandEngine:
    """Runs the command once per clip, the text as an argument ({text}) or on its standard input."""

    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None:
        words = parse_command(settings.command)
        program = words[0]
        # The program's own file name, in the cache's folder: a tool that insists on `.wav` gets it.
        out = target.with_name(f"{target.stem}-out.wav")
        values = {"text": text, "out": str(out), "voice": settings.voice, "language": settings.language,
                  "rate": str(settings.rate), "pitch": str(settings.pitch)}
        uses_text = any("{text}" in word for word in words)
        try:
            self._run(_fill(words, values), None if uses_text else text, program)
            self._convert(out, target, program)
        finally:
            out.unlink(missing_ok=True)

    def _run(self, argv: list[str], stdin: str | None, program: str) -> None:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise SpeechError(f"command: cannot run '{program}': {exc.strerror}") from None
        timeout = command_timeout()
        try:
            _, errors = process.communicate(stdin.encode("utf-8") if stdin is not None else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # and whatever it started
            process.wait()
            raise SpeechError(f"command: '{program}' did not finish in {timeout:g} s") from None
        if process.returncode:
            said = [line.strip() for line in errors.decode("utf-8", "replace").splitlines() if line.strip()]
            status = f"signal {-process.returncode}" if process.returncode < 0 else f"exit {process.returncode}"
            raise SpeechError(f"command: '{program}' failed ({status})" + (f": {said[-1][:200]}" if said else ""))

    def _convert(self, out: Path, target: Path, program: str) -> None:
        """The program's file as a WAV at `target`: WAV as it is, anything else through ffmpeg (macOS `say` writes AIFF)."""
        try:
            size = out.stat().st_size
        except OSError:
            size = 0
        if not size:
            raise SpeechError(f"command: '{program}' wrote no audio to {{out}}")
        try:
            with wave.open(str(out), "rb") as reader:
                if reader.getnframes() == 0:
                    raise SpeechError(f"command: '{program}' wrote a WAV file without sound")
            os.replace(out, target)
            return
        except (wave.Error, EOFError):
            pass
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is not None:
            done = subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-y", "-i", str(out), "-ac", "1", "-c:a", "pcm_s16le",
                                   "-f", "wav", str(target)], capture_output=True, timeout=COMMAND_TIMEOUT)
            if done.returncode == 0:
                return
            target.unlink(missing_ok=True)
        raise SpeechError(f"command: '{program}' wrote {size:,} bytes that are not audio relax can read (a WAV file is best)")


class Command(Backend):
    name = "command"
    summary = "any command-line speech program, from `command` in relax.toml or the routine"

    def settings(self, request: VoiceRequest) -> SpeechSettings:
        command_timeout()  # a bad value is reported before any synthesis
        if not request.command:
            raise SpeechError(f"the command engine needs a command: set `command` in relax.toml or the routine's voice ({COMMAND_HELP})")
        program = _program(parse_command(request.command))
        stat = program.stat()
        # The program's size and time in the key: an upgraded program makes new clips.
        return SpeechSettings("command", request.voice, request.rate, request.pitch, request.language,
                              f"command/{program}-{stat.st_size}-{int(stat.st_mtime)}", command=request.command)

    def synthesizer(self, threads: int | None) -> SpeechEngine:
        return CommandEngine()
