"""Compressed exports through the real ffmpeg: every format read back with ffprobe (duration, chapters, tags),
FLAC decoded sample for sample, and every failure one line with no file left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from disk import small_disk
from pulse import samples_of

from relax.cache import AudioCache
from relax.cli import cli
from relax.paths import cache_dir
from relax.expand import plan_for
from relax.prepare import exact_schedule, settings_for

ROUTINE = """\
title: Evening; rest = calm
author: Dr Jo Example
safety: Go gently. Stop if it hurts.
steps:
  - section: Arrive
    steps:
      - say: Lie down and rest.
        pause: 1.7
      - section: Breath
        steps:
          - say: Breathe in slowly.
  - section: Release
    steps:
      - hold: 2.3
      - say: Well done.
"""

# One audio frame of each codec at its input rate: the most a chapter or the length may move.
FRAME_MS = {"mp3": 1152 / 22.05, "ogg": 2048 / 22.05, "opus": 20.0 + 6.5, "flac": 4608 / 22.05, "m4a": 1024 / 22.05}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def probe(path: Path) -> dict[str, object]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evening.yaml").write_text(ROUTINE)
    return tmp_path


def _sections_ms(nested: bool) -> tuple[list[tuple[str, int]], float]:
    plan = plan_for("evening.yaml", voice={"engine": "espeak"})
    schedule = exact_schedule(plan, settings_for(plan), AudioCache(cache_dir()))
    spans = [s for s in schedule.sections() if nested or len(s.path) == 1]
    return [(s.name, round(s.start * 1000 / schedule.rate)) for s in spans], schedule.duration


@pytest.mark.parametrize("kind", ["mp3", "ogg", "opus", "flac", "m4a"])
def test_every_format_has_its_length_tags_and_a_chapter_per_section(kind: str, folder: Path) -> None:
    code, out, err = run("render", "evening.yaml", "-o", f"s.{kind}", "--engine", "espeak", "--chapters", "all")
    assert code == 0, err
    assert out.startswith(f"Wrote s.{kind} (0:")
    info = probe(folder / f"s.{kind}")
    sections, seconds = _sections_ms(nested=True)
    stream = info["streams"][0]  # type: ignore[index]
    assert stream["channels"] == 1
    assert abs(float(info["format"]["duration"]) - seconds) * 1000 <= FRAME_MS[kind] * 2  # type: ignore[index]
    chapters = [(c["tags"]["title"], round(float(c["start_time"]) * 1000)) for c in info["chapters"]]  # type: ignore
    assert [name for name, _ in chapters] == [name for name, _ in sections] == ["Arrive", "Arrive / Breath", "Release"]
    for (_, heard), (_, placed) in zip(chapters, sections):
        assert abs(heard - placed) <= FRAME_MS[kind], (chapters, sections)
    # Ogg keeps tags on the stream, the others on the file.
    tags = {k.lower(): v for k, v in {**info["format"].get("tags", {}), **stream.get("tags", {})}.items()}  # type: ignore
    assert tags["title"] == "Evening; rest = calm"
    assert tags["artist"] == "Dr Jo Example"
    assert tags["album"] == "relax"
    assert tags["genre"] == "Relaxation"
    assert tags["comment"] == "Go gently. Stop if it hurts."


def test_top_level_chapters_by_default_and_flac_is_the_wav_sample_for_sample(folder: Path) -> None:
    assert run("render", "evening.yaml", "-o", "s.flac", "--engine", "espeak")[0] == 0
    assert run("render", "evening.yaml", "-o", "s.wav", "--engine", "espeak")[0] == 0
    info = probe(folder / "s.flac")
    assert [c["tags"]["title"] for c in info["chapters"]] == ["Arrive", "Release"]  # type: ignore[index]
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", "s.flac", "-f", "s16le", "-"], capture_output=True,
                             check=True).stdout
    assert np.array_equal(np.frombuffer(decoded, dtype=np.int16), samples_of(folder / "s.wav"))


def test_format_and_quality_options(folder: Path) -> None:
    assert run("render", "evening.yaml", "-o", "session", "--format", "mp3", "--quality", "128k", "--engine",
               "espeak")[0] == 0
    info = probe(folder / "session")
    assert info["format"]["format_name"] == "mp3"  # type: ignore[index]
    assert 110_000 < int(info["streams"][0]["bit_rate"]) <= 128_000  # type: ignore[index]
    code, _, err = run("render", "evening.yaml", "-o", "q.mp3", "--quality", "loud", "--engine", "espeak")
    assert code == 1 and err.startswith("Error: q.mp3: ffmpeg could not write it (") and len(err.splitlines()) == 1
    assert not (folder / "q.mp3").exists()


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_mistakes_are_one_line_and_leave_no_file(folder: Path, tmp_path: Path) -> None:
    (folder / "taken.mp3").write_text("mine")
    cases = {
        ("-o", "s.aiff"): "Error: s.aiff: '.aiff' is not a format relax writes (wav, mp3, ogg, opus, flac, m4a, "
                          "html); name the file something.mp3, or give --format",
        ("-o", "session"): "Error: session: no suffix to tell the format (wav, mp3, ogg, opus, flac, m4a, html); name "
                           "the file something.mp3, or give --format",
        ("-o", "taken.mp3"): "Error: taken.mp3: already exists (use --force to replace it)",
        ("-o", "taken.mp3/s.html"): "Error: taken.mp3/s.html: cannot write (taken.mp3 is a file, not a folder)",
        ("-o", "taken.mp3/new/s.mp3"): "Error: taken.mp3/new/s.mp3: cannot write (taken.mp3 is a file, not a folder)",
    }
    for args, error in cases.items():
        assert run("render", "evening.yaml", "--engine", "espeak", *args)[::2] == (1, error + "\n")
    assert _left(folder) == ["evening.yaml", "taken.mp3"]
    assert (folder / "taken.mp3").read_text() == "mine"


def relax(*args: str, env: dict[str, str] | None = None, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def small_files() -> None:
        import resource
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "relax.cli", *args], env=env or dict(os.environ), capture_output=True,
                          text=True, timeout=120, preexec_fn=small_files)


def test_no_ffmpeg_is_one_line_before_any_work(folder: Path) -> None:
    bare = folder / "bin"
    bare.mkdir()
    os.symlink(sys.executable, bare / "python")
    env = {**os.environ, "PATH": str(bare)}
    done = relax("render", "evening.yaml", "-o", "s.opus", "--engine", "espeak", env=env)
    assert (done.returncode, done.stderr) == (1, "Error: ffmpeg is not installed, and compressed formats need it "
                                                 "(make install installs it, or: apt-get install ffmpeg); .wav needs "
                                                 "nothing\n")
    assert _left(folder) == ["bin", "evening.yaml"]


@pytest.mark.parametrize("kind", ["mp3", "wav", "html"])
def test_a_file_size_limit_leaves_nothing(kind: str, folder: Path) -> None:
    # RLIMIT_FSIZE is a real write failure (EFBIG, or ffmpeg stopped by SIGXFSZ), as a full disk is. The clips are
    # made first, without it: the limit is for the output.
    assert run("prepare", "evening.yaml", "--engine", "espeak")[0] == 0
    done = relax("render", "evening.yaml", "-o", f"s.{kind}", "--engine", "espeak", limit=8192)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"Error: s.{kind}: ")
    assert _left(folder) == ["evening.yaml"]


def test_a_full_disk_leaves_nothing(folder: Path) -> None:
    with small_disk(folder / "disk", 16) as disk:
        for kind in ("m4a", "wav", "html"):
            code, _, err = run("render", "evening.yaml", "-o", f"disk/s.{kind}", "--engine", "espeak")
            assert code == 1 and "No space left on device" in err and len(err.splitlines()) == 1, err
            assert err.startswith(f"Error: disk/s.{kind}: ")
        assert list(disk.iterdir()) == []
        # A cache on a full disk is refused before synthesis starts (espeak would never return from a failed write).
        code, _, err = run("prepare", "evening.yaml", "--engine", "espeak", "--cache-dir", "disk/cache")
        assert (code, err.split(" needs about ")[0]) == (1, "Error: the audio cache at disk/cache")
        assert err.rstrip().endswith("free") and len(err.splitlines()) == 1
    assert shutil.which("ffmpeg")


def test_a_long_render_shows_its_progress_on_a_terminal_only(folder: Path) -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "relax.cli", "render", "pmr-short", "-o", "long.mp3", "--engine",
                                           "espeak"], env={**os.environ, "TERM": "xterm"}, dimensions=(24, 100),
                          timeout=120, encoding="utf-8")
    child.expect(r"Synthesizing\s+\[[#-]*\]\s+\d+%")
    child.expect(r"Writing\s+\[[#-]*\]\s+\d+%")
    child.expect(r"Wrote long\.mp3 \(")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # Piped (CliRunner's output is not a terminal): the result line alone.
    code, out, err = run("render", "pmr-short", "-o", "again.mp3", "--engine", "espeak")
    assert (code, err) == (0, "") and out.startswith("Wrote again.mp3 (") and out.count("\n") == 1


def test_the_id3_tag_relax_writes_is_read_back_by_ffprobe(tmp_path: Path) -> None:
    from relax.formats import Tags
    from relax.id3 import MAX_CHAPTERS, Chapter, id3_tag, prepend_tag

    audio = tmp_path / "tone.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=3", "-id3v2_version", "0",
                    str(audio)], check=True)
    tags = Tags(title="Ruhe – Entspannung für den Rücken", artist="Dr Jo Example", album="relax",
                comment="Zwei Zeilen.\nNicht mehr.", date="2026")
    marks = [Chapter(f"Teil {n} ü", n * 10, n * 10 + 10) for n in range(300)]  # more than a CTOC holds
    prepend_tag(id3_tag(tags, marks), audio, tmp_path / "tagged.mp3")
    found = probe(tmp_path / "tagged.mp3")
    assert found["format"]["tags"] == {"title": tags.title, "artist": "Dr Jo Example", "album": "relax",  # type: ignore[index]
                                       "comment": "Zwei Zeilen.\nNicht mehr.", "genre": "Relaxation", "date": "2026"}
    chapters = found["chapters"]
    assert len(chapters) == MAX_CHAPTERS  # type: ignore[arg-type]
    first = [(c["tags"]["title"], c["start"], c["end"]) for c in chapters[:2]]  # type: ignore[index]
    assert first == [("Teil 0 ü", 0, 10), ("Teil 1 ü", 10, 20)]
