"""One process at a time per run directory: an advisory ``flock`` on ``DIR/.lock``.

The lock file holds the holder's pid (for the error message). ``flock`` is released by the
kernel when the holder exits for any reason, SIGKILL included, so a lock file left behind by
a killed process never blocks a later ``--resume``: the next process simply takes it over.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from vaekit.core.errors import RunDirError

LOCK = ".lock"


class RunDirBusy(RunDirError):
    """Another live process holds the run directory."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


class RunLock:
    """``with RunLock(run_dir, action="train"):`` holds ``run_dir/.lock`` (creating ``run_dir``
    if needed). A second holder is refused with :class:`RunDirBusy` naming the first one's pid,
    before anything is written. ``created`` lists the folders this lock created (outermost
    first), so a caller can remove them again if nothing was written into them."""

    def __init__(self, run_dir: str | os.PathLike[str], action: str = "use") -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self.action = action
        self.created: list[Path] = []
        self._fd: int | None = None

    def _make_dirs(self) -> None:
        missing = []
        for folder in [self.run_dir, *self.run_dir.parents]:
            if folder.exists():
                break
            missing.append(folder)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f"cannot write the run directory {self.run_dir} ({err.strerror}); choose another --out") from None
        self.created = list(reversed(missing))

    def acquire(self) -> "RunLock":
        self._make_dirs()
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as err:
                raise RunDirError(f"cannot write the run directory {self.run_dir} (lock file: {err.strerror}); choose another --out") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirBusy(
                        f"{self.run_dir} is in use by {_holder(self.path)} (lock file {self.path}); "
                        f"wait for it to finish before you {self.action} it"
                    ) from None
                raise RunDirError(f"cannot lock {self.path} ({err.strerror})") from None
            # The previous holder may have unlinked the file between our open and our flock:
            # then we hold a lock on a file nobody else can see, so start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # unlink while still holding it (see acquire)
        finally:
            os.close(self._fd)
            self._fd = None

    def remove_created_if_empty(self) -> None:
        """Remove the folders :meth:`acquire` created, if they are empty (call after release)."""
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:
                break

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def lock_applies() -> bool:
    """Under torchrun only rank 0 writes the run directory, so only rank 0 locks it."""
    return int(os.environ.get("WORLD_SIZE", "1")) <= 1 or int(os.environ.get("RANK", "0")) == 0
