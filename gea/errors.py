"""Exceptions raised by the platform, each with a message that names the fix."""

from __future__ import annotations


class GEAError(Exception):
    """Base class of every error the platform raises on purpose."""


class UnknownEnvError(GEAError, KeyError):
    """An environment id that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(GEAError, ImportError):
    """An optional simulator or library is not installed."""


class InvalidActionError(GEAError, ValueError):
    """An action of the wrong type, shape or range for the environment."""


class EnvWorkerError(GEAError, RuntimeError):
    """A vector-env worker process crashed or stopped answering."""


class ConfigError(GEAError, ValueError):
    """A configuration file or override that does not fit its schema."""


class DatasetError(GEAError, ValueError):
    """An episode dataset folder that is missing, incomplete or corrupt."""
