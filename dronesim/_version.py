"""The package version (a bottom module: importing it runs nothing else of dronesim)."""

__version__ = "0.1.0"
