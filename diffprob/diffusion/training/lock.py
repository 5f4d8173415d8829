"""One training run per run folder: an exclusive lock held for the run's lifetime.

Two runs writing the same ``last.pt``, ``loss.csv`` and ``train_args.json`` would
corrupt each other's record without either noticing. :class:`RunLock` takes an
exclusive ``fcntl.flock`` on ``RUN_DIR/.lock`` (which holds the owner's process id,
read only to name it in the message). The kernel drops the lock when its process
exits in any way, SIGKILL included, so a lock left by a dead process is never in
the way. Under torchrun only rank 0, the process that writes the folder, takes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from diffprob.errors import RunFolderBusyError

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["RunLock", "LOCK_FILE"]

LOCK_FILE = ".lock"

# Locks this process holds, by folder: a lock is re-entrant within one process (the
# command line holds it around train(), which takes it again). flock would refuse a
# second descriptor of the same file even in the process that holds the first.
_HELD: dict[Path, list] = {}  # folder -> [file descriptor, depth]


class RunLock:
    """Hold the run folder `path` exclusively (a no-op for None, or without fcntl).

    The folder is created if needed; on release the lock file is removed, and so is
    the folder if this lock created it and nothing else was written there.

    Raises
    ------
    RunFolderBusyError
        Another live process holds the folder (the message names its pid).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> with RunLock(folder):
    ...     (folder / LOCK_FILE).read_text() == str(os.getpid())
    True
    >>> folder.exists()
    False
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else Path(path)
        self._key = None
        self._created: list[Path] = []

    def __enter__(self) -> RunLock:
        if self.path is None or fcntl is None:
            return self
        key = self.path.resolve()
        if key in _HELD:
            _HELD[key][1] += 1
        else:
            self._created = _make_folder(self.path)
            try:
                _HELD[key] = [_acquire(self.path / LOCK_FILE), 1]
            except BaseException:
                _remove_if_empty(self._created)
                raise
        self._key = key
        return self

    def __exit__(self, *exc) -> None:
        if self._key is None:
            return
        held = _HELD[self._key]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[self._key]
            # Unlink before unlocking: a process that opened the old file and is
            # granted its lock afterwards sees that it no longer is the folder's lock.
            (self.path / LOCK_FILE).unlink(missing_ok=True)
            os.close(held[0])
            _remove_if_empty(self._created)
        self._key = None


def _acquire(lock_path: Path) -> int:
    """A descriptor of `lock_path` holding its exclusive lock, with our pid written in."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_pid(fd)
            os.close(fd)
            folder = str(lock_path.parent)
            raise RunFolderBusyError(
                f"run folder {folder!r} is in use by another training run "
                f"({'pid ' + owner if owner else 'a live process'}); wait for it to "
                "finish or choose another run folder"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)  # its owner removed the file as we opened it: take the new one


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else ""


def _make_folder(path: Path) -> list[Path]:
    """Create `path` and its missing parents; return those created, outermost first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    path.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _remove_if_empty(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:  # something was written there: keep it
            return
