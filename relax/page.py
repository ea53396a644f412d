"""A session page: one self-contained HTML file with the audio, its captions, the safety note and a chapter
list that seeks, for a client to open on a phone. Nothing is fetched: the audio and captions are data: URIs
inside the file, and its Content-Security-Policy forbids any other source."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from typing import IO

import relax
from relax.duration import format_duration
from relax.schedule import Schedule
from relax.transcript import captions, chapters, milliseconds, to_vtt

AUDIO_MIME = "audio/mpeg"
"""mp3: the one compressed format every phone's browser plays."""
_CHUNK = 3 * 2**20
"""Bytes of audio encoded at a time: a multiple of 3, so the base64 pieces join into one."""

_STYLE = """
:root { color-scheme: light dark; --accent: #2f6f5e; --muted: #5c6b66; --line: #d5dedb; --soft: #eef4f2; }
@media (prefers-color-scheme: dark) { :root { --accent: #8fd1bd; --muted: #a8b5b0; --line: #3a4744; --soft: #1d2725; } }
* { box-sizing: border-box; }
body { margin: 0; font: 1.125rem/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 40rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.75rem; line-height: 1.25; margin: 0.5rem 0; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 0.5rem; }
.meta { color: var(--muted); margin: 0; }
.safety { border-left: 0.3rem solid var(--accent); background: var(--soft); padding: 0.25rem 1rem; border-radius: 0.3rem; }
.safety ul { padding-left: 1.1rem; }
audio { width: 100%; margin-top: 1rem; }
.caption { min-height: 3.4em; font-size: 1.35rem; margin: 0.75rem 0; }
ol.chapters { list-style: none; padding: 0; margin: 0; }
ol.chapters button { display: flex; gap: 0.75rem; width: 100%; text-align: left; font: inherit; color: inherit;
  background: none; border: 0; border-bottom: 1px solid var(--line); padding: 0.7rem 0.25rem; cursor: pointer; }
ol.chapters button[aria-current="true"] { font-weight: 600; color: var(--accent); }
button:focus-visible { outline: 0.2rem solid var(--accent); outline-offset: 0.1rem; }
.time { font-variant-numeric: tabular-nums; color: var(--muted); min-width: 3.5rem; }
ol.transcript { padding-left: 0; list-style: none; }
ol.transcript li { margin: 0.4rem 0; }
ol.transcript li.current { color: var(--accent); }
footer { color: var(--muted); font-size: 0.9rem; margin-top: 2.5rem; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var audio = document.getElementById("audio");
  var shown = document.getElementById("caption");
  var track = audio.textTracks[0];
  var buttons = Array.prototype.slice.call(document.querySelectorAll("ol.chapters button"));
  var lines = Array.prototype.slice.call(document.querySelectorAll("ol.transcript li"));
  track.mode = "hidden";
  track.addEventListener("cuechange", function () {
    var active = track.activeCues;
    shown.textContent = active && active.length ? active[active.length - 1].text : "";
  });
  function mark() {
    var now = audio.currentTime, current = null;
    buttons.forEach(function (button) { if (parseFloat(button.dataset.start) <= now + 0.001) { current = button; } });
    buttons.forEach(function (button) { button.setAttribute("aria-current", button === current ? "true" : "false"); });
    lines.forEach(function (line) {
      var on = parseFloat(line.dataset.start) <= now && now < parseFloat(line.dataset.end);
      line.classList.toggle("current", on);
    });
  }
  audio.addEventListener("timeupdate", mark);
  audio.addEventListener("seeked", mark);
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      audio.currentTime = parseFloat(button.dataset.start);
      var played = audio.play();
      if (played && played.catch) { played.catch(function () {}); }
    });
  });
  mark();
}());
"""


def _seconds(frames: int, rate: int) -> str:
    return f"{frames / rate:.3f}"


def _head(schedule: Schedule) -> str:
    plan = schedule.plan
    title = html.escape(plan.title)
    meta = [format_duration(schedule.duration)] + ([f"by {html.escape(plan.author)}"] if plan.author else [])
    safety = "".join(f"<li>{html.escape(line)}</li>" for line in plan.safety.splitlines() if line.strip())
    parts = [
        "<!doctype html>",
        f'<html lang="{html.escape(plan.language or "en", quote=True)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; media-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f'<meta name="generator" content="relax {relax.__version__}">',
        f"<title>{title}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<header><h1>{title}</h1><p class=\"meta\">{' · '.join(meta)}</p>",
        f"<p>{html.escape(plan.description)}</p>" if plan.description else "",
        "</header>",
    ]
    if safety:
        parts.append(f'<section class="safety" aria-labelledby="safety-title"><h2 id="safety-title">Before you start'
                     f"</h2><ul>{safety}</ul></section>")
    parts += ['<section aria-label="Listen">', f'<audio id="audio" controls preload="metadata" aria-label="{title}, the session" src="data:'
              f'{AUDIO_MIME};base64,']
    return "\n".join(part for part in parts if part)


def _tail(schedule: Schedule, nested: bool) -> str:
    plan = schedule.plan
    rate = schedule.rate
    vtt = base64.b64encode(to_vtt(schedule, nested).encode("utf-8")).decode("ascii")
    language = html.escape(plan.language or "en", quote=True)
    spans = chapters(schedule, nested)
    chapter_items = "".join(
        f'<li><button type="button" data-start="{_seconds(span.start, rate)}" aria-current="false">'
        f'<span class="time">{format_duration(span.start / rate)}</span><span>{html.escape(span.name)}</span>'
        "</button></li>"
        for span in spans)
    lines = "".join(
        f'<li data-start="{c.start / 1000:.3f}" data-end="{c.end / 1000:.3f}"><span class="time">'
        f"{format_duration(c.start / 1000)}</span> {html.escape(c.text)}</li>"
        for c in captions(schedule))
    parts = [
        f'"><track kind="captions" label="Captions" srclang="{language}" default src="data:text/vtt;base64,{vtt}">',
        "Your browser cannot play this audio.</audio>",
        '<p id="caption" class="caption" aria-live="polite"></p>',
        "</section>",
    ]
    if spans:
        parts.append(f'<nav aria-labelledby="chapters-title"><h2 id="chapters-title">Chapters</h2>'
                     f'<ol class="chapters">{chapter_items}</ol></nav>')
    parts += [
        f'<details><summary>The whole script</summary><ol class="transcript">{lines}</ol></details>',
        f"<footer>Made with relax {html.escape(relax.__version__)}. Total "
        f"{format_duration(milliseconds(schedule.known_frames(), rate) / 1000)}.</footer>",
        "</main>",
        # The data for the script is in the markup (data-start), so no JSON needs escaping inside <script>.
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _base64_pieces(audio: IO[bytes]) -> Iterator[bytes]:
    while piece := audio.read(_CHUNK):
        yield base64.b64encode(piece)


def write_page(schedule: Schedule, audio: IO[bytes], out: IO[bytes], nested: bool = False) -> None:
    """The page of `schedule` into `out`, with the mp3 read from `audio` embedded a piece at a time."""
    out.write(_head(schedule).encode("utf-8"))
    for piece in _base64_pieces(audio):
        out.write(piece)
    out.write(_tail(schedule, nested).encode("utf-8"))
