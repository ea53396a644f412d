"""The session page (`relax render ROUTINE -o session.html`) in a real headless Chromium, driven by Playwright:
it loads with no console errors and no requests, its audio lasts the schedule, a chapter seeks to its start
(by mouse and by keyboard), and the caption shown at a time is the schedule's cue at that time."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, sync_playwright

from relax.cache import AudioCache
from relax.cli import cli
from relax.paths import cache_dir
from relax.expand import plan_for
from relax.prepare import exact_schedule, settings_for
from relax.schedule import Schedule

CHROMIUM = "/usr/bin/chromium"
# As root Chromium needs --no-sandbox; the background-networking flags keep it from calling home (the machine
# has no network, and the test counts requests).
FLAGS = ["--no-sandbox", "--disable-gpu", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
ROUTINE = """\
title: Evening <calm> & rest
author: Dr Jo Example
description: A short wind-down.
safety: |
  Go gently. Stop if it hurts.
  If you feel dizzy, sit down.
steps:
  - section: Arrive
    steps:
      - say: Lie down, and let the floor hold you.
        pause: 2
      - say: Breathe in slowly.
  - section: Release
    steps:
      - say: Let your shoulders drop.
        pause: 1.5
      - section: Hands
        steps:
          - say: Open your hands.
            pause: 1
  - section: Return
    steps:
      - say: Well done. Take your time.
"""
MP3_FRAME = 1152 / 22050


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Schedule]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evening.yaml").write_text(ROUTINE)
    result = CliRunner().invoke(cli, ["render", "evening.yaml", "-o", "evening.html", "--engine", "espeak",
                                      "--chapters", "all"])
    assert result.exit_code == 0, result.output
    plan = plan_for("evening.yaml", voice={"engine": "espeak"})
    return tmp_path / "evening.html", exact_schedule(plan, settings_for(plan), AudioCache(cache_dir()))


def opened(browser: Browser, path: Path, problems: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: None if request.url == path.as_uri() else problems.append(request.url[:80]))
    page.goto(path.as_uri())
    until(page, "document.getElementById('audio').readyState >= 1", 30)
    return page


def until(page: Page, expression: str, seconds: float) -> None:
    """Wait for `expression` to be true in the page, polled from here: the page's policy forbids the eval
    that Playwright's own wait_for_function runs inside it."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {seconds} s: {expression}"
        time.sleep(0.05)


def audio(page: Page, expression: str) -> Any:
    return page.evaluate(f"document.getElementById('audio').{expression}")


def test_the_page_loads_offline_and_its_audio_lasts_the_schedule(browser: Browser, session: tuple[Path, Schedule]) -> None:
    path, schedule = session
    problems: list[str] = []
    page = opened(browser, path, problems)
    assert abs(audio(page, "duration") - schedule.duration) <= MP3_FRAME
    assert page.title() == "Evening <calm> & rest"
    assert page.locator("h1").text_content() == "Evening <calm> & rest"
    assert page.locator(".safety li").all_text_contents() == ["Go gently. Stop if it hurts.", "If you feel dizzy, sit down."]
    assert "Dr Jo Example" in (page.locator(".meta").text_content() or "")
    page.close()
    assert problems == []
    # Nothing outside the file: every source is a data: URI, and the policy allows no other.
    text = path.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:)""", text)
    assert "default-src 'none'" in text


def test_a_chapter_seeks_to_its_start_by_mouse_and_by_keyboard(browser: Browser, session: tuple[Path, Schedule]) -> None:
    path, schedule = session
    problems: list[str] = []
    page = opened(browser, path, problems)
    spans = schedule.sections()
    buttons = page.locator("ol.chapters button")
    assert buttons.count() == len(spans) == 4  # --chapters all: Release / Hands too
    assert buttons.all_text_contents() == [f"{_clock(span.start / schedule.rate)}{span.name}" for span in spans]
    for index in (3, 1):
        buttons.nth(index).click()
        at = audio(page, "currentTime")
        audio(page, "pause()")
        assert spans[index].start / schedule.rate - 0.001 <= at <= spans[index].start / schedule.rate + 0.5
        # The page marks the chapter on the audio's `seeked` event, which may come after the click returns.
        until(page, f"document.querySelectorAll('ol.chapters button')[{index}].getAttribute('aria-current') === 'true'", 5)
    buttons.nth(2).focus()
    page.keyboard.press("Enter")
    at = audio(page, "currentTime")
    audio(page, "pause()")
    assert spans[2].start / schedule.rate - 0.001 <= at <= spans[2].start / schedule.rate + 0.5
    page.close()
    assert problems == []


def test_the_caption_at_a_time_is_the_cue_of_the_schedule_then(browser: Browser, session: tuple[Path, Schedule]) -> None:
    path, schedule = session
    problems: list[str] = []
    page = opened(browser, path, problems)
    spoken = [placed for placed in schedule.cues() if placed.cue.kind.value == "speech"]
    for placed in (spoken[2], spoken[0], spoken[-1]):
        middle = (placed.start + placed.frames / 2) / schedule.rate
        audio(page, f"currentTime = {middle}")
        until(page, f"document.getElementById('caption').textContent === {json.dumps(placed.cue.text)}", 5)
    # In a silence after the words, no caption.
    pause = next(p for p in schedule.cues() if p.cue.kind.value == "silence" and p.frames > schedule.rate)
    audio(page, f"currentTime = {(pause.start + pause.frames / 2) / schedule.rate}")
    until(page, "document.getElementById('caption').textContent === ''", 5)
    page.close()
    assert problems == []


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"
