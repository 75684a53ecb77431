"""Errors meant for people: one line that says what is wrong and how to fix it."""


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose; the CLI prints it as one line."""


class ZooConfigError(ZooError, ValueError):
    """A configuration value is invalid or inconsistent with another one."""


class ZooDataError(ZooError, FileNotFoundError):
    """A dataset's files are missing or malformed."""


class ZooWeightsError(ZooError, FileNotFoundError):
    """Pretrained weights (Inception, a domain classifier) are missing."""


class ZooInterrupted(ZooError):
    """Training stopped on a signal after saving a checkpoint; the exit code tells which signal."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ZooDeadlineReached(ZooInterrupted):
    """Training reached its deadline between two batches and saved its exact position to resume."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=3)  # ``zoo reproduce``'s "not finished: --resume"


class ZooNonFiniteError(ZooError, FloatingPointError):
    """A loss or a weight became NaN or infinite; training stopped before saving it."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ZooConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ZooConfigError(message)
