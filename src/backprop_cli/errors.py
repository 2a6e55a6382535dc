"""User-facing errors. The CLI prints these as one line and exits non-zero; bugs are not caught."""


class BackpropError(Exception):
    """A mistake in what the user asked for, reported as one line without a traceback."""

    exit_code = 2


class ConfigError(BackpropError):
    """A config file or override that cannot be read or does not validate."""


class RunDirError(BackpropError):
    """A run directory, or a file in it, that is missing, corrupt or of an unknown format."""
