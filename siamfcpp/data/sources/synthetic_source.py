"""The built-in procedural data set as a training source (frames rendered on demand).

Sequence ``k`` is ``make_sequence((seed, k), ...)`` of :mod:`siamfcpp.data.sources.synthetic`;
give training a ``seed`` different from the synthetic benchmark's so they never share sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from siamfcpp.data.sources.base import TrackSequence, TrackSource
from siamfcpp.data.sources.synthetic import SyntheticSequence, make_sequence


class _RenderedFrames(Sequence):
    """``frames[t]`` renders frame ``t`` of a synthetic sequence (BGR uint8)."""

    def __init__(self, sequence: SyntheticSequence) -> None:
        self.sequence = sequence

    def __len__(self) -> int:
        return len(self.sequence)

    def __getitem__(self, t):  # type: ignore[override]
        if isinstance(t, slice):
            return [self.sequence.frame(i) for i in range(*t.indices(len(self)))]
        return self.sequence.frame(t)


class SyntheticSource(TrackSource):
    """``num_sequences`` procedural sequences of ``num_frames`` frames of ``frame_size``."""

    def __init__(
        self, num_sequences: int, num_frames: int, frame_size: Sequence[int], seed: int
    ) -> None:
        if num_sequences < 1:
            raise ValueError(f"num_sequences must be >= 1, got {num_sequences}")
        self.num_sequences = num_sequences
        self.num_frames = num_frames
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.seed = seed
        # Building a sequence (background noise, trajectories) costs more than rendering a frame.
        self._sequence = lru_cache(maxsize=64)(self._make)

    def _make(self, index: int) -> SyntheticSequence:
        return make_sequence((self.seed, index), self.num_frames, self.frame_size)

    def __getstate__(self) -> dict:
        # The cache wraps a bound method and does not pickle (spawned data-loader workers).
        return {k: v for k, v in self.__dict__.items() if k != "_sequence"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._sequence = lru_cache(maxsize=64)(self._make)

    def __len__(self) -> int:
        return self.num_sequences

    def __getitem__(self, index: int) -> TrackSequence:
        if not 0 <= index < self.num_sequences:
            raise IndexError(f"synthetic sequence {index} out of range 0..{self.num_sequences - 1}")
        sequence = self._sequence(index)
        return TrackSequence(
            name=f"synthetic_{self.seed}_{index:06d}",
            frames=_RenderedFrames(sequence),
            boxes=sequence.boxes,
            visible=np.ones(len(sequence), dtype=bool),
        )
