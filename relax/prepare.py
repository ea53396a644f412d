"""Making a plan's speech ready: which clips it needs, which are cached, synthesizing the rest."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from relax.cache import AudioCache, Clip, format_size
from relax.fit import fit_plan
from relax.plan import CueKind, Plan, estimate_speech_seconds
from relax.schedule import Schedule, build_schedule
from relax.errors import RelaxError
from relax.speech import AUTO, SpeechError, SpeechSettings, VoiceRequest, get_backend, resolve_engine, speech_settings
from relax.synthesis import Job, SynthesisPool, Warmup, start_early, stop_early


@dataclass(frozen=True)
class PrepareResult:
    """What `relax prepare` did."""

    synthesized: int
    reused: int
    seconds: float
    clips: int
    audio_seconds: float
    entries: Mapping[str, Clip] = field(default_factory=dict, repr=False)
    """The validated clip of every key prepared."""

    def to_json(self) -> dict[str, float | int]:
        return {"synthesized": self.synthesized, "reused": self.reused, "seconds": round(self.seconds, 3),
                "clips": self.clips, "audio_seconds": round(self.audio_seconds, 3)}


def speech_jobs(plan: Plan, settings: SpeechSettings) -> list[Job]:
    """One job per distinct text, in order of first use (so the start of a session is ready first)."""
    seen: dict[str, Job] = {}
    for cue in plan.cues:
        if cue.kind is CueKind.speech and cue.spoken not in seen:
            seen[cue.spoken] = Job(cue.spoken, settings)
    return list(seen.values())


def _check_room(cache: AudioCache, missing: Sequence[Job]) -> None:
    """Refuse to start when the cache's disk cannot hold the clips: espeak stops, never to return, when a write
    fails, so a full disk would look like a hang."""
    seconds = sum(estimate_speech_seconds(job.text, 150) for job in missing)
    needed = int(seconds * missing[0].settings.sample_rate * 2 * 1.5) + 1_000_000
    cache.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache.root).free
    if free < needed:
        raise SpeechError(f"the audio cache at {cache.root} needs about {format_size(needed)} for {len(missing)} "
                          f"clips, and its disk has {format_size(free)} free")


def default_workers() -> int:
    return os.cpu_count() or 1


def expected_voice(engine: str | None, voice: str | None) -> Warmup | None:
    """The engine and voice a routine not seen before likely speaks with, from the command line and relax.toml
    (the routine's own voice is known only once it is read): what early workers load."""
    try:
        name = resolve_engine(engine or AUTO)
        request = VoiceRequest(voice=voice or "")
        return Warmup(name, get_backend(name).settings(request).voice)
    except RelaxError:
        return None  # the plan's own settings report it


def warm_start(cache: AudioCache, workers: int | None, engine: str | None, voice: str | None) -> Callable[[], None]:
    """What to do when a session's plan is made anew (a routine not played before likely needs speech): start its
    workers, loading the voice the command line and relax.toml point to, while the plan is made."""
    return lambda: start_early(cache.root, workers or default_workers(), expected_voice(engine, voice))


def ready_workers(plan: Plan, settings: SpeechSettings, cache: AudioCache, workers: int | None) -> None:
    """Start the synthesis workers now when clips are missing, so they load while the session is set up; end
    those started early (relax.synthesis.start_early) when every clip is cached."""
    missing = sum(1 for job in speech_jobs(plan, settings) if not cache.path(job.key).exists())
    if missing:
        start_early(cache.root, min(workers or default_workers(), missing), Warmup(settings.engine, settings.voice))
    else:
        stop_early()


def prepare(
    plans: Sequence[tuple[Plan, SpeechSettings]],
    cache: AudioCache,
    *,
    workers: int | None = None,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PrepareResult:
    """Synthesize every missing clip of `plans` with `workers` processes of `threads` threads each
    (default: one per core, sharing the cores); reports (done, total) to `on_progress`."""
    started = time.perf_counter()
    cache.ensure()
    jobs: dict[str, Job] = {}
    for plan, settings in plans:
        for job in speech_jobs(plan, settings):
            jobs.setdefault(job.key, job)
    entries: dict[str, Clip] = {}
    for key, job in jobs.items():
        clip = cache.get(key, job.settings.sample_rate)
        if clip is not None:
            entries[key] = clip
    missing = [job for key, job in jobs.items() if key not in entries]
    done = len(jobs) - len(missing)
    if on_progress:
        on_progress(done, len(jobs))
    if missing:
        _check_room(cache, missing)
        pool = SynthesisPool(cache, missing[0].settings.engine, min(workers or default_workers(), len(missing)), threads)

        def finished(_: Job) -> None:
            nonlocal done
            done += 1
            if on_progress:
                on_progress(done, len(jobs))

        pool.run(missing, finished)
    for job in missing:  # only what was just made needs reading again
        clip = cache.get(job.key, job.settings.sample_rate)
        if clip is None:
            raise SpeechError(f"the clip for {job.text!r} vanished from the cache at {cache.root}")
        entries[job.key] = clip
    audio = sum(clip.seconds for clip in entries.values())
    return PrepareResult(len(missing), len(jobs) - len(missing), time.perf_counter() - started, len(jobs), audio, entries)


def exact_schedule(plan: Plan, settings: SpeechSettings, cache: AudioCache, *, workers: int | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> Schedule:
    """The schedule with real clip lengths, synthesizing what is missing."""
    entries = prepare([(plan, settings)], cache, workers=workers, on_progress=on_progress).entries
    return _placed(plan, settings, {job.text: entries[job.key].frames for job in speech_jobs(plan, settings)})


def fitted_plan(plan: Plan, target: float, cache: AudioCache | None, *, workers: int | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> Plan:
    """`plan` fitted to last `target` seconds, from its clips' real lengths (synthesizing what is missing), or
    from lengths estimated from the speaking rate when `cache` is None."""
    settings = settings_for(plan)
    schedule = (build_schedule(plan, settings.sample_rate) if cache is None
                else exact_schedule(plan, settings, cache, workers=workers, on_progress=on_progress))
    return fit_plan(plan, target, lambda index: schedule.cue(index).frames / schedule.rate)


def cached_schedule(plan: Plan, settings: SpeechSettings, cache: AudioCache,
                    known: Mapping[str, int] | None = None) -> Schedule | None:
    """The schedule from the lengths of cached clips (headers only, none for the texts in `known`);
    None when one is missing."""
    lengths = dict(known or {})
    for job in speech_jobs(plan, settings):
        if job.text not in lengths:
            clip = cache.get(job.key, settings.sample_rate)
            if clip is None:
                return None
            lengths[job.text] = clip.frames
    return _placed(plan, settings, lengths)


def _placed(plan: Plan, settings: SpeechSettings, lengths: Mapping[str, int]) -> Schedule:
    return build_schedule(plan, settings.sample_rate, lambda cue: lengths[cue.spoken])


def settings_for(plan: Plan) -> SpeechSettings:
    """The resolved speech settings of a plan (its voice, language and pace)."""
    voice = plan.voice
    request = VoiceRequest(voice=voice.voice or "", language=plan.language, rate=round(voice.rate * plan.pace),
                           pitch=voice.pitch, command=voice.command or "")
    return speech_settings(voice.engine, request)
