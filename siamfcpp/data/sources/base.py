"""What every training data source yields: annotated sequences, indexable like a list.

A *source* reads one data set in its official on-disk layout. ``len(source)`` is its number of
sequences (videos / tracks, or images for static image sets) and ``source[i]`` the i-th
:class:`TrackSequence`. Sources index lazily (on first access), so building one is cheap and a
missing root fails at once with the path in the message.
"""

from __future__ import annotations

import logging
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.io.frames import read_frame

log = logging.getLogger(__name__)
_warned_invalid: set[str] = set()

Frame = Path | np.ndarray
"""A frame: an image file path, or the BGR uint8 HxWx3 image itself (in-memory sources)."""


@dataclass(frozen=True)
class TrackSequence:
    """One annotated object track.

    Attributes:
        name: unique name within its source (e.g. ``GOT-10k_Train_000001``, ``<video>.<trackid>``).
        frames: ``T`` frames (paths or arrays), in time order.
        boxes: ``[T, 4]`` float64 ``x, y, w, h`` of the object in each frame.
        visible: ``[T]`` bool, False where the data set marks the object absent (pairs never use
            those frames). Frames whose box is not finite or has a non-positive width or height
            are made invisible too (a recovery, logged once per sequence and counted in
            ``invalid_boxes``): such a box would put NaN into the crops and targets.
        static: True for static image data sets (DET, COCO): then every row is a different object
            of the *same* image (``frames`` repeats that image) and a training pair is that image
            twice with one object, drawn uniformly over the rows, as the original recipe does.
    """

    name: str
    frames: Sequence[Frame]
    boxes: np.ndarray
    visible: np.ndarray
    static: bool = False

    def __post_init__(self) -> None:
        t = len(self.frames)
        if self.boxes.shape != (t, 4) or self.visible.shape != (t,):
            raise ValueError(
                f"sequence {self.name!r}: {t} frames but boxes {self.boxes.shape} and "
                f"visibility {self.visible.shape}; expected [{t}, 4] and [{t}]"
            )
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(self.boxes).all(axis=1) & (self.boxes[:, 2:] > 0).all(axis=1)
        invalid = self.visible & ~valid
        if invalid.any():
            object.__setattr__(self, "visible", self.visible & valid)
            if self.name not in _warned_invalid:
                _warned_invalid.add(self.name)
                log.warning(
                    "sequence %s: %d frame(s) marked visible have a NaN or non-positive box "
                    "(first frame %d); they are not used for training",
                    self.name,
                    int(invalid.sum()),
                    int(np.flatnonzero(invalid)[0]),
                )

    @property
    def invalid_boxes(self) -> int:
        """Frames whose box is NaN or not positive (never sampled)."""
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(self.boxes).all(axis=1) & (self.boxes[:, 2:] > 0).all(axis=1)
        return int((~ok).sum())

    def __len__(self) -> int:
        return len(self.frames)


class TrackSource(ABC):
    """A data set as a list of :class:`TrackSequence`."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> TrackSequence: ...

    def __repr__(self) -> str:
        # settings only: lazily built indexes (cached properties) would flood error messages
        settings = (
            f"{k}={v!r}"
            for k, v in vars(self).items()
            if not k.startswith("_")
            and not isinstance(getattr(type(self), k, None), cached_property)
        )
        return f"{type(self).__name__}({', '.join(settings)})"


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else a ``FileNotFoundError`` saying what was expected."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path} (set the source's root to the data set)")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a ``FileNotFoundError`` saying what was expected."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def load_frame(frame: Frame) -> np.ndarray:
    """The frame as a BGR uint8 HxWx3 image; a path is read as the benchmarks read frames
    (:func:`siamfcpp.io.frames.read_frame`: grayscale and 16-bit images converted).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file exists but is not a readable image.
    """
    if isinstance(frame, np.ndarray):
        return frame
    return read_frame(Path(frame))


def load_table(path: Path, what: str) -> np.ndarray:
    """A comma- or whitespace-separated numeric text table as float64 ``[rows, cols]``."""
    require_file(path, what)
    with path.open() as f:
        delimiter = "," if "," in f.readline() else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy < 2 only warns about an empty file
            return np.loadtxt(path, delimiter=delimiter, ndmin=2, dtype=np.float64)
    except (ValueError, UserWarning) as err:
        raise ValueError(f"malformed {what} {path}: {err}") from err


def load_flags(path: Path, what: str) -> np.ndarray:
    """A per-frame 0/1 label file (one value per line or one comma-separated line) as bool."""
    return load_table(path, what).reshape(-1).astype(bool)


class FrameFiles(Sequence):
    """The files ``names`` in ``directory`` as a sequence of paths, built on access (cheap to hold
    for sequences of many thousand frames)."""

    def __init__(self, directory: Path, names: Sequence[str]) -> None:
        self.directory = directory
        self.names = tuple(names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.directory / name for name in self.names[index]]
        return self.directory / self.names[index]


def sorted_images(
    directory: Path, suffix: str, key: Callable[[str], Any] | None = None
) -> FrameFiles:
    """The ``*<suffix>`` files in ``directory``, ordered by name (or by ``key`` of the name)."""
    require_dir(directory, "frame directory")
    names = [name for name in os.listdir(directory) if name.endswith(suffix)]
    return FrameFiles(directory, sorted(names, key=key))
