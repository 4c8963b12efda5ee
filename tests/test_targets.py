"""Dense-box targets: parity with the original and properties of the pure function.

Fixture ``tests/fixtures/targets_densebox_original.npz`` holds the outputs of the original
``videoanalyst/data/target/target_impl/utils/make_densebox_target.py`` (video_analyst, run once on
CPU, torch float32) followed by ``DenseboxTarget``'s negative-pair relabelling, for the boxes in
``CASES`` below, with ``score_size = (x_size - 127) // 8 + 1 - 2 * num_conv3x3`` (AlexNet: 303
and 3 convs; GoogLeNet: 289 and 2 convs) and ``score_offset = (x_size - 1 - (score_size - 1) * 8)
// 2``. Keys: ``<case>/{gt_xyxy, geometry (x_size, score_size, stride, negative), cls_gt,
ctr_gt, box_gt}``.
"""

from pathlib import Path

import numpy as np
import pytest

from siamfcpp.model.targets import IGNORE_LABEL, make_densebox_targets, score_map_offset

FIXTURE = Path(__file__).parent / "fixtures" / "targets_densebox_original.npz"
CASES = [
    "alexnet_positive",
    "alexnet_negative",
    "alexnet_border",
    "alexnet_tiny_between_cells",
    "alexnet_tiny_one_cell",
    "alexnet_on_grid",
    "alexnet_whole_crop",
    "googlenet_positive",
    "googlenet_negative",
]


@pytest.fixture(scope="module")
def original():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("case", CASES)
def test_matches_original(original, case):
    x_size, score_size, stride, negative = original[f"{case}/geometry"].tolist()
    targets = make_densebox_targets(
        original[f"{case}/gt_xyxy"],
        x_size=x_size,
        score_size=score_size,
        total_stride=stride,
        negative=bool(negative),
    )
    assert set(targets) == {"cls_gt", "ctr_gt", "box_gt"}
    for key in ("cls_gt", "ctr_gt", "box_gt"):
        expected = original[f"{case}/{key}"]
        assert targets[key].dtype == np.float32
        assert targets[key].shape == expected.shape
        np.testing.assert_allclose(targets[key], expected, rtol=0, atol=1e-5, err_msg=key)


def test_fixture_covers_the_label_kinds(original):
    """The fixture exercises positives, ignored cells and empty targets (guards the fixture)."""
    labels = {case: np.unique(original[f"{case}/cls_gt"]).tolist() for case in CASES}
    assert labels["alexnet_positive"] == [0.0, 1.0]
    assert labels["alexnet_negative"] == [IGNORE_LABEL, 0.0]
    assert labels["alexnet_tiny_between_cells"] == [0.0]
    assert (original["alexnet_tiny_one_cell/cls_gt"] == 1).sum() == 1


def test_cell_layout_is_row_major():
    """A box containing only the cell at (row 2, col 5) labels flat index 2 * 17 + 5."""
    offset = score_map_offset(x_size=303, score_size=17, total_stride=8)
    x, y = offset + 5 * 8, offset + 2 * 8
    targets = make_densebox_targets(
        np.array([x - 1, y - 1, x + 1, y + 2]),
        x_size=303,
        score_size=17,
        total_stride=8,
        negative=False,
    )
    assert np.flatnonzero(targets["cls_gt"][:, 0]).tolist() == [2 * 17 + 5]
    np.testing.assert_allclose(targets["box_gt"][2 * 17 + 5], [x - 1, y - 1, x + 1, y + 2])
    # centerness of the cell: min(1,1)*min(1,2) / (max(1,1)*max(1,2)) = 0.5
    np.testing.assert_allclose(targets["ctr_gt"][2 * 17 + 5, 0], np.sqrt(0.5), atol=1e-5)


def test_centered_box_has_peak_centerness_at_the_centre():
    offset = score_map_offset(x_size=303, score_size=17, total_stride=8)
    centre = offset + 8 * 8
    targets = make_densebox_targets(
        np.array([centre - 40.0, centre - 40.0, centre + 40.0, centre + 40.0]),
        x_size=303,
        score_size=17,
        total_stride=8,
        negative=False,
    )
    ctr = targets["ctr_gt"][:, 0]
    assert ctr.argmax() == 8 * 17 + 8
    assert ctr.max() == pytest.approx(1.0, abs=1e-5)
    assert np.all((ctr > 0) == (targets["cls_gt"][:, 0] == 1))


@pytest.mark.parametrize(
    "box, message",
    [(np.array([1.0, 2.0, 3.0]), "4 numbers"), (np.array([0.0, np.nan, 5.0, 5.0]), "finite")],
)
def test_bad_box_is_rejected(box, message):
    with pytest.raises(ValueError, match=message):
        make_densebox_targets(box, x_size=303, score_size=17, total_stride=8, negative=False)


def test_score_map_larger_than_crop_is_rejected():
    with pytest.raises(ValueError, match="does not fit"):
        make_densebox_targets(
            np.array([0.0, 0.0, 10.0, 10.0]),
            x_size=100,
            score_size=17,
            total_stride=8,
            negative=False,
        )
