"""Errors that a user can cause and fix: they carry a message meant to be read, not a traceback."""


class TfrobustError(Exception):
    """Base class of every error tfrobust raises on bad input."""


class ConfigError(TfrobustError, ValueError):
    """An option has a value that is not allowed; the message names the option and what is allowed."""


class DataError(TfrobustError):
    """A dataset is missing or its files are corrupt; the message names the file and the fault."""


class DependencyError(TfrobustError):
    """An optional package that a feature needs is not installed; the message names the extra
    (``pip install 'tfrobust[tune]'``) that installs it."""
