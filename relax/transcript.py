"""Transcripts of a scheduled session: WebVTT and SRT captions, and a chapters list, timed from the schedule.

Times come from the same frames the audio is rendered from, rounded once to the millisecond, so a caption
starts when its words start in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from relax.errors import UsageError
from relax.plan import CueKind
from relax.publish import check_target, write_text
from relax.schedule import Schedule, SectionSpan

FORMATS = {".vtt": "vtt", ".srt": "srt"}


@dataclass(frozen=True)
class Caption:
    """One spoken cue: its words and where they are, in milliseconds."""

    start: int
    end: int
    text: str
    section: tuple[str, ...]


def milliseconds(frames: int, rate: int) -> int:
    return (frames * 1000 + rate // 2) // rate


def captions(schedule: Schedule) -> list[Caption]:
    """Every speech cue of the schedule, with its words on one line."""
    rate = schedule.rate
    return [Caption(milliseconds(placed.start, rate), milliseconds(placed.end, rate), " ".join(placed.cue.text.split()),
                    placed.cue.section)
            for placed in schedule.cues() if placed.cue.kind is CueKind.speech]


def chapters(schedule: Schedule, nested: bool = False) -> list[SectionSpan]:
    """The sections to mark as chapters: the top-level ones, or (`nested`) every one, in order of start."""
    return [span for span in schedule.sections() if nested or len(span.path) == 1]


def clock(ms: int, separator: str = ".") -> str:
    """`HH:MM:SS.mmm` (SRT uses a comma)."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, rest = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{rest:03d}"


def _vtt_text(text: str) -> str:
    # WebVTT reads markup in cue text and ends a cue at '-->'.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(schedule: Schedule, nested: bool = False) -> str:
    """WebVTT captions, with a NOTE naming each chapter where it starts."""
    marks = {span.start: span for span in chapters(schedule, nested)}
    rate = schedule.rate
    starts = sorted((milliseconds(frame, rate), span) for frame, span in marks.items())
    lines = ["WEBVTT", f"Title: {_vtt_text(schedule.plan.title)}".replace("-->", "->"), ""]
    pending = iter(starts)
    upcoming = next(pending, None)
    for number, caption in enumerate(captions(schedule), 1):
        while upcoming is not None and upcoming[0] <= caption.start:
            lines += [f"NOTE Chapter {clock(upcoming[0])}: {_note(upcoming[1].name)}", ""]
            upcoming = next(pending, None)
        lines += [str(number), f"{clock(caption.start)} --> {clock(caption.end)}", _vtt_text(caption.text), ""]
    return "\n".join(lines)


def _note(text: str) -> str:
    return text.replace("-->", "->")


def to_srt(schedule: Schedule) -> str:
    """SubRip captions."""
    blocks = [f"{number}\n{clock(c.start, ',')} --> {clock(c.end, ',')}\n{c.text}\n"
              for number, c in enumerate(captions(schedule), 1)]
    return "\n".join(blocks)


def chapter_lines(schedule: Schedule, nested: bool = False) -> Iterator[str]:
    """`HH:MM:SS title` per chapter, the list video and podcast sites read; the first starts at 00:00:00."""
    rate = schedule.rate
    for span in chapters(schedule, nested):
        yield f"{clock(milliseconds(span.start, rate))[:8]} {span.name}"


def transcript_format(path: Path) -> str:
    """'vtt' or 'srt' from the file name."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path}: a transcript is a .vtt or .srt file (name it something.vtt or something.srt)")
    return kind


@dataclass(frozen=True)
class TextOutputs:
    """The text files a session can be written as, beside or instead of its audio."""

    transcript: Path | None = None
    chapters_file: Path | None = None
    nested: bool = False
    """Chapters for sections at every depth, not only the top level."""
    overwrite: bool = False

    def check(self) -> None:
        """Refuse bad names and existing files before any work is done."""
        if self.transcript is not None:
            transcript_format(self.transcript)
            check_target(self.transcript, self.overwrite)
        if self.chapters_file is not None:
            check_target(self.chapters_file, self.overwrite)

    def write(self, schedule: Schedule) -> list[Path]:
        """Write each file asked for from `schedule`; the paths written."""
        written = []
        if self.transcript is not None:
            kind = transcript_format(self.transcript)
            text = to_vtt(schedule, self.nested) if kind == "vtt" else to_srt(schedule)
            write_text(self.transcript, text, self.overwrite)
            written.append(self.transcript)
        if self.chapters_file is not None:
            write_text(self.chapters_file, "".join(f"{line}\n" for line in chapter_lines(schedule, self.nested)),
                       self.overwrite)
            written.append(self.chapters_file)
        return written
