"""The package version, kept apart so setup.cfg can read it without importing volumelib."""

__version__ = "0.1.0"
