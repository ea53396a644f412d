"""The mixer with real clips from espeak-ng and real ambience beds: layers, ducking, fades, crossfades,
block invariance and the limiter."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from disk import small_disk

from relax.ambience import Bed
from relax.cache import AudioCache
from relax.clips import ClipStore
from relax.mixer import DUCK_ATTACK, DUCK_RELEASE, LIMIT_THRESHOLD, BedChoice, Gains, Mixer, SoundBank, limit, to_pcm
from relax.paths import cache_dir
from relax.pcm import AudioFormat
from relax.expand import plan_for
from relax.plan import CueKind, Plan
from relax.prepare import prepare, settings_for
from relax.publish import OutputError
from relax.render import render_wav
from relax.schedule import Schedule
from relax.sound import session_sound
from relax.stream import Placer

RATE = 22050
ROUTINE = """\
title: Mix
ambience: {sound: rain, volume: 0.5}
steps:
  - say: Let your shoulders drop, and breathe out slowly.
  - pause: 6
  - say: Notice the weight of your arms.
  - pause: 6
  - section: Sea
    ambience: {sound: ocean, volume: 0.25}
    steps:
      - say: Rest here.
      - pause: 8
      - bell: chime
  - say: Well done.
  - pause: 5
"""


def mixer_for(text: str, tmp_path: Path, **sound: object) -> Mixer:
    path = tmp_path / "mix.yaml"
    path.write_text(text)
    plan = plan_for(str(path), voice={"engine": "espeak"})
    settings = settings_for(plan)
    cache = AudioCache(cache_dir())
    prepare([(plan, settings)], cache)
    chosen = session_sound(plan, **sound)  # type: ignore[arg-type]
    beds = chosen.load_beds(cache.root)
    schedule = Schedule(plan, RATE)
    bank = SoundBank()
    Placer(schedule, bank, ClipStore(cache, settings)).all()
    return Mixer(schedule, bank, chosen.format(beds), beds=beds, choice=chosen.choice, gains=chosen.gains)


def whole(mixer: Mixer, gains: Gains | None = None) -> npt.NDArray[np.float32]:
    return mixer.render(0, mixer.schedule.known_frames(), gains)


def rms_db(x: npt.NDArray[np.float32]) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def speech_mask(schedule: Schedule, margin: float) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Frames well inside speech, and frames far (`margin` s) from any speech."""
    total = schedule.known_frames()
    inside = np.zeros(total, dtype=bool)
    near = np.zeros(total, dtype=bool)
    pad = round(margin * RATE)
    for placed in schedule.cues():
        if placed.cue.kind is CueKind.speech:
            inside[placed.start + pad // 4:placed.end - pad // 4] = True
            near[max(0, placed.start - pad):placed.end + pad] = True
    return inside, ~near


def test_with_and_without_a_bed_differ_by_the_ducked_bed_alone(tmp_path: Path) -> None:
    bedded = mixer_for(ROUTINE, tmp_path)
    bare = mixer_for(ROUTINE, tmp_path, ambience="none")
    assert bedded.format == bare.format == AudioFormat(RATE, 1)  # built-in beds are mono
    with_bed = whole(bedded)
    without = whole(bare)
    assert with_bed.shape[0] == without.shape[0]
    difference = with_bed - without
    bed_alone = whole(bedded, Gains(voice=0.0, bells=0.0, ambience=bedded.gains.ambience))
    assert np.allclose(difference, bed_alone, atol=1e-6)
    # And the rendered files (limited, 16-bit) differ by the same bed, to within the limiter's bends.
    pcm = np.frombuffer(to_pcm(with_bed), dtype=np.int16) / 32767
    plain = np.frombuffer(to_pcm(without), dtype=np.int16) / 32767
    assert np.percentile(np.abs(pcm - plain - bed_alone[:, 0]), 99.9) < 0.01
    # Ducked: the bed under speech is at least 6 dB below the bed in the pauses.
    inside, far = speech_mask(bedded.schedule, DUCK_RELEASE + DUCK_ATTACK + 0.2)
    rain = slice(4 * RATE, bedded.schedule.cue(4).start)  # after the fade-in, before the section's crossfade
    under = rms_db(bed_alone[rain][inside[rain]])
    between = rms_db(bed_alone[rain][far[rain]])
    assert between - under >= 6.0, (between, under)


def test_a_stereo_file_makes_a_stereo_session_with_the_voice_in_the_middle(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal((5 * 44100, 2)) * 3000).astype(np.int16)
    sea = tmp_path / "sea.wav"
    with wave.open(str(sea), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(44100)
        writer.writeframes(noise.tobytes())
    mixer = mixer_for("steps:\n  - say: Rest here.\n  - pause: 3\n", tmp_path, ambience=str(sea))
    assert mixer.format == AudioFormat(RATE, 2)
    voice = whole(mixer, Gains(ambience=0.0))
    assert np.array_equal(voice[:, 0], voice[:, 1]) and np.abs(voice).max() > 0.1
    bed = whole(mixer, Gains(voice=0.0, bells=0.0, ambience=1.0))
    assert abs(np.corrcoef(bed[5 * RATE // 2:, 0], bed[5 * RATE // 2:, 1])[0, 1]) < 0.2  # the file's own two sides


def test_bed_fades_in_and_out_and_crossfades_between_sections(tmp_path: Path) -> None:
    mixer = mixer_for(ROUTINE, tmp_path)
    bed = whole(mixer, Gains(voice=0.0, bells=0.0, ambience=1.0))
    total = len(bed)
    assert np.abs(bed[:50]).max() < 1e-3 and np.abs(bed[-50:]).max() < 1e-3  # from and to silence
    assert rms_db(bed[: RATE // 2]) < rms_db(bed[3 * RATE: 4 * RATE]) - 12
    # Away from speech and transitions the bed is exactly its loop (indexed by the session's frame) times
    # its level: the section's volume is half the routine's, so the sea plays at half the rain's gain.
    sea = mixer.schedule.cue(4)
    far = speech_mask(mixer.schedule, DUCK_ATTACK + DUCK_RELEASE + 0.1)[1]
    frames = np.arange(total)
    for sound, level, region in (("rain", 1.0, slice(5 * RATE, sea.start)),
                                 ("ocean", 0.5, slice(sea.start + 4 * RATE, total - 5 * RATE))):
        loop = np.asarray(mixer.beds[sound].samples)
        picked = frames[region][far[region]]
        assert len(picked) > RATE
        assert np.allclose(bed[picked], level * loop[picked % len(loop)], atol=1e-5)
    # No jump anywhere: sample-to-sample steps stay within what the beds themselves do.
    steps = np.abs(np.diff(bed, axis=0)).max()
    own = max(np.abs(np.diff(np.asarray(b.samples), axis=0)).max() for b in mixer.beds.values())
    assert steps <= own * 1.05


def test_starting_at_a_section_fades_the_bed_in_from_there(tmp_path: Path) -> None:
    whole_session = mixer_for(ROUTINE, tmp_path)
    sea = whole_session.schedule.cue(4).start
    mixer = Mixer(whole_session.schedule, whole_session.bank, whole_session.format, beds=whole_session.beds,
                  choice=whole_session.choice, begin=sea)
    gains = Gains(voice=0.0, bells=0.0, ambience=1.0)
    heard = mixer.render(sea, 6 * RATE, gains)
    assert np.abs(heard[:50]).max() < 1e-3  # from silence, not mid-loop at full level
    assert rms_db(heard[: RATE // 2]) < rms_db(heard[4 * RATE: 5 * RATE]) - 12
    steps = np.abs(np.diff(heard, axis=0)).max()
    assert steps <= np.abs(np.diff(np.asarray(mixer.beds["ocean"].samples), axis=0)).max() * 1.05
    # After the fade the bed is the same as in the whole session.
    later = sea + 5 * RATE
    assert np.array_equal(mixer.render(later, RATE, gains), whole_session.render(later, RATE, gains))


def test_blocks_of_any_size_equal_one_whole_render(tmp_path: Path) -> None:
    mixer = mixer_for(ROUTINE, tmp_path)
    total = mixer.schedule.known_frames()
    reference = to_pcm(whole(mixer))
    pieces = []
    start = 0
    sizes = [1, 551, 1102, 4410, 22050 * 3 + 7]
    while start < total:
        size = min(sizes[len(pieces) % len(sizes)], total - start)
        pieces.append(to_pcm(mixer.render(start, size)))
        start += size
    assert b"".join(pieces) == reference


def test_a_stereo_bed_is_mixed_in_each_channel_as_its_mono_twin(tmp_path: Path) -> None:
    # A stereo bed is multiplied by its gain in runs where the gain holds still and a frame at a time across
    # ducking, fades, crossfades and glides; a mono bed always a frame at a time. Both sides of a twin of the
    # session's beds must come out equal to the mono session, sample for sample, whatever the blocks.
    mono = mixer_for(ROUTINE, tmp_path)
    twins = {name: Bed(name, np.repeat(np.asarray(bed.samples), 2, axis=1), bed.rate) for name, bed in mono.beds.items()}
    stereo = Mixer(mono.schedule, mono.bank, AudioFormat(RATE, 2), beds=twins, choice=mono.choice, gains=mono.gains)
    total = mono.schedule.known_frames()
    quiet, loud = Gains(ambience=0.1), Gains(ambience=0.9)
    start, blocks = 0, 0
    sizes = [4410, 22050 * 2, 1, 22050 * 3 + 7, 551]
    while start < total:
        size = min(sizes[blocks % len(sizes)], total - start)
        previous = quiet if blocks % 7 == 3 else None  # now and then a volume key glides the bed
        expected = mono.render(start, size, loud, previous)
        got = stereo.render(start, size, loud, previous)
        assert np.array_equal(got[:, 0], expected[:, 0]) and np.array_equal(got[:, 1], expected[:, 0]), start
        start += size
        blocks += 1
    assert blocks > 30


def test_a_wav_too_big_for_the_disk_fails_before_a_block_is_mixed(tmp_path: Path) -> None:
    # Room for several blocks but not the whole file: written block by block, the render would get blocks in
    # before the disk filled; the space claimed up front refuses it before the first.
    mixer = mixer_for(ROUTINE, tmp_path)
    size = 44 + (mixer.schedule.total_frames() or 0) * 2
    kilobytes = size // 2048
    assert kilobytes * 1024 > 3 * 2 * RATE * 2  # three 2-second blocks fit
    mixed: list[int] = []
    with small_disk(tmp_path / "disk", kilobytes) as disk:
        with pytest.raises(OutputError, match="No space left on device"):
            render_wav(mixer, disk / "s.wav", lambda done, total: mixed.append(done))
        assert list(disk.iterdir()) == []
    assert mixed == []


def test_live_gain_changes_glide_without_a_click(tmp_path: Path) -> None:
    mixer = mixer_for(ROUTINE, tmp_path)
    start = 3 * RATE
    quiet, loud = Gains(voice=0.0, bells=0.0, ambience=0.1), Gains(voice=0.0, bells=0.0, ambience=1.0)
    glide = mixer.render(start, 1102, loud, previous=quiet)
    unit = mixer.render(start, 1102, loud)
    audible = np.abs(unit) > 1e-3
    ratio = glide[audible] / unit[audible]
    expected = np.broadcast_to(np.linspace(0.1, 1.0, 1102, dtype=np.float32)[:, None], unit.shape)[audible]
    assert np.allclose(ratio, expected, atol=1e-4)  # a straight glide from the old gain to the new


def test_limiter_bends_smoothly_and_never_clips() -> None:
    x = np.linspace(-3, 3, 60001, dtype=np.float32)[:, None]
    y = limit(x)
    assert np.array_equal(y[np.abs(x) <= LIMIT_THRESHOLD], x[np.abs(x) <= LIMIT_THRESHOLD])
    assert np.abs(y).max() <= 1.0 and np.abs(y[np.abs(x) < 1.2]).max() < 0.999  # 1.5 dB over: still below full scale
    assert np.all(np.diff(y[:, 0]) >= 0) and np.all(np.diff(y[np.abs(x[:, 0]) < 1.2, 0]) > 0)  # louder in, louder out
    slope = np.diff(y[:, 0]) / np.diff(x[:, 0])
    assert np.abs(np.diff(slope)).max() < 0.01  # no corner at the threshold
    pcm = np.frombuffer(to_pcm(np.array([[2.0], [-2.0]], dtype=np.float32)), dtype=np.int16)
    assert -32767 <= pcm.min() < -30000 and 30000 < pcm.max() <= 32767  # never wraps


def test_a_60_minute_render_with_a_bed_stays_under_150_mb(tmp_path: Path) -> None:
    path = tmp_path / "hour.yaml"
    path.write_text("title: Hour\nambience: ocean\nsteps:\n  - repeat: 60\n    steps:\n"
                    "      - say: Rest.\n      - pause: 60\n")
    out = tmp_path / "hour.wav"
    script = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
              "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", script, sys.executable, "-m", "relax.cli", "render", str(path),
                             "--engine", "espeak", "-o", str(out)], capture_output=True, text=True, timeout=300)
    code, peak_kb = map(int, result.stdout.splitlines()[-1].split())
    assert code == 0, result.stderr
    with wave.open(str(out)) as reader:
        assert reader.getnchannels() == 1 and reader.getnframes() / RATE > 3600
        frames = reader.getnframes()
    assert out.stat().st_size == 44 + frames * 2  # the space claimed up front holds the samples and no more
    assert peak_kb / 1024 < 150, f"peak {peak_kb / 1024:.0f} MB"


def test_bed_choice_precedence(tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text(ROUTINE)
    plan: Plan = plan_for(str(path), voice={"engine": "espeak"})
    from relax.config import Config

    config = Config(ambience="pink", ambience_volume=0.9, bell_volume=0.4)
    routine_wins = session_sound(plan, config)
    assert routine_wins.beds == ("rain", "ocean") and routine_wins.gains == Gains(ambience=0.5, bells=0.4)
    command_wins = session_sound(plan, config, ambience="brown", ambience_volume=0.2, bell_volume=0.7)
    assert command_wins.beds == ("brown",) and command_wins.gains == Gains(ambience=0.2, bells=0.7)
    sea = next(cue for cue in plan.cues if cue.section == ("Sea",))
    assert command_wins.choice.level(sea) == 0.5  # the section stays at half the routine's level
    assert session_sound(plan, config, ambience="none").beds == ()
    (tmp_path / "plain.yaml").write_text("steps: [{say: hi}]\n")
    plain = plan_for(str(tmp_path / "plain.yaml"))
    assert session_sound(plain, config).beds == ("pink",) and session_sound(plain).beds == ()
    assert BedChoice().sounds(plain) == []


def test_a_quiet_section_stays_quiet_whatever_the_command_line_bed(tmp_path: Path) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text("ambience: rain\nsteps:\n  - say: a\n  - section: Talk\n    ambience: none\n    steps: [{say: b}]\n")
    plan = plan_for(str(path))
    for sound in (session_sound(plan), session_sound(plan, ambience="ocean")):
        assert [sound.choice.sound(cue) for cue in plan.cues] == [sound.beds[0], None]
