"""Result files: atomic writes and box text, shared by evaluation, training and the apps.

Every result file is written to a temporary sibling and moved into place with ``os.replace``, so an
interrupted run never leaves a half-written file that a rerun would mistake for a finished one.
The file gets the permissions a plain ``open(path, "w")`` would give it: an existing file keeps
its mode, a new one gets ``0o666`` less the process umask (the temporary file's own ``0o600``
would make results unreadable to the other users of a shared folder). A failed write is an
:class:`OSError` naming the path and what to do (:func:`write_error`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

_umask_lock = threading.Lock()

#: what to do about a failed write, by errno (``{key}``: the config key that chose the folder)
_WRITE_FIXES = {
    errno.ENOSPC: "free space on that device or choose another {key}",
    errno.EDQUOT: "free space within your quota or choose another {key}",
    errno.EACCES: "fix the folder's permissions or choose another {key}",
    errno.EPERM: "fix the folder's permissions or choose another {key}",
    errno.EROFS: "the file system is read-only: choose another {key}",
    errno.ENOTDIR: "a file stands where a folder is needed: move it or choose another {key}",
    errno.EEXIST: "a file stands where a folder is needed: move it or choose another {key}",
}
_WRITE_FIX = "fix the folder or choose another {key}"


def write_error(path: Path, err: OSError, key: str = "output_dir / hydra.run.dir") -> OSError:
    """A one-line :class:`OSError` (same errno and type) saying that ``path`` could not be
    written, why, and what to do (``key``: the config key that chose the folder)."""
    reason = err.strerror or str(err)
    fix = _WRITE_FIXES.get(err.errno, _WRITE_FIX).format(key=key)
    where = f" ({err.filename})" if err.filename and str(err.filename) != str(path) else ""
    error = type(err)(f"cannot write {path}: {reason}{where}; {fix}")
    error.errno = err.errno  # kept for callers that test it; the message has no "[Errno n]"
    return error


def _umask() -> int:
    """The process umask (read without changing it where Linux exposes it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _file_mode(path: Path) -> int:
    """Permissions of ``path`` once written: its current ones, or ``0o666`` less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Raises:
        OSError: from :func:`write_error` (no space, no permission, a file where a folder should
            be, ...): one line naming ``path`` and the fix.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = _file_mode(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from err
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, err) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def file_md5(path: Path) -> str:
    """Hex md5 of a file's content."""
    digest = hashlib.md5()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def format_boxes(boxes: np.ndarray, fmt: str = "%.3f", delimiter: str = ",") -> str:
    """Rows of ``boxes`` ``[T, 4]`` as text lines, the way ``numpy.savetxt`` writes them."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return "".join(delimiter.join(fmt % v for v in row) + "\n" for row in boxes)


def read_boxes(path: Path) -> np.ndarray:
    """Read an ``x,y,w,h`` text file (comma, tab or space separated) as float64 ``[T, 4]``.

    ``NaN`` entries (UAV123 marks absent targets so) stay NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"box file {path} does not exist")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) != 4:
            raise ValueError(f"{path}:{line_no}: expected 4 numbers x,y,w,h, got {line!r}")
        try:
            rows.append([float(p) for p in parts])
        except ValueError as err:
            raise ValueError(f"{path}:{line_no}: not a number in {line!r}") from err
    if not rows:
        raise ValueError(f"box file {path} is empty")
    return np.asarray(rows, dtype=np.float64)
