"""The procedural sequence generator: determinism, exact boxes, GOT-10k layout on disk."""

from __future__ import annotations

import dataclasses
import time

import cv2
import numpy as np
import pytest

from siamfcpp.data.sources.synthetic import (
    generate_sequence,
    make_sequence,
    sequence_name,
    write_got10k_split,
)
from siamfcpp.geometry import iou_xywh


def test_same_seed_same_sequence_other_seed_differs():
    frames_a, boxes_a = generate_sequence((3, 1), 12, (160, 120))
    frames_b, boxes_b = generate_sequence((3, 1), 12, (160, 120))
    frames_c, boxes_c = generate_sequence((3, 2), 12, (160, 120))
    assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True))
    np.testing.assert_array_equal(boxes_a, boxes_b)
    assert not np.allclose(boxes_a, boxes_c)
    assert not np.array_equal(frames_a[0], frames_c[0])


def test_frames_are_bgr_uint8_and_random_access_matches():
    seq = make_sequence(7, 30, (200, 100))
    frames, boxes = generate_sequence(7, 30, (200, 100))
    assert len(frames) == len(seq) == 30 and boxes.shape == (30, 4)
    assert all(f.shape == (100, 200, 3) and f.dtype == np.uint8 for f in frames)
    np.testing.assert_array_equal(seq.frame(17), frames[17])


@pytest.mark.parametrize("seed", range(6))
def test_boxes_inside_frame_and_smooth(seed):
    width, height = 320, 240
    _, boxes = generate_sequence(seed, 120, (width, height))
    x, y, w, h = boxes.T
    assert (w > 10).all() and (h > 10).all()
    assert (x >= 0).all() and (y >= 0).all()
    assert (x + w <= width + 1e-9).all() and (y + h <= height + 1e-9).all()
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    assert step.max() < 0.1 * width  # smooth motion: no jumps ...
    assert step.mean() > 2.0  # ... but fast enough that a tracker must follow (pixels per frame)
    assert np.abs(np.diff(np.log(w * h))).max() < 0.15  # smooth scale change
    assert np.ptp(np.log(w * h)) > 0.1  # and the scale does change


def test_a_static_box_does_not_solve_the_default_benchmark():
    """The benchmark's default sequences (seed 0, 4 x 30 frames): the first box kept for the
    whole sequence overlaps the ground truth little, so AO measures tracking, not staying put."""
    ious = []
    for k in range(4):
        boxes = make_sequence((0, k), 30, (320, 240)).boxes
        ious.append(iou_xywh(np.repeat(boxes[:1], 29, axis=0), boxes[1:]).mean())
    assert np.mean(ious) < 0.4


def test_every_sequence_has_distractors_some_look_alike():
    """1-3 distractors per sequence; look-alikes share the target's colour within a few levels."""
    counts, look_alikes = [], 0
    for seed in range(20):
        seq = make_sequence(seed, 2, (160, 120))
        counts.append(len(seq.distractors))
        target_colour = seq.target_texture.mean(axis=(0, 1))
        for texture, _ in seq.distractors:
            look_alikes += np.abs(texture.mean(axis=(0, 1)) - target_colour).max() < 40
    assert min(counts) >= 1 and max(counts) <= 3
    assert 0 < look_alikes < sum(counts)


def test_target_is_painted_exactly_inside_its_box():
    """Pixels fully inside the box show the target texture, pixels outside are untouched."""
    seq = make_sequence(11, 5, (160, 120))
    plain = seq.frame(2)
    x, y, w, h = seq.boxes[2]
    hidden = seq.boxes.copy()
    hidden[:, 2:] = 0.0  # a zero-size target paints nothing
    without_target = dataclasses.replace(seq, boxes=hidden).frame(2)
    changed = np.any(plain != without_target, axis=2)
    rows, cols = np.nonzero(changed)
    # Everything the target changed lies within the box rounded outwards ...
    assert cols.min() >= np.floor(x) and cols.max() <= np.ceil(x + w) - 1
    assert rows.min() >= np.floor(y) and rows.max() <= np.ceil(y + h) - 1
    # ... and the target covers the box: its bounding extent equals the gt within a pixel.
    assert abs(cols.min() - x) < 1 and abs(cols.max() + 1 - (x + w)) < 1
    assert abs(rows.min() - y) < 1 and abs(rows.max() + 1 - (y + h)) < 1


def test_rendering_is_fast():
    seq = make_sequence(0, 60, (320, 240))
    start = time.perf_counter()
    for t in range(60):
        seq.frame(t)
    per_frame = (time.perf_counter() - start) / 60
    assert per_frame < 0.02, f"{per_frame * 1e3:.1f} ms per frame"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_frames"):
        make_sequence(0, 0)
    with pytest.raises(ValueError, match="frame_size"):
        make_sequence(0, 5, (16, 240))
    with pytest.raises(ValueError, match="split"):
        write_got10k_split("/nonexistent", "bogus", 1, 1)


def test_got10k_layout_val_and_test(tmp_path):
    from got10k.datasets import GOT10k

    names = write_got10k_split(tmp_path, "val", 2, 6, (96, 64), seed=5)
    assert names == [sequence_name("val", 0), sequence_name("val", 1)]
    dataset = GOT10k(str(tmp_path), subset="val", return_meta=True)
    assert dataset.seq_names == names
    img_files, anno, meta = dataset[1]
    _, boxes = generate_sequence((5, 1), 6, (96, 64))
    assert len(img_files) == 6
    np.testing.assert_allclose(anno, boxes, atol=1e-4)
    assert meta["resolution"] == "(96, 64)" and (meta["cover"] == 8).all()
    img = cv2.imread(img_files[0])
    assert img.shape == (64, 96, 3)

    write_got10k_split(tmp_path, "test", 1, 6, (96, 64), seed=5)
    test_files, test_anno = GOT10k(str(tmp_path), subset="test")[0]
    assert len(test_files) == 6 and test_anno.shape == (1, 4)
