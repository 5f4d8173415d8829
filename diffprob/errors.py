"""Exceptions raised by diffprob.

Every error a user can cause and fix (a missing file, a negative variance, a
checkpoint from another configuration) derives from :class:`DiffprobError`. The
command line prints such errors as one line and exits non-zero; anything else is
a bug and keeps its traceback.

The concrete classes also derive from the built-in exception a Python user would
expect (``ValueError`` for bad parameters, ``OSError`` for unreadable files), so
``except ValueError`` keeps working as it does with numpy and scipy.
"""

__all__ = [
    "DiffprobError",
    "ParameterError",
    "ImageReadError",
    "ImageWriteError",
    "DataError",
    "CheckpointError",
    "TrainingDivergedError",
    "RunFolderBusyError",
]


class DiffprobError(Exception):
    """Base class for errors caused by the caller's input."""


class ParameterError(DiffprobError, ValueError):
    """A parameter is out of range, non-finite, or of the wrong kind."""


class ImageReadError(DiffprobError, OSError):
    """An image file is missing, unreadable, corrupt or not an image."""


class ImageWriteError(DiffprobError, OSError):
    """An output image could not be written (or would overwrite an input)."""


class DataError(DiffprobError, ValueError):
    """A data set is missing, malformed, or inconsistent with its labels."""


class CheckpointError(DiffprobError, ValueError):
    """A checkpoint is missing, corrupt, or from an incompatible configuration."""


class TrainingDivergedError(DiffprobError, FloatingPointError):
    """Training stopped because its loss or weights stopped being finite numbers."""


class RunFolderBusyError(DiffprobError, OSError):
    """Another process is training into the same run folder."""
