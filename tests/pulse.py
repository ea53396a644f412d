"""A private PulseAudio server with a null sink, and a recorder of what reaches it.

The null sink is clocked in real time and its monitor can be recorded, so tests hear exactly
what a listener would, without a sound card and without touching anyone's sound setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 22050
SINK = "relaxtest"


class PulseServer:
    """`pulseaudio` run in the foreground with its own runtime folder and socket."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "native"
        self.env = {
            **os.environ,
            "PULSE_RUNTIME_PATH": str(folder),
            "XDG_RUNTIME_DIR": str(folder),
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_SINK": SINK,
            "HOME": str(folder),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if shutil.which("pulseaudio") is None:
            raise RuntimeError("pulseaudio is not installed (make install installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            # No CPU limiter and no realtime: on a loaded 2-core machine either can kill the server. No shared
            # memory: with memfd blocks from many short-lived clients the server can abort on an assertion
            # (memblock_replace_import, PulseAudio issue 824); copying over the socket is cheap at this rate.
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no",
             "--no-cpu-limit", "--realtime=no", "--high-priority=no", "--disable-shm=yes", "--log-target=stderr",
             "--log-level=warning",
             f"--load=module-null-sink sink_name={SINK} rate={RATE} channels=1",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.folder / "pulseaudio.log", "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("the private PulseAudio server did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)


def _raise_priority() -> None:
    """A recorder starved by busy processes would drop samples and blame the player: run it ahead of them
    where allowed (as root, as in CI)."""
    try:
        os.nice(-10)
    except PermissionError:
        pass


class Recorder:
    """Records the null sink's monitor with `parec`, as raw mono 16-bit samples."""

    def __init__(self, server: PulseServer, target: Path) -> None:
        self.server = server
        self.target = target
        self.file = open(target, "wb")
        self.process = subprocess.Popen(
            ["parec", "--raw", f"--device={SINK}.monitor", f"--rate={RATE}", "--channels=1", "--format=s16le",
             # A roomy source buffer, so a recorder starved on a busy machine drops nothing; still read every 10 ms.
             "--latency-msec=10"],
            env=server.env, stdout=self.file, preexec_fn=_raise_priority)
        deadline = time.monotonic() + 5
        while self.frames() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    def frames(self) -> int:
        """Samples recorded so far: the recording's clock."""
        return self.target.stat().st_size // 2

    def stop(self) -> npt.NDArray[np.int16]:
        time.sleep(0.2)
        self.process.terminate()
        self.process.wait(timeout=5)
        self.file.close()
        return samples_of(self.target)


def samples_of(path: Path) -> npt.NDArray[np.int16]:
    data = path.read_bytes()
    if data[:4] == b"RIFF":
        with wave.open(str(path)) as reader:
            data = reader.readframes(reader.getnframes())
    return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)


def onsets(samples: npt.NDArray[np.int16], threshold: int = 1000, gap: float = 0.4) -> list[float]:
    """Seconds at which sound starts after at least `gap` seconds of quiet."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    found: list[float] = []
    last = -(10**9)
    for index in loud:
        if index - last > gap * RATE:
            found.append(index / RATE)
        last = index
    return found


def last_sound(samples: npt.NDArray[np.int16], threshold: int = 400) -> float:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return float(loud[-1]) / RATE if len(loud) else 0.0
