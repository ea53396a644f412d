"""relax: a terminal player for guided relaxation and stretching sessions."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # The version is looked up only when asked for: importlib.metadata costs every command 25 ms.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("relax")
        except PackageNotFoundError:  # running from a checkout that is not installed
            return "0.0.0"
    raise AttributeError(f"module 'relax' has no attribute {name!r}")
