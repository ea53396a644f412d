"""Every test gets its own HOME and relax folders, so a user's files are never touched."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulse import PulseServer

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
# The test engine plugin is installed the way pip installs one (a module and its .dist-info), on the path
# of this process, its relax commands and their synthesis workers.
sys.path.insert(0, str(PLUGINS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    for variable, folder in {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local/share",
        "RELAX_ROUTINES_DIR": home / "routines",
        "RELAX_CACHE_DIR": home / "cache",
        "RELAX_DATA_DIR": home / "data",
    }.items():
        monkeypatch.setenv(variable, str(folder))
    return home


@pytest.fixture
def routine_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a routine into tmp_path and return its path."""

    def write(text: str, name: str = "r.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A private PulseAudio server with a null sink, shared by the tests that play sound."""
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    yield server
    server.stop()
