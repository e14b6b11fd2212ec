"""The configuration file: TOML read with ``tomllib`` into ``Settings`` (docs/configuration.md)."""

from accessguard.config.loader import ConfigFileError, Loaded, Problem, load

__all__ = ["ConfigFileError", "Loaded", "Problem", "load"]
