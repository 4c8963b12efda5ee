"""Pair sampling: source mixing, frame gap, negative pairs, visibility, the pair filter, seeding.

Frames here are tiny in-memory images whose pixel values encode where they came from
(channel 0: source id, channel 1: sequence index, channel 2: frame index), so each test can read
the provenance of a sampled pair back from its images.
"""

from __future__ import annotations

import numpy as np
import pytest

from siamfcpp.data.sampling import MixtureEntry, PairFilter, TrackPair, TrackPairSampler
from siamfcpp.data.sources.base import TrackSequence, TrackSource

SIZE = 40  # frame side; a 10 x 10 box covers 1/16 of it
ACCEPT_ALL = PairFilter(min_area_rate=0.0, max_area_rate=1.0, max_ratio=1e9)
RECIPE_FILTER = PairFilter(min_area_rate=0.001, max_area_rate=0.6, max_ratio=10)


class MemorySource(TrackSource):
    """``num_sequences`` sequences of ``num_frames`` labelled frames with 10 x 10 boxes."""

    def __init__(
        self, source_id, num_sequences, num_frames, static=False, boxes=None, visible=None
    ):
        self.source_id = source_id
        self.num_sequences = num_sequences
        self.num_frames = num_frames
        self.static = static
        self.boxes = np.tile([5.0, 5.0, 10.0, 10.0], (num_frames, 1)) if boxes is None else boxes
        self.visible = np.ones(num_frames, dtype=bool) if visible is None else visible

    def __len__(self):
        return self.num_sequences

    def __getitem__(self, index):
        if self.static:  # one image, its rows are different objects
            image = np.full((SIZE, SIZE, 3), (self.source_id, index, 0), dtype=np.uint8)
            frames = [image] * self.num_frames
        else:
            frames = [
                np.full((SIZE, SIZE, 3), (self.source_id, index, t), dtype=np.uint8)
                for t in range(self.num_frames)
            ]
        return TrackSequence(f"s{index}", frames, self.boxes, self.visible, static=self.static)


def _origin(image: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in image[0, 0])


def _draw(sampler: TrackPairSampler, n: int, seed: int = 0) -> list[TrackPair]:
    return [sampler.sample(np.random.default_rng((seed, i))) for i in range(n)]


def test_sources_are_mixed_by_ratio():
    mixture = [
        MixtureEntry(MemorySource(1, 5, 10), ratio=0.3, max_diff=100),
        MixtureEntry(MemorySource(2, 5, 10), ratio=0.1, max_diff=100),
        MixtureEntry(MemorySource(3, 5, 10), ratio=0.0, max_diff=100),  # ratio 0: never drawn
    ]
    pairs = _draw(TrackPairSampler(mixture, 0.0, ACCEPT_ALL), 2000)
    sources = np.array([_origin(p.image_z)[0] for p in pairs])
    assert set(sources) == {1, 2}
    # 0.75 expected; binomial sd ~0.01
    assert abs(np.mean(sources == 1) - 0.75) < 0.04
    # a positive pair comes from one sequence of one source
    assert all(_origin(p.image_z)[:2] == _origin(p.image_x)[:2] for p in pairs)


def test_positive_pairs_respect_max_diff_both_ways():
    max_diff = 3
    mixture = [MixtureEntry(MemorySource(1, 2, 30), ratio=1.0, max_diff=max_diff)]
    pairs = _draw(TrackPairSampler(mixture, 0.0, ACCEPT_ALL), 1500)
    gaps = np.array([_origin(p.image_x)[2] - _origin(p.image_z)[2] for p in pairs])
    assert np.abs(gaps).max() == max_diff
    assert set(gaps) == set(range(-max_diff, max_diff + 1))  # every allowed gap occurs


def test_negative_pair_ratio_and_negatives_come_from_different_sequences():
    mixture = [MixtureEntry(MemorySource(1, 2, 5), ratio=1.0, max_diff=100)]
    pairs = _draw(TrackPairSampler(mixture, 0.3, ACCEPT_ALL), 2000)
    negative = np.array([p.negative for p in pairs])
    assert abs(negative.mean() - 0.3) < 0.04  # binomial sd ~0.01
    for p in pairs:
        same_sequence = _origin(p.image_z)[:2] == _origin(p.image_x)[:2]
        assert same_sequence != p.negative


def test_invisible_frames_are_never_used():
    visible = np.array([True, False, True, False, False, True])
    mixture = [MixtureEntry(MemorySource(1, 3, 6, visible=visible), ratio=1.0, max_diff=100)]
    pairs = _draw(TrackPairSampler(mixture, 0.5, ACCEPT_ALL), 300)
    used = {_origin(im)[2] for p in pairs for im in (p.image_z, p.image_x)}
    assert used == {0, 2, 5}


def test_static_images_pair_an_object_with_itself():
    boxes = np.array([[1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 8.0, 12.0]])
    source = MemorySource(4, 3, 2, static=True, boxes=boxes)
    pairs = _draw(TrackPairSampler([MixtureEntry(source, ratio=1.0)], 0.0, ACCEPT_ALL), 400)
    for p in pairs:
        assert p.image_x is p.image_z
        np.testing.assert_array_equal(p.box_x, p.box_z)
    first_object = np.mean([p.box_z[0] == 1.0 for p in pairs])
    assert 0.4 < first_object < 0.6  # objects drawn uniformly


def test_pair_filter_thresholds():
    image = (100, 100)
    f = RECIPE_FILTER
    assert f.accepts(image, np.array([0, 0, 10, 10]))  # area rate 0.01, ratio 1
    assert not f.accepts(image, np.array([0, 0, 1, 10]))  # area rate exactly 0.001: not above
    assert f.accepts(image, np.array([0, 0, 1.1, 10]))
    assert not f.accepts(image, np.array([0, 0, 60, 100]))  # area rate 0.6: not below
    assert f.accepts(image, np.array([0, 0, 59, 100]))
    assert not f.accepts(image, np.array([0, 0, 50, 5]))  # ratio 10: not below
    assert f.accepts(image, np.array([0, 0, 49, 5]))
    assert not f.accepts(image, np.array([0, 0, 0, 0]))  # degenerate


def test_filtered_frames_are_never_sampled():
    boxes = np.tile([5.0, 5.0, 10.0, 10.0], (4, 1))
    boxes[1] = [0, 0, 1, 1]  # too small for a 40 x 40 frame
    boxes[3] = [0, 0, 39, 39]  # too large
    mixture = [MixtureEntry(MemorySource(1, 2, 4, boxes=boxes), ratio=1.0, max_diff=100)]
    pairs = _draw(TrackPairSampler(mixture, 0.3, RECIPE_FILTER), 300)
    used = {_origin(im)[2] for p in pairs for im in (p.image_z, p.image_x)}
    assert used == {0, 2}


def test_sampling_is_deterministic_given_the_generator():
    mixture = [
        MixtureEntry(MemorySource(1, 7, 20), ratio=1.0, max_diff=5),
        MixtureEntry(MemorySource(2, 7, 3, static=True), ratio=1.0),
    ]
    sampler = TrackPairSampler(mixture, 0.3, ACCEPT_ALL)

    def provenance(seed):
        return [
            (_origin(p.image_z), _origin(p.image_x), p.negative) for p in _draw(sampler, 50, seed)
        ]

    assert provenance(1) == provenance(1)
    assert provenance(1) != provenance(2)


def test_unusable_mixtures_fail_clearly():
    with pytest.raises(ValueError, match="no sequences"):
        TrackPairSampler([MixtureEntry(MemorySource(1, 0, 5), 1.0, 10)], 0.0, ACCEPT_ALL)
    with pytest.raises(ValueError, match="at least one source"):
        TrackPairSampler([MixtureEntry(MemorySource(1, 2, 5), 0.0, 10)], 0.0, ACCEPT_ALL)
    hopeless = PairFilter(min_area_rate=0.9, max_area_rate=1.0, max_ratio=10)
    sampler = TrackPairSampler([MixtureEntry(MemorySource(1, 2, 5), 1.0, 10)], 0.0, hopeless)
    with pytest.raises(RuntimeError, match="no usable training pair"):
        sampler.sample(np.random.default_rng(0))
    no_gap = TrackPairSampler([MixtureEntry(MemorySource(1, 2, 5), 1.0)], 0.0, ACCEPT_ALL)
    with pytest.raises(ValueError, match="max_diff"):
        no_gap.sample(np.random.default_rng(0))
