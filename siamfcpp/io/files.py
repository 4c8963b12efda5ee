"""Result files: atomic writes and box text, shared by evaluation, training and the apps.

Every result file is written to a temporary sibling and moved into place with ``os.replace``, so an
interrupted run never leaves a half-written file that a rerun would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # a file where a folder should be, no write permission, disk full
        raise OSError(
            err.errno,
            f"cannot write {path}: {path.parent} is not a writable folder ({err.strerror}); "
            "choose another output_dir / hydra.run.dir or fix its permissions",
        ) from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


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
