"""relax: a terminal player for guided relaxation and stretching sessions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relax")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"
