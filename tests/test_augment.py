"""The random crop of training pairs: geometry, padding, and parity with the original.

Fixture ``fixtures/random_crop_original.npz`` holds numbers from the original implementation's
``videoanalyst.data.utils.crop_track_pair`` (video_analyst, numpy 2.4, OpenCV; run outside this
repo). Recipe: for each case in ``cases_json`` the frames are ``_pattern(W, H, k)`` (template) and
``_pattern(W, H, k + 10)`` (search) for case ``k``; the boxes are converted to the original's
``x1, y1, x2, y2 = x, y, x + w - 1, y + h - 1``; ``config`` = ``context_amount 0.5, z_size 127``
plus the case's sizes and jitter limits; ``rng`` is :class:`ScriptedRng` over ``case<k>_u``.
Stored: the output boxes, the number of uniform draws used and the crops subsampled
(``im_z[::2, ::2]``, ``im_x[::3, ::3]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from siamfcpp.data.augment import RandomCropPair

FIXTURE = Path(__file__).parent / "fixtures" / "random_crop_original.npz"
RECIPE = dict(z_size=127, context_amount=0.5, max_scale=0.3, max_shift=0.4)


class ScriptedRng:
    """``uniform(low, high[, size])`` = ``low + u * (high - low)``, ``u`` from a fixed stream."""

    def __init__(self, us: np.ndarray) -> None:
        self.us = us
        self.used = 0

    def uniform(self, low, high, size=None):
        n = 1 if size is None else int(np.prod(size))
        u = self.us[self.used : self.used + n]
        self.used += n
        out = low + u * (high - low)
        return float(out[0]) if size is None else out.reshape(size)


def _pattern(width: int, height: int, seed: int) -> np.ndarray:
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    values = x * (3 + seed) + y * (5 + 2 * seed) + 40 * c + (x * y) // 37
    return (values % 256).astype(np.uint8)


def _cases():
    data = np.load(FIXTURE)
    return [(k, case, data) for k, case in enumerate(json.loads(bytes(data["cases_json"])))]


@pytest.mark.parametrize(
    "k, case, data", _cases(), ids=lambda v: str(v) if isinstance(v, int) else ""
)
def test_random_crop_matches_the_original(k, case, data):
    width, height = case["frame_size"]
    crop = RandomCropPair(
        z_size=127,
        x_size=case["x_size"],
        context_amount=0.5,
        max_scale=case["max_scale"],
        max_shift=case["max_shift"],
        max_scale_temp=case["max_scale_temp"],
        max_shift_temp=case["max_shift_temp"],
    )
    rng = ScriptedRng(data[f"case{k}_u"])
    out = crop(
        _pattern(width, height, k),
        np.array(case["box_z"]),
        _pattern(width, height, k + 10),
        np.array(case["box_x"]),
        rng,
    )
    assert rng.used == int(data[f"case{k}_draws"])
    # the original computes in float32
    np.testing.assert_allclose(out.box_z_xyxy, data[f"case{k}_box_z_xyxy"], atol=1e-4)
    np.testing.assert_allclose(out.box_x_xyxy, data[f"case{k}_box_x_xyxy"], atol=1e-4)
    for name, ours, step in (("im_z", out.image_z, 2), ("im_x", out.image_x, 3)):
        theirs = data[f"case{k}_{name}_every{step}"]
        diff = np.abs(ours[::step, ::step].astype(int) - theirs.astype(int))
        # float32 there, float64 here: a rare pixel rounds the other way
        assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3, name


def _bright_extent(image: np.ndarray) -> np.ndarray:
    """Inclusive ``x1, y1, x2, y2`` of the pixels brighter than mid-grey."""
    ys, xs = np.nonzero(image[..., 0] > 127)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_object_lands_where_the_crop_says(seed):
    gen = np.random.default_rng(seed)
    frame_z = np.full((240, 320, 3), 40, dtype=np.uint8)
    frame_x = np.full((240, 320, 3), 40, dtype=np.uint8)
    box_z = np.array([100.0, 80.0, 60.0, 40.0])
    box_x = np.array([gen.uniform(20, 200), gen.uniform(20, 150), 50.0, 70.0])
    for frame, (x, y, w, h) in ((frame_z, box_z), (frame_x, box_x)):
        frame[int(y) : int(y + h), int(x) : int(x + w)] = 230  # integer boxes: exact extents
    box_x = np.floor(box_x)
    crop = RandomCropPair(x_size=303, max_scale_temp=0.0, max_shift_temp=0.0, **RECIPE)
    out = crop(frame_z, box_z, frame_x, box_x, gen)
    # bilinear edges blur by about one pixel
    np.testing.assert_allclose(_bright_extent(out.image_x), out.box_x_xyxy, atol=1.5)
    np.testing.assert_allclose(_bright_extent(out.image_z), out.box_z_xyxy, atol=1.5)
    assert np.all(out.box_x_xyxy >= 0) and np.all(out.box_x_xyxy <= 302)


def test_without_jitter_the_search_object_is_centred_at_template_scale():
    frame = np.zeros((240, 320, 3), dtype=np.uint8)
    box = np.array([100.0, 80.0, 60.0, 40.0])
    crop = RandomCropPair(
        z_size=127, x_size=303, context_amount=0.5, max_scale=0.0, max_shift=0.0,
        max_scale_temp=0.0, max_shift_temp=0.0,
    )  # fmt: skip
    out = crop(frame, box, frame, box, np.random.default_rng(0))
    scale = 127 / np.sqrt((60 + 50) * (40 + 50))  # context 0.5 * (w + h) on each side
    w, h = 60 * scale, 40 * scale
    c = (303 - 1) / 2
    np.testing.assert_allclose(
        out.box_x_xyxy, [c - (w - 1) / 2, c - (h - 1) / 2, c + (w - 1) / 2, c + (h - 1) / 2]
    )
    assert out.image_z.shape == (127, 127, 3) and out.image_x.shape == (303, 303, 3)


def test_crops_are_padded_with_the_template_mean_colour():
    frame_z = np.zeros((100, 100, 3), dtype=np.uint8)
    frame_z[:50] = (200, 100, 30)  # mean (100, 50, 15)
    frame_x = np.full((100, 100, 3), 255, dtype=np.uint8)
    crop = RandomCropPair(x_size=303, max_scale_temp=0.0, max_shift_temp=0.0, **RECIPE)
    out = crop(frame_z, np.array([0.0, 0.0, 20, 20]), frame_x, np.array([0, 0, 20, 20.0]),
               np.random.default_rng(3))  # fmt: skip
    # objects in the frame corner: the crops' top-left corners lie outside the frames
    np.testing.assert_array_equal(out.image_x[0, 0], [100, 50, 15])
    np.testing.assert_array_equal(out.image_z[0, 0], [100, 50, 15])


def test_degenerate_boxes_are_rejected():
    frame = np.zeros((50, 50, 3), dtype=np.uint8)
    crop = RandomCropPair(x_size=303, max_scale_temp=0.0, max_shift_temp=0.0, **RECIPE)
    with pytest.raises(ValueError, match="degenerate"):
        crop(frame, np.array([1.0, 1, 0, 0]), frame, np.array([1.0, 1, 5, 5]),
             np.random.default_rng(0))  # fmt: skip
