"""Ambience beds: real synthesis, real ffmpeg-encoded files and real cache files."""

from __future__ import annotations

import builtins
import os
import shutil
import struct
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from relax import ambience
from relax.ambience import BED_RMS_DBFS, BUILTIN_BEDS, LOOP_SECONDS, AmbienceError, Bed, load_bed, synthesize_bed

RATE = 22050
NAMES = ["brown", "pink", "rain", "ocean", "drone"]
NOISE_BEDS = ["brown", "pink", "rain", "ocean"]
FILE_RATE = 44100
FILE_SECONDS = 10.0
ENVELOPE_SECONDS = 0.25


@pytest.fixture(scope="module")
def beds() -> dict[str, npt.NDArray[np.float32]]:
    return {name: synthesize_bed(name, RATE) for name in NAMES}


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def rms_dbfs(samples: npt.NDArray[Any]) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2))))


def seam_is_hidden(samples: npt.NDArray[Any]) -> bool:
    """The jump from the last frame round to the first is no bigger than the 99.9th percentile of steps inside, per channel."""
    x = np.asarray(samples, dtype=np.float64)
    inner = np.percentile(np.abs(np.diff(x, axis=0)), 99.9, axis=0)
    return bool(np.all(np.abs(x[0] - x[-1]) <= inner))


def circular_autocorrelation(signal: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Normalized autocorrelation of one channel played as a loop, at every lag (index = lag in samples)."""
    centred = np.asarray(signal, dtype=np.float64) - np.mean(signal)
    power = np.abs(np.fft.rfft(centred)) ** 2
    correlation = np.fft.irfft(power, n=centred.size)
    return np.asarray(correlation / correlation[0])


def envelope(samples: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """RMS per quarter second per channel: how loud the bed is, moment to moment."""
    x = np.asarray(samples, dtype=np.float64)
    window = int(ENVELOPE_SECONDS * RATE)
    count = x.shape[0] // window
    return np.asarray(np.sqrt(np.mean((x[: count * window] ** 2).reshape(count, window, -1), axis=1)))


def worst_repeat(samples: npt.NDArray[Any], lowest: float, highest: float = 60.0) -> tuple[float, float]:
    """The largest waveform and envelope self-similarity at lags between `lowest` and `highest` seconds.

    A loop that repeats a shorter pattern matches itself at that pattern's length: 1.0 there.
    """
    shifts = slice(int(lowest * RATE), int(highest * RATE) + 1)
    waveform = max(float(np.max(np.abs(circular_autocorrelation(channel)[shifts]))) for channel in samples.T)
    levels = envelope(samples)
    lags = slice(int(lowest / ENVELOPE_SECONDS), int(highest / ENVELOPE_SECONDS) + 1)
    loudness = max(float(np.max(circular_autocorrelation(channel)[lags])) for channel in levels.T)
    return waveform, loudness


def one_line_error(spec: str, rate: int, cache_root: Path) -> str:
    with pytest.raises(AmbienceError) as caught:
        load_bed(spec, rate, cache_root)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return message


def bed_files(cache_root: Path) -> list[Path]:
    folder = cache_root / "beds"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- built-in beds ---------------------------------------------------------------------------------


def test_builtin_beds_are_listed_in_order_with_one_line_descriptions() -> None:
    assert [info.name for info in BUILTIN_BEDS] == NAMES
    for info in BUILTIN_BEDS:
        assert info.description and "\n" not in info.description and len(info.description) < 60


def test_a_loop_is_long_enough_not_to_be_noticed() -> None:
    assert LOOP_SECONDS >= 60


@pytest.mark.parametrize("name", NAMES)
def test_builtin_bed_is_a_clean_stereo_loop_at_bed_level(name: str, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    samples = beds[name]
    assert samples.shape == (round(LOOP_SECONDS * RATE), 2)
    assert samples.dtype == np.float32
    assert np.isfinite(samples).all()
    assert np.max(np.abs(samples)) < 1.0
    assert abs(rms_dbfs(samples) - BED_RMS_DBFS) < 0.5
    assert np.all(np.abs(samples.mean(axis=0, dtype=np.float64)) < 1e-4), "DC offset"
    assert abs(np.corrcoef(samples[:, 0], samples[:, 1])[0, 1]) < 0.5, "channels should be decorrelated"


@pytest.mark.parametrize("name", NAMES)
def test_builtin_bed_is_deterministic(name: str, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    assert np.array_equal(synthesize_bed(name, RATE), beds[name])


@pytest.mark.parametrize("name", NAMES)
def test_builtin_bed_loops_without_a_seam(name: str, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    assert seam_is_hidden(beds[name])


@pytest.mark.parametrize("name", NAMES)
def test_the_seam_check_catches_a_loop_cut_in_the_wrong_place(name: str, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    # Cut the loop short where, during the 61st second, it is furthest from where it starts: a real seam.
    samples = beds[name]
    second = samples[60 * RATE: 61 * RATE, 0]
    end = 60 * RATE + int(np.argmax(np.abs(second - samples[0, 0])))
    assert not seam_is_hidden(samples[: end + 1])


@pytest.mark.parametrize("name", NOISE_BEDS)
def test_noise_beds_never_repeat_their_waveform_within_a_minute(name: str, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    # Independent noise matches itself at no lag; a tiled chunk would score 1.0 at its length.
    waveform, _ = worst_repeat(beds[name], lowest=1.0)
    assert waveform < 0.1


@pytest.mark.parametrize("name", NAMES)
def test_no_bed_repeats_its_rise_and_fall_within_a_minute(name: str, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    # Loudness changes slowly (swells, gusts, breathing), so it resembles itself over a few seconds; past 5 s,
    # a pattern repeating within the minute would match itself fully (1.0). The drone is tonal, so its
    # waveform repeats every cycle by nature: its slow evolution is what must not.
    _, loudness = worst_repeat(beds[name], lowest=5.0)
    assert loudness < 0.8


def test_the_repeat_checks_catch_a_loop_made_of_a_repeated_chunk(beds: dict[str, npt.NDArray[np.float32]]) -> None:
    tiled = np.tile(beds["ocean"][: 30 * RATE], (3, 1))
    waveform, loudness = worst_repeat(tiled, lowest=5.0)
    assert waveform > 0.99 and loudness > 0.99


def test_ocean_swells_arrive_irregularly_6_to_14_seconds_apart(beds: dict[str, npt.NDArray[np.float32]]) -> None:
    level = envelope(beds["ocean"]).mean(axis=1)
    # Smooth over 2 s, round the loop, then take each swell's crest: the loudest moment within 3 s either side.
    half = int(1.0 / ENVELOPE_SECONDS)
    padded = np.concatenate((level[-half:], level, level[:half]))
    smooth = np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")
    reach = int(3.0 / ENVELOPE_SECONDS)
    crests = [i for i in range(smooth.size) if smooth[i] == max(smooth[(i + j) % smooth.size] for j in range(-reach, reach + 1))]
    gaps = np.diff(crests + [crests[0] + smooth.size]) * ENVELOPE_SECONDS
    assert 6 <= len(crests) <= 15
    assert np.all((gaps >= 5.0) & (gaps <= 15.0)), gaps
    assert np.ptp(gaps) >= 2.0, f"swells are too regular: {gaps}"


def test_synthesis_of_an_unknown_bed_names_the_built_ins() -> None:
    with pytest.raises(AmbienceError, match="unknown ambience 'forest'"):
        synthesize_bed("forest", RATE)


# --- the user's own files --------------------------------------------------------------------------


def write_wav(path: Path, samples: npt.NDArray[Any], rate: int = FILE_RATE) -> Path:
    """16-bit PCM from float samples (frames, channels)."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(samples.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm.tobytes())
    return path


def read_wav(path: Path) -> npt.NDArray[np.float64]:
    with wave.open(str(path), "rb") as reader:
        channels = reader.getnchannels()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return pcm.reshape(-1, channels) / 32768.0


def broken_loop(seconds: float = FILE_SECONDS, channels: int = 2) -> npt.NDArray[np.float64]:
    """A 220 Hz tone (each channel its own phase) plus soft noise, ending a quarter cycle away from where it starts."""
    t = np.arange(round(seconds * FILE_RATE)) / FILE_RATE
    frequency = (round(220 * seconds) + 0.25) / seconds
    noise = np.random.default_rng(5).normal(0.0, 0.02, (t.size, channels))
    return np.stack([0.4 * np.sin(2 * np.pi * frequency * t + channel) for channel in range(channels)], axis=1) + noise


def encode(source: Path, target: Path, *options: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *options, str(target)], check=True, stdin=subprocess.DEVNULL)
    return target


@pytest.fixture
def stereo_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", broken_loop())


def test_the_raw_file_has_a_seam_that_the_loaded_loop_hides(stereo_wav: Path, cache_root: Path) -> None:
    assert not seam_is_hidden(read_wav(stereo_wav))
    assert seam_is_hidden(load_bed(str(stereo_wav), RATE, cache_root).samples)


ENCODINGS = {
    "wav": (),
    "flac": (),
    "mp3": ("-b:a", "128k"),
    "ogg": ("-c:a", "libvorbis", "-q:a", "4"),
    "m4a": ("-c:a", "aac", "-b:a", "128k"),
}


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("suffix", list(ENCODINGS))
def test_a_file_in_any_format_becomes_a_loop_at_the_session_rate(suffix: str, channels: int, tmp_path: Path, cache_root: Path) -> None:
    source = write_wav(tmp_path / "source.wav", broken_loop(channels=channels))
    path = source if suffix == "wav" else encode(source, tmp_path / f"sea.{suffix}", *ENCODINGS[suffix])
    bed = load_bed(str(path), RATE, cache_root)
    assert isinstance(bed, Bed)
    assert (bed.name, bed.rate, bed.channels) == (path.name, RATE, channels)
    assert bed.samples.dtype == np.float32 and bed.samples.ndim == 2
    assert not bed.samples.flags.writeable
    # The loop is the file less the 2 s that were faded into its start; lossy encoders may pad a few ms.
    assert abs(bed.samples.shape[0] / RATE - (FILE_SECONDS - 2.0)) < 0.03
    assert abs(rms_dbfs(bed.samples) - BED_RMS_DBFS) < 0.1
    assert seam_is_hidden(bed.samples)


def test_a_short_file_crossfades_over_a_quarter_of_its_length(tmp_path: Path, cache_root: Path) -> None:
    path = write_wav(tmp_path / "short.wav", broken_loop(seconds=4.0, channels=1))
    bed = load_bed(str(path), RATE, cache_root)
    assert bed.samples.shape == (3 * RATE, 1)
    assert seam_is_hidden(bed.samples)


def test_more_than_two_channels_are_folded_to_stereo(tmp_path: Path, cache_root: Path) -> None:
    source = write_wav(tmp_path / "source.wav", broken_loop(seconds=3.0, channels=1))
    path = encode(source, tmp_path / "surround.flac", "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0")
    bed = load_bed(str(path), RATE, cache_root)
    assert bed.channels == 2
    assert abs(rms_dbfs(bed.samples) - BED_RMS_DBFS) < 0.1


def test_a_peaky_file_is_kept_below_full_scale_rather_than_clipped(tmp_path: Path, cache_root: Path) -> None:
    clicks = np.zeros((3 * FILE_RATE, 1))
    clicks[:: FILE_RATE // 2] = 0.9
    clicks += np.random.default_rng(1).normal(0.0, 0.001, clicks.shape)
    bed = load_bed(str(write_wav(tmp_path / "clicks.wav", clicks)), RATE, cache_root)
    assert np.max(np.abs(bed.samples)) <= ambience.PEAK_CEILING + 1e-6
    assert rms_dbfs(bed.samples) < BED_RMS_DBFS


# --- the cache -------------------------------------------------------------------------------------


def test_a_file_is_decoded_once_then_served_from_the_cache(stereo_wav: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_bed(str(stereo_wav), RATE, cache_root)
    [entry] = bed_files(cache_root)

    def no_ffmpeg(*args: object, **kwargs: object) -> None:
        raise AssertionError("ffmpeg ran for a cached bed")

    monkeypatch.setattr(subprocess, "Popen", no_ffmpeg)
    monkeypatch.setattr(ambience, "_media_info", no_ffmpeg)
    second = load_bed(str(stereo_wav), RATE, cache_root)
    assert isinstance(second.samples, np.memmap) and Path(str(second.samples.filename)) == entry
    assert np.array_equal(first.samples, second.samples)
    assert bed_files(cache_root) == [entry]


def test_a_changed_file_or_rate_is_decoded_again(stereo_wav: Path, cache_root: Path) -> None:
    load_bed(str(stereo_wav), RATE, cache_root)
    load_bed(str(stereo_wav), 16000, cache_root)
    write_wav(stereo_wav, broken_loop() * 0.5)
    load_bed(str(stereo_wav), RATE, cache_root)
    assert len(bed_files(cache_root)) == 3


def test_a_builtin_bed_is_synthesized_once_then_served_from_the_cache(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch, beds: dict[str, npt.NDArray[np.float32]]
) -> None:
    first = load_bed("rain", RATE, cache_root)
    assert np.array_equal(first.samples, beds["rain"][:, :1])

    def no_synthesis(*args: object) -> None:
        raise AssertionError("synthesized a cached bed")

    monkeypatch.setattr(ambience, "synthesize_bed", no_synthesis)
    second = load_bed("Rain", RATE, cache_root)
    assert (second.name, second.channels, second.rate) == ("rain", 1, RATE)
    assert np.array_equal(second.samples, beds["rain"][:, :1])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: os.truncate(path, path.stat().st_size // 2), id="truncated"),
        pytest.param(lambda path: os.truncate(path, 40), id="truncated-header"),
        pytest.param(lambda path: path.write_bytes(b"not a numpy file at all"), id="garbage"),
        pytest.param(lambda path: np.save(path, np.zeros((10, 2), np.float32)), id="wrong-shape"),
        pytest.param(lambda path: np.save(path, np.zeros((round(LOOP_SECONDS * RATE), 1), np.float64)), id="wrong-dtype"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes() + b"extra"), id="too-long"),
    ],
)
def test_a_damaged_cache_entry_is_rebuilt(damage: Any, cache_root: Path, beds: dict[str, npt.NDArray[np.float32]]) -> None:
    load_bed("brown", RATE, cache_root)
    [entry] = bed_files(cache_root)
    size = entry.stat().st_size
    damage(entry)
    bed = load_bed("brown", RATE, cache_root)
    assert np.array_equal(bed.samples, beds["brown"][:, :1])
    assert bed_files(cache_root) == [entry] and entry.stat().st_size == size


def test_a_damaged_file_entry_is_rebuilt(stereo_wav: Path, cache_root: Path) -> None:
    first = np.array(load_bed(str(stereo_wav), RATE, cache_root).samples)
    [entry] = bed_files(cache_root)
    os.truncate(entry, entry.stat().st_size - 4)
    assert np.array_equal(load_bed(str(stereo_wav), RATE, cache_root).samples, first)


def test_no_temp_file_is_left_behind_even_when_decoding_fails(stereo_wav: Path, tmp_path: Path, cache_root: Path) -> None:
    load_bed(str(stereo_wav), RATE, cache_root)
    load_bed("pink", RATE, cache_root)
    silent = write_wav(tmp_path / "silent.wav", np.zeros((2 * FILE_RATE, 1)))
    one_line_error(str(silent), RATE, cache_root)
    names = [path.name for path in bed_files(cache_root)]
    assert len(names) == 2 and not any(name.startswith(ambience.TEMP_PREFIX) for name in names)


def test_a_cache_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    assert one_line_error("ocean", RATE, blocker) == f"cannot use the ambience cache folder {blocker / 'beds'}: Not a directory"


# --- what goes wrong, each in one line -------------------------------------------------------------


def test_an_unknown_name_lists_the_built_ins(cache_root: Path) -> None:
    expected = "unknown ambience 'forest' (built-in: brown, pink, rain, ocean, drone; or give a path to an audio file)"
    assert one_line_error("forest", RATE, cache_root) == expected


def test_names_are_case_insensitive(cache_root: Path) -> None:
    assert load_bed("OCEAN", RATE, cache_root).name == "ocean"


@pytest.mark.parametrize("spec", ["forest.mp3", "./forest", "sounds/forest"])
def test_a_spec_with_a_suffix_or_a_slash_is_a_path(spec: str, cache_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert one_line_error(spec, RATE, cache_root) == f"{spec}: no such file"


def test_an_existing_file_is_a_path_even_without_a_suffix(tmp_path: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "brown", broken_loop(seconds=3.0, channels=1))
    bed = load_bed("brown", RATE, cache_root)
    assert (bed.name, bed.channels) == ("brown", 1)


def test_a_missing_file(tmp_path: Path, cache_root: Path) -> None:
    path = tmp_path / "sea.mp3"
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: no such file"


def test_a_file_name_with_a_newline_is_shown_escaped(tmp_path: Path, cache_root: Path) -> None:
    path = tmp_path / "sea\nside.mp3"
    assert one_line_error(str(path), RATE, cache_root) == f"{str(path)!r}: no such file"


def test_a_folder(tmp_path: Path, cache_root: Path) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    assert one_line_error(str(folder), RATE, cache_root) == f"{folder}: is a folder, not an audio file"


def test_an_unreadable_file(stereo_wav: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, for whom chmod does not block reading: refuse this one file instead.
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file) == stereo_wav:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    assert one_line_error(str(stereo_wav), RATE, cache_root) == f"{stereo_wav}: cannot read: permission denied"


def test_an_empty_file(tmp_path: Path, cache_root: Path) -> None:
    path = tmp_path / "empty.ogg"
    path.touch()
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: empty file (0 bytes)"


def test_a_valid_file_without_samples(tmp_path: Path, cache_root: Path) -> None:
    path = write_wav(tmp_path / "nothing.wav", np.zeros((0, 1)))
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: empty: no audio samples in it"


def test_random_bytes_named_mp3(tmp_path: Path, cache_root: Path) -> None:
    path = tmp_path / "rain.mp3"
    path.write_bytes(np.random.default_rng(7).bytes(64 * 1024))
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: cannot decode: not an audio file ffmpeg can read"
    assert bed_files(cache_root) == []


def test_a_truncated_m4a(stereo_wav: Path, tmp_path: Path, cache_root: Path) -> None:
    # ffmpeg writes an m4a's index at its end: cut in half, nothing can be decoded.
    path = encode(stereo_wav, tmp_path / "cut.m4a")
    os.truncate(path, path.stat().st_size // 2)
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: cannot decode: not an audio file ffmpeg can read"


def test_a_file_without_an_audio_stream(tmp_path: Path, cache_root: Path) -> None:
    path = tmp_path / "picture.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=16x16", "-frames:v", "1", str(path)], check=True)
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: cannot decode: it holds no audio stream"


def test_a_silent_file(tmp_path: Path, cache_root: Path) -> None:
    path = write_wav(tmp_path / "silence.wav", np.zeros((2 * FILE_RATE, 2)))
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: silent: nothing to play"


def test_a_file_too_short_to_loop(tmp_path: Path, cache_root: Path) -> None:
    path = write_wav(tmp_path / "blip.wav", broken_loop(seconds=0.5))
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: too short for a bed (0.50 s; it needs at least 1 s)"


def sparse_wav(path: Path, rate: int, seconds: float) -> Path:
    """A valid 8-bit mono WAV of silence that takes no disk space and no time to write, however long."""
    size = int(rate * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    with open(path, "wb") as out:
        out.write(header + b"data" + struct.pack("<I", size))
        out.truncate(44 + size)
    return path


def test_a_file_longer_than_two_hours_is_refused_before_decoding(tmp_path: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = sparse_wav(tmp_path / "night.wav", 8000, 2 * 3600 + 60)
    decoded: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: decoded.append(args))
    assert one_line_error(str(path), RATE, cache_root) == f"{path}: longer than 2 hours; use a shorter file"
    assert decoded == []


def test_a_file_whose_length_is_unknown_is_stopped_while_decoding(
    stereo_wav: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if ffprobe could not tell the length (some streams): the decoder stops at the limit instead.
    real_media_info = ambience._media_info

    def without_durations(path: Path) -> dict[str, Any]:
        info = real_media_info(path)
        info["format"].pop("duration", None)
        for stream in info["streams"]:
            stream.pop("duration", None)
        return info

    monkeypatch.setattr(ambience, "_media_info", without_durations)
    monkeypatch.setattr(ambience, "MAX_FILE_SECONDS", 3.0)
    assert one_line_error(str(stereo_wav), RATE, cache_root) == f"{stereo_wav}: longer than 2 hours; use a shorter file"
    assert bed_files(cache_root) == []


def test_ffmpeg_missing(stereo_wav: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    expected = f"{stereo_wav}: cannot decode: ffmpeg is not installed (run `make install`, or `apt-get install ffmpeg`)"
    assert one_line_error(str(stereo_wav), RATE, cache_root) == expected


def test_a_cached_file_plays_even_without_ffmpeg(stereo_wav: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_bed(str(stereo_wav), RATE, cache_root)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert load_bed(str(stereo_wav), RATE, cache_root).channels == 2


def test_a_file_ffprobe_accepts_but_ffmpeg_cannot_decode(tmp_path: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "odd.mp3"
    path.write_bytes(np.random.default_rng(7).bytes(64 * 1024))
    monkeypatch.setattr(ambience, "_media_info", lambda path: {"streams": [{"codec_type": "audio", "channels": 2}], "format": {}})
    # As if ffprobe had accepted random bytes: ffmpeg's own complaint follows, still on one line.
    message = one_line_error(str(path), RATE, cache_root)
    assert message.startswith(f"{path}: cannot decode: the audio data is damaged (ffmpeg: ") and message.endswith(")")
    assert str(tmp_path) not in message.removeprefix(str(path))
    assert bed_files(cache_root) == []
