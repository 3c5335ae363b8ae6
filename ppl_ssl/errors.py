"""Errors a user can act on: each message is one line naming the bad thing and the fix."""


class ConfigError(ValueError):
    """A configuration key, value, preset or component name that cannot be used."""


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where the loader looked."""


class DataFileError(ValueError):
    """A dataset file that exists but cannot be used: truncated, corrupt, of the wrong shape, or unsafe to read."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite or runaway loss, term or gradient; the last good checkpoint is kept."""
