"""relax.loudness against ffmpeg's ebur128 meter, the numbers BS.1770 publishes, and its own promises."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from relax import loudness
from relax.loudness import SILENCE_LUFS, _high_pass, _high_shelf, _k_weighted_power, gain_for, integrated_loudness

FloatArray = npt.NDArray[np.float64]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

# BS.1770-4, table 1 and 2: the K-weighting at 48 kHz.
PUBLISHED_SHELF = ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585))
PUBLISHED_HIGH_PASS = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))

SENTENCES = [
    "Two.",
    "Breathe in slowly through your nose, and let your shoulders drop.",
    "Now, gently roll your head to the left, hold it there for a moment, and feel the stretch along the side of your neck."
    " Then come back to the center.",
    "Relax your jaw. Let your tongue rest. Notice the weight of your arms, heavy and warm, sinking into the floor beneath"
    " you, as your breathing slows down.",
]
VOICES = {
    "default": ["-v", "en"],
    "high-soft": ["-v", "en-us+f3", "-p", "70", "-a", "60"],
    "low-loud-slow": ["-v", "en+m7", "-p", "30", "-a", "180", "-s", "140"],
}


def write_wav(path: Path, samples: FloatArray, rate: int) -> Path:
    """Write float samples (full scale 1.0), mono or (n, channels), as 16-bit PCM."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as source:
        assert source.getsampwidth() == 2
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.int16)
        channels = source.getnchannels()
        return (data if channels == 1 else data.reshape(-1, channels)), source.getframerate()


def ffmpeg_loudness(path: Path) -> float:
    """Integrated loudness by ffmpeg's ebur128 filter, to the 3 decimals of its frame metadata."""
    graph = "ebur128=framelog=verbose:metadata=1,ametadata=mode=print:key=lavfi.r128.I"
    run = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-af", graph, "-f", "null", "-"],
                         capture_output=True, text=True, check=False)
    # a graph that fails to start still prints a summary, of 0.0 LUFS
    assert run.returncode == 0, run.stderr
    summary = re.findall(r"^\s*I:\s+(-?\d+\.\d) LUFS$", run.stderr, re.M)
    precise = re.findall(r"lavfi\.r128\.I=(-?\d+\.\d+)", run.stderr)
    assert len(summary) == 1 and precise, run.stderr
    assert abs(float(precise[-1]) - float(summary[0])) <= 0.05 + 1e-9
    return float(precise[-1])


def espeak(path: Path, text: str, options: list[str]) -> Path:
    subprocess.run(["espeak-ng", *options, "-w", str(path), text], check=True, capture_output=True)
    return path


def resample_to_48k(path: Path) -> Path:
    target = path.with_name(path.stem + "-48k.wav")
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(path), "-ar", "48000", str(target)], check=True)
    return target


def sine(frequency: float, seconds: float, rate: int, amplitude: float = 1.0) -> FloatArray:
    t = np.arange(round(seconds * rate)) / rate
    wave_: FloatArray = amplitude * np.sin(2 * np.pi * frequency * t)
    return wave_


def noise(seconds: float, rate: int, rms: float, seed: int = 0) -> FloatArray:
    samples: FloatArray = rms * np.random.default_rng(seed).standard_normal(round(seconds * rate))
    return samples


def peak_dbfs(samples: FloatArray) -> float:
    return 20 * math.log10(float(np.max(np.abs(samples))))


def tolerance_against_ffmpeg(rate: int) -> float:
    # At 48 kHz both meters run BS.1770's published filter. At other rates ffmpeg derives its own, keeping the
    # high-pass numerator (1, -2, 1) whose gain grows as the rate falls: it reads ~0.04 LU louder at 22050 Hz.
    return 0.05 if rate == 48000 else 0.2


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, str], Path]:
    """espeak-ng's clip of each sentence in each voice, keyed by (sentence index, voice)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("speech")
    return {(index, voice): espeak(folder / f"{index}-{voice}.wav", text, options)
            for index, text in enumerate(SENTENCES) for voice, options in VOICES.items()}


# -- agreement with ffmpeg ---------------------------------------------------------------------------------------------

@needs_ffmpeg
@needs_espeak
@pytest.mark.parametrize("voice", list(VOICES))
@pytest.mark.parametrize("index", range(len(SENTENCES)))
def test_speech_matches_ffmpeg_at_its_own_rate_and_at_48k(speech: dict[tuple[int, str], Path], index: int, voice: str) -> None:
    native = speech[index, voice]
    samples, rate = read_wav(native)
    assert rate == 22050
    ours, theirs = integrated_loudness(samples, rate), ffmpeg_loudness(native)
    high = resample_to_48k(native)
    high_samples, high_rate = read_wav(high)
    ours_48k, theirs_48k = integrated_loudness(high_samples, high_rate), ffmpeg_loudness(high)
    print(f"{native.name} {len(samples) / rate:.2f} s: ours {ours:.3f} ffmpeg {theirs:.3f}; 48k: {ours_48k:.3f} {theirs_48k:.3f}")
    assert abs(ours - theirs) <= tolerance_against_ffmpeg(rate)
    assert abs(ours_48k - theirs_48k) <= tolerance_against_ffmpeg(high_rate)
    # the same speech reads the same at either rate
    assert abs(ours_48k - ours) <= 0.03


def synthetic(kind: str, rate: int) -> FloatArray:
    seconds = 6.0
    if kind == "sine 1 kHz at -20 dBFS":
        return sine(1000, seconds, rate, 0.1)
    if kind == "sine 100 Hz":
        return sine(100, seconds, rate, 0.3)
    if kind == "white noise":
        return noise(seconds, rate, 0.05)
    if kind == "stereo, 440 Hz left, noise right":
        return np.stack([sine(440, seconds, rate, 0.2), noise(seconds, rate, 0.03, seed=1)], axis=1)
    raise AssertionError(kind)


@needs_ffmpeg
@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("kind", ["sine 1 kHz at -20 dBFS", "sine 100 Hz", "white noise", "stereo, 440 Hz left, noise right"])
def test_synthetic_signals_match_ffmpeg(tmp_path: Path, kind: str, rate: int) -> None:
    path = write_wav(tmp_path / "signal.wav", synthetic(kind, rate), rate)
    samples, _ = read_wav(path)
    ours, theirs = integrated_loudness(samples, rate), ffmpeg_loudness(path)
    print(f"{kind} at {rate} Hz: ours {ours:.3f}, ffmpeg {theirs:.3f}")
    assert abs(ours - theirs) <= tolerance_against_ffmpeg(rate)


# -- known values and the filter -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_full_scale_997_hz_reads_as_bs1770_says(rate: int) -> None:
    tone = sine(997, 5.0, rate)
    assert integrated_loudness(tone, rate) == pytest.approx(-3.01, abs=0.02)
    assert integrated_loudness(np.stack([tone, np.zeros_like(tone)], axis=1), rate) == pytest.approx(-3.01, abs=0.02)
    assert integrated_loudness(np.stack([tone, tone], axis=1), rate) == pytest.approx(0.0, abs=0.02)
    pcm = np.round(tone * 32767).astype(np.int16)
    assert integrated_loudness(pcm, rate) == pytest.approx(integrated_loudness(tone * 32767 / 32768, rate), abs=1e-4)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_minus_20_dbfs_sine_reads_minus_23(rate: int) -> None:
    assert integrated_loudness(sine(1000, 7.0, rate, 0.1), rate) == pytest.approx(-23.01, abs=0.02)


def test_a_rate_where_100_ms_is_not_a_whole_number_of_samples() -> None:
    """At 11025 Hz the hops alternate between 1102 and 1103 samples; gating still sees 400 ms blocks."""
    rate = 11025
    tone = sine(100, 3.0, rate, 0.1)
    assert integrated_loudness(tone, rate) == pytest.approx(integrated_loudness(sine(100, 3.0, 48000, 0.1), 48000), abs=0.01)
    padded = np.concatenate([np.zeros(5 * rate), tone, np.zeros(5 * rate)])
    assert integrated_loudness(padded, rate) == pytest.approx(integrated_loudness(tone, rate) + 10 * math.log10(30 / 33), abs=0.01)


def test_coefficients_at_48k_are_the_published_ones() -> None:
    shelf_b, shelf_a = _high_shelf(48000, gain_db=4.0, frequency=1500.0, q=1 / math.sqrt(2))
    assert shelf_b == pytest.approx(PUBLISHED_SHELF[0], abs=1.5e-4)
    assert shelf_a == pytest.approx(PUBLISHED_SHELF[1], abs=1.5e-4)
    _, pass_a = _high_pass(48000, frequency=38.0, q=0.5)
    assert pass_a == pytest.approx(PUBLISHED_HIGH_PASS[1], abs=1e-4)


def response_db(coefficients: tuple[tuple[float, ...], tuple[float, ...]], frequencies: FloatArray, rate: int) -> FloatArray:
    b, a = coefficients
    z = np.exp(-2j * np.pi * frequencies / rate)
    magnitude: FloatArray = 20 * np.log10(np.abs(np.polyval(b[::-1], z) / np.polyval(a[::-1], z)))
    return magnitude


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_k_weighting_at_any_rate_is_bs1770s(rate: int) -> None:
    frequencies = np.array([30, 50, 100, 200, 500, 1000, 1500, 2000, 3000, 5000, 8000, 10000], dtype=float)
    published = response_db(PUBLISHED_SHELF, frequencies, 48000) + response_db(PUBLISHED_HIGH_PASS, frequencies, 48000)
    ours = np.empty_like(frequencies)
    for i, frequency in enumerate(frequencies):
        # a whole number of cycles, once the filter has settled: the mean power of a sine is exactly half
        power = _k_weighted_power(sine(frequency, 1.5, rate)[:, np.newaxis], rate)[rate // 2: rate // 2 + rate]
        ours[i] = 10 * math.log10(float(np.mean(power)) / 0.5)
    # pyloudnorm's analog parameters stray up to 0.04 dB from the published high-pass under 100 Hz, and the
    # bilinear transform bends the shelf by up to 0.03 dB at 22050 Hz
    tolerance = np.where(frequencies < 100, 0.05, 0.01 if rate == 48000 else 0.04)
    assert np.all(np.abs(ours - published) <= tolerance), (ours - published).round(4)


def k_weighting_biquads(rate: int) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    high_pass_b, high_pass_a = _high_pass(rate, frequency=38.0, q=0.5)
    gain = 1 / _high_pass(48000, frequency=38.0, q=0.5)[0][0]  # the published numerator is (1, -2, 1) at 48 kHz
    return [_high_shelf(rate, gain_db=4.0, frequency=1500.0, q=1 / math.sqrt(2)), (tuple(gain * c for c in high_pass_b), high_pass_a)]


def direct_k_weighting(x: FloatArray, rate: int) -> FloatArray:
    """Both biquads run sample by sample, the textbook way, from rest."""
    out = x
    for b, a in k_weighting_biquads(rate):
        y = np.zeros_like(out)
        x1 = x2 = y1 = y2 = 0.0
        for i, value in enumerate(out.tolist()):
            result = b[0] * value + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            x2, x1, y2, y1 = x1, value, y1, result
            y[i] = result
        out = y
    return out


@pytest.mark.parametrize("group", [None, 1 << 13, 1 << 14], ids=["default groups", "1 segment a group", "2 segments a group"])
@pytest.mark.parametrize("seconds", [0.05, 0.3, 4.0])
def test_frequency_domain_filter_equals_the_recursion(seconds: float, group: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """4 s at 8 kHz spans five overlap-added segments of 8192 samples; a click near the end would wrap around onto the
    start if the padding were short."""
    if group is not None:
        monkeypatch.setattr(loudness, "_GROUP_SAMPLES", group)
    rate = 8000
    x = np.stack([noise(seconds, rate, 0.2, seed=2), sine(300, seconds, rate, 0.5)], axis=1)
    x[-3:, 0] = 1.0
    expected = direct_k_weighting(x[:, 0], rate) ** 2 + direct_k_weighting(x[:, 1], rate) ** 2
    assert _k_weighted_power(x, rate) == pytest.approx(expected, rel=1e-9, abs=1e-12)


# -- short inputs --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("frequency", [100.0, 1000.0])
def test_a_short_sine_reads_as_a_long_one(rate: int, frequency: float) -> None:
    short = integrated_loudness(sine(frequency, 0.3, rate, 0.1), rate)
    assert math.isfinite(short)
    assert short == pytest.approx(integrated_loudness(sine(frequency, 10.0, rate, 0.1), rate), abs=0.1)


@pytest.mark.parametrize("seconds", [0.05, 0.3, 0.399])
def test_short_noise_reads_as_itself_repeated(seconds: float) -> None:
    rate = 22050
    clip = noise(seconds, rate, 0.1, seed=5)
    short = integrated_loudness(clip, rate)
    assert math.isfinite(short)
    assert short == pytest.approx(integrated_loudness(np.tile(clip, round(10 / seconds)), rate), abs=0.1)


def test_the_short_rule_joins_the_block_rule_at_400_ms() -> None:
    rate = 22050
    clip = noise(0.5, rate, 0.1, seed=6)
    just_short = integrated_loudness(clip[: round(0.4 * rate) - 1], rate)
    one_block = integrated_loudness(clip[: round(0.4 * rate)], rate)
    assert just_short == pytest.approx(one_block, abs=0.01)


@needs_espeak
def test_a_single_short_word_gets_a_sensible_loudness(speech: dict[tuple[int, str], Path]) -> None:
    samples, rate = read_wav(speech[0, "default"])  # "Two."
    sounding = np.flatnonzero(np.abs(samples) > 100)
    word = samples[sounding[0]: sounding[-1] + 1]
    assert len(word) < 0.4 * rate
    loudness = integrated_loudness(word, rate)
    assert math.isfinite(loudness)
    assert loudness == pytest.approx(integrated_loudness(np.tile(word, 30), rate), abs=0.1)


# -- gating and silence --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("samples", [
    np.zeros(0),
    np.zeros(100),
    np.zeros(22050 * 5),
    np.zeros((22050 * 5, 2), dtype=np.int16),
    noise(5.0, 22050, 10 ** (-85 / 20)),  # every block under the -70 LUFS gate
], ids=["empty", "short", "long", "stereo int16", "-85 dBFS noise"])
def test_silence_and_fully_gated_input(samples: FloatArray) -> None:
    assert integrated_loudness(samples, 22050) == SILENCE_LUFS
    assert gain_for(samples, 22050, -16.0) == 1.0


@pytest.mark.parametrize("seconds", [1.0, 5.0, 60.0])
def test_silence_around_a_sound_does_not_count(seconds: float) -> None:
    """Only the 27 blocks inside the 3 s tone and the 6 that straddle its edges count, however long the silence."""
    rate = 22050
    tone = sine(1000, 3.0, rate, 0.1)
    padded = np.concatenate([np.zeros(round(seconds * rate)), tone, np.zeros(round(seconds * rate))])
    straddling = 2 * (0.25 + 0.5 + 0.75)
    expected = integrated_loudness(tone, rate) + 10 * math.log10((27 + straddling) / 33)
    assert integrated_loudness(padded, rate) == pytest.approx(expected, abs=0.01)


def test_the_relative_gate_drops_what_is_10_lu_under() -> None:
    """5 s at -23 LUFS then 5 s at -43: the 47 loud blocks and the 3 that straddle the change are all that count."""
    rate = 48000
    loud, quiet = sine(1000, 5.0, rate, 0.1), sine(1000, 5.0, rate, 0.01)
    level = integrated_loudness(loud, rate)
    straddling = sum(f + (1 - f) * 0.01 for f in (0.75, 0.5, 0.25))
    expected = level + 10 * math.log10((47 + straddling) / 50)
    assert integrated_loudness(np.concatenate([loud, quiet]), rate) == pytest.approx(expected, abs=0.01)
    # without the relative gate every block of the quiet half would pull it down by about 3 LU
    assert expected - (level + 10 * math.log10((47 + straddling + 47 * 0.01) / 97)) > 2.5


# -- gain_for ------------------------------------------------------------------------------------------------------------

@needs_espeak
@pytest.mark.parametrize("voice", list(VOICES))
@pytest.mark.parametrize("target", [-30.0, -23.0])
def test_gain_brings_speech_to_the_target(speech: dict[tuple[int, str], Path], voice: str, target: float) -> None:
    samples, rate = read_wav(speech[1, voice])
    gain = gain_for(samples, rate, target)
    normalized = samples / 32768 * gain
    assert peak_dbfs(normalized) < -1.0  # the ceiling did not bind
    assert integrated_loudness(normalized, rate) == pytest.approx(target, abs=0.1)


@needs_espeak
@pytest.mark.parametrize("ceiling", [-1.0, -6.0])
def test_a_binding_ceiling_puts_the_peak_on_it(speech: dict[tuple[int, str], Path], ceiling: float) -> None:
    samples, rate = read_wav(speech[2, "default"])
    target = -5.0  # speech peaks some 15 dB over its loudness, so this cannot fit under the ceiling
    normalized = samples / 32768 * gain_for(samples, rate, target, ceiling_dbfs=ceiling)
    assert peak_dbfs(normalized) == pytest.approx(ceiling, abs=0.01)
    assert integrated_loudness(normalized, rate) < target - 1.0


def test_gain_for_float_and_int16_agree() -> None:
    rate = 22050
    pcm = np.round(noise(2.0, rate, 0.05, seed=7) * 32767).astype(np.int16)
    assert gain_for(pcm, rate, -20.0) == pytest.approx(gain_for(pcm / 32768, rate, -20.0), rel=1e-9)
    assert gain_for(pcm.astype(np.float32) / 32768, rate, -20.0) == pytest.approx(gain_for(pcm, rate, -20.0), rel=1e-5)


# -- bad input -----------------------------------------------------------------------------------------------------------

def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError):
        integrated_loudness(np.zeros(100, dtype=np.int32), 22050)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        integrated_loudness(np.zeros((10, 2, 2)), 22050)
    with pytest.raises(ValueError):
        integrated_loudness(np.array([0.0, math.nan]), 22050)
    with pytest.raises(ValueError):
        integrated_loudness(np.zeros(100), 0)
