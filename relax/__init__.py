"""relax: a terminal player for guided relaxation and stretching sessions."""

__version__ = "0.1.0"
"""The one place the version is written: setup.cfg reads it (attr:), and `relax --version` needs no
importlib.metadata, which would cost every command 20 ms."""
