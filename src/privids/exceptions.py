"""Typed errors for privids, each worded as *what went wrong, what we got, how to fix it*.

Hierarchy (catch the base you need)::

    PrivIDSError                      exit code 1
    ├── DataError(ValueError)         exit code 2   bad or unreadable flow data
    │   ├── SchemaError               unknown schema / missing columns / missing label
    │   └── ParseError                a cell that cannot be parsed (file, line, column)
    ├── ConfigError(ValueError)       exit code 3   invalid hyperparameter or option
    ├── PrivacyError(ValueError)      exit code 4   a privacy claim that cannot be made exactly
    │   └── BudgetExceededError       a release would exceed the lifetime budget
    ├── ModelError(ValueError)        exit code 5   incompatible or unsafe model / artifact
    │   └── ArtifactError             artifact missing, corrupt or from another format
    └── FederationError(RuntimeError) exit code 6   a federated round cannot go on
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "BudgetExceededError",
    "ConfigError",
    "DataError",
    "FederationError",
    "ModelError",
    "ParseError",
    "PrivIDSError",
    "PrivacyError",
    "PrivacyWarning",
    "SchemaError",
]


class PrivIDSError(Exception):
    """Root of every error privids raises on purpose."""

    exit_code: int = 1


class DataError(PrivIDSError, ValueError):
    """Flow data that cannot be used as given."""

    exit_code = 2


class SchemaError(DataError):
    """A file whose columns do not match a supported flow schema."""


class ParseError(DataError):
    """A cell that cannot be parsed; the message names file, line and column.

    Parameters
    ----------
    message : str
        Human-readable explanation including the fix.
    path : str, default=""
        File the cell came from.
    line : int or None, default=None
        1-based line number in the file (the header is line 1).
    column : str, default=""
        Column name (stripped).
    """

    def __init__(self, message: str, *, path: str = "", line: int | None = None, column: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column


class ConfigError(PrivIDSError, ValueError):
    """An option or hyperparameter outside its allowed values."""

    exit_code = 3


class PrivacyError(PrivIDSError, ValueError):
    """A setting under which the reported privacy guarantee would not hold."""

    exit_code = 4


class BudgetExceededError(PrivacyError):
    """A new release would take the privacy ledger past its lifetime budget."""


class ModelError(PrivIDSError, ValueError):
    """A model that is incompatible with the requested operation."""

    exit_code = 5


class ArtifactError(ModelError):
    """A model artifact that is missing, corrupt or not in the safe format."""


class FederationError(PrivIDSError, RuntimeError):
    """A federated run that cannot continue (too few clients, no examples)."""

    exit_code = 6


class PrivacyWarning(UserWarning):
    """A legitimate but privacy-relevant choice the user should know about."""
