"""User-facing errors: one clear paragraph, shown without a traceback by the CLI."""


class D2LError(Exception):
    """Bad input or environment the user can fix; the message says what was wrong and how to fix it."""


class DataError(D2LError):
    """A dataset could not be found, verified or downloaded."""


class ConfigError(D2LError, ValueError):
    """A hyperparameter or option is out of range or inconsistent."""


class TrainingDiverged(D2LError):
    """The loss became NaN or infinite."""


class CheckpointError(D2LError):
    """A checkpoint path that cannot be used: missing, unreadable, or of another model."""
