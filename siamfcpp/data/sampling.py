"""Training pairs drawn from a mixture of sources, as the original SiamFC++ recipe draws them.

One draw: with probability ``negative_pair_ratio`` the pair is *negative*: template and search
frame from two independently drawn sequences. Else it is *positive*: one sequence, a template
frame and a search frame at most ``max_diff`` annotated frames apart (static images: the same
image twice, one of its objects). Every draw of a sequence first picks a source with probability
proportional to its ``ratio``, then a sequence uniformly. Only visible frames are used. The pair
filter rejects boxes that are too small, too large or too elongated relative to their image; a
rejected pair (or an image without objects) is redrawn from scratch, keeping its sign.

Two deliberate differences from the original code:
* it draws the search frame from ``[i - max_diff, T)``, bounding the gap only backwards (a slip
  in its index list); here the gap is bounded both ways, as its documentation intends;
* it may draw the same sequence twice for a negative pair, labelling an object as its own
  negative; such draws are redrawn here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from siamfcpp.data.sources.base import TrackSequence, TrackSource, load_frame

MAX_DRAWS = 1000  # redraws of one pair before the data is declared unusable
CACHED_SEQUENCES = 4096  # sequences a sampler keeps built (per data-loader worker)


@dataclass(frozen=True)
class MixtureEntry:
    """One source of the training mixture.

    Attributes:
        source: the sequences.
        ratio: relative sampling weight (normalised over the mixture).
        max_diff: largest template/search frame distance of positive pairs (video sources).
    """

    source: TrackSource
    ratio: float
    max_diff: int | None = None


@dataclass(frozen=True)
class PairFilter:
    """The original's TrackPairFilter: box area and aspect ratio limits.

    A box passes when ``min_area_rate < w*h / (H*W) < max_area_rate`` and
    ``max(h/w, w/h) < max_ratio`` (``H, W`` the image size).
    """

    min_area_rate: float
    max_area_rate: float
    max_ratio: float

    def accepts(self, image_shape: Sequence[int], box_xywh: np.ndarray) -> bool:
        eps = 1e-6  # as the original: zero-width boxes get a huge, not infinite, ratio
        w, h = float(box_xywh[2]), float(box_xywh[3])
        area_rate = w * h / (image_shape[0] * image_shape[1])
        aspect = h / (w + eps)
        elongation = max(aspect, 1.0 / max(aspect, eps))
        return self.min_area_rate < area_rate < self.max_area_rate and elongation < self.max_ratio


FrameOpener = Callable[[TrackSequence, int], Any]
"""Opens frame ``index`` of a sequence: returns the frame (decoded, or a handle that decodes it
later) as an object with a ``shape`` whose first two entries are ``(height, width)``."""


def decode_frame(sequence: TrackSequence, index: int) -> np.ndarray:
    """The default :data:`FrameOpener`: the decoded BGR uint8 frame."""
    return load_frame(sequence.frames[index])


@dataclass(frozen=True)
class TrackPair:
    """A template frame and a search frame (as the :data:`FrameOpener` returns them, decoded
    arrays by default) with their object boxes (``x, y, w, h``)."""

    image_z: Any
    box_z: np.ndarray
    image_x: Any
    box_x: np.ndarray
    negative: bool


@dataclass(frozen=True, eq=False)
class _Frame:
    sequence_key: tuple[int, int]  # (mixture entry, sequence) it came from
    sequence: TrackSequence
    index: int

    def open(self, open_frame: FrameOpener) -> tuple[Any, np.ndarray]:
        return open_frame(self.sequence, self.index), self.sequence.boxes[self.index]


class TrackPairSampler:
    """Draws :class:`TrackPair` s; all randomness comes from the generator passed to ``sample``."""

    def __init__(
        self,
        mixture: Sequence[MixtureEntry],
        negative_pair_ratio: float,
        pair_filter: PairFilter,
    ) -> None:
        self.mixture = [entry for entry in mixture if entry.ratio > 0]
        if not self.mixture or any(entry.ratio < 0 for entry in mixture):
            raise ValueError("the mixture needs at least one source, and no negative ratios")
        for entry in self.mixture:
            if len(entry.source) == 0:
                raise ValueError(f"training source {entry.source!r} has no sequences")
        if not 0.0 <= negative_pair_ratio <= 1.0:
            raise ValueError(f"negative_pair_ratio must be in [0, 1], got {negative_pair_ratio}")
        ratios = np.array([entry.ratio for entry in self.mixture], dtype=np.float64)
        self.probabilities = ratios / ratios.sum()
        self.negative_pair_ratio = negative_pair_ratio
        self.pair_filter = pair_filter
        self._sequences: dict[tuple[int, int], TrackSequence] = {}  # in use order, per process

    def sample(self, rng: np.random.Generator, open_frame: FrameOpener = decode_frame) -> TrackPair:
        """One pair; only ``rng`` decides which (``open_frame`` only says how frames are read)."""
        negative = bool(rng.random() < self.negative_pair_ratio)
        for _ in range(MAX_DRAWS):
            frames = (
                (self._draw_frame(rng), self._draw_frame(rng))
                if negative
                else self._draw_positive(rng)
            )
            if frames[0] is None or frames[1] is None:
                continue
            if negative and frames[0].sequence_key == frames[1].sequence_key:
                continue  # the same object is no negative example
            image_z, box_z = frames[0].open(open_frame)
            # The same frame twice (static images; equal indices) is read once.
            image_x, box_x = (
                (image_z, box_z) if frames[1] is frames[0] else frames[1].open(open_frame)
            )
            if self.pair_filter.accepts(image_z.shape, box_z) and self.pair_filter.accepts(
                image_x.shape, box_x
            ):
                return TrackPair(image_z, box_z, image_x, box_x, negative)
        raise RuntimeError(
            f"no usable training pair in {MAX_DRAWS} draws from "
            f"{[e.source for e in self.mixture]}: check the boxes and the pair "
            "filter thresholds"
        )

    def _draw_sequence(
        self, rng: np.random.Generator
    ) -> tuple[tuple[int, int], MixtureEntry, TrackSequence]:
        entry_index = int(rng.choice(len(self.mixture), p=self.probabilities))
        entry = self.mixture[entry_index]
        sequence_index = int(rng.integers(len(entry.source)))
        key = (entry_index, sequence_index)
        return key, entry, self._sequence(key)

    def _sequence(self, key: tuple[int, int]) -> TrackSequence:
        """``source[i]`` of mixture entry ``key[0]``, the last :data:`CACHED_SEQUENCES` kept
        (building one reads its annotation files: ~1 ms for a GOT-10k sequence)."""
        sequence = self._sequences.pop(key, None)
        if sequence is None:
            sequence = self.mixture[key[0]].source[key[1]]
            if len(self._sequences) >= CACHED_SEQUENCES:
                del self._sequences[next(iter(self._sequences))]  # the least recently used
        self._sequences[key] = sequence
        return sequence

    def _draw_positive(self, rng: np.random.Generator) -> tuple[_Frame | None, _Frame | None]:
        key, entry, sequence = self._draw_sequence(rng)
        candidates = np.flatnonzero(sequence.visible)
        if len(candidates) == 0:
            return None, None
        first = int(rng.choice(candidates))
        template = _Frame(key, sequence, first)
        if sequence.static:
            return template, template
        if entry.max_diff is None:
            raise ValueError(f"video source {entry.source!r} needs a max_diff")
        second = int(rng.choice(candidates[np.abs(candidates - first) <= entry.max_diff]))
        return template, template if second == first else _Frame(key, sequence, second)

    def _draw_frame(self, rng: np.random.Generator) -> _Frame | None:
        key, _, sequence = self._draw_sequence(rng)
        candidates = np.flatnonzero(sequence.visible)
        if len(candidates) == 0:
            return None
        return _Frame(key, sequence, int(rng.choice(candidates)))
