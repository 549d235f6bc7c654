"""The package version, in a module of its own so the command line can print it without importing torch."""

__version__ = "0.1.0"
