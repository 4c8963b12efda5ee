"""VOT accuracy / robustness / EAO against the official VOT toolkit and the original's evaluator.

The result sets are hand-made by :func:`handmade_results` (deterministic): five sequences of
rotated-box polygons and rectangles, a scripted tracker that jitters around the target, leaves the
image, and fails at chosen frames (right after an initialisation, twice in a row, in the last five
frames, exactly five frames before the end), written in the VOT supervised layout.

``tests/fixtures/vot_reference.json`` holds the numbers two evaluators gave on exactly these files
(``text_sha256`` guards that the generator still writes the same bytes):

* ``toolkit``: the official VOT toolkit, ``vot-toolkit`` 0.9.0 from PyPI (installed in a separate
  virtual environment, with ``attributee==0.1.9`` because 0.1.10 does not import on Python 3.11),
  run on a workspace holding these sequences and results: the analyses ``supervised_ar`` (per
  sequence accuracy and failures, burn-in 10, bounded) and ``supervised_eao_curve`` /
  ``supervised_eao_score`` with the VOT2018 ``[100, 356]``, VOT2019 ``[46, 291]`` and a short
  ``[5, 30]`` interval, and ``vot.region.raster.calculate_overlap`` on random region pairs;
* ``original``: the original implementation's bundled pysot evaluator
  (``videoanalyst/evaluation/vot_benchmark/pysot``: ``AccuracyRobustnessBenchmark``,
  ``EAOBenchmark`` with its ``low`` / ``high`` set to the same intervals, its Cython ``region``
  extension built from its sources), on the same files in its pysot layout.

Our numbers must equal the toolkit's; the original's are kept to document where it differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from siamfcpp.evaluation.metrics.vot import (
    SequenceScore,
    accuracy_robustness,
    count_failures,
    eao_curve,
    eao_runs,
    eao_score,
    frame_overlaps,
    sequence_accuracy,
)
from siamfcpp.evaluation.metrics.vot_region import region_overlap, region_overlaps
from siamfcpp.evaluation.trajectory import (
    FAILURE,
    INIT,
    SKIPPED,
    TRACKED,
    Trajectory,
    format_trajectory,
    read_trajectory,
)

FIXTURE = Path(__file__).parent / "fixtures" / "vot_reference.json"
REINIT_DELAY = 5
BURNIN = 10

# name, frames, image (width, height), ground-truth kind, scripted failure frames, seed
SEQUENCES = [
    ("ants", 420, (320, 240), "polygon", [60, 61 + REINIT_DELAY, 250], 1),
    ("bolt", 380, (320, 240), "rectangle", [], 2),
    ("crab", 150, (200, 160), "polygon", [30, 100, 147], 3),
    ("dino", 200, (240, 180), "polygon", [195], 4),
    ("eel", 90, (160, 120), "rectangle", [40], 5),
]


def _target_path(frames: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``[T, 5]`` centre x, centre y, width, height, angle of a target drifting across (and, for
    part of the way, out of) the image."""
    t = np.linspace(0.0, 1.0, frames)
    width, height = size
    cx = width * (0.5 + 0.55 * np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5)))
    cy = height * (0.5 + 0.3 * np.cos(2 * np.pi * t * rng.uniform(0.5, 1.5)))
    w = rng.uniform(20, 50) * (1 + 0.3 * np.sin(6 * t))
    h = rng.uniform(15, 40) * (1 + 0.2 * np.cos(5 * t))
    angle = rng.uniform(-0.5, 0.5) + 0.8 * t
    return np.stack([cx, cy, w, h, angle], axis=1)


def _polygon(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.array([v for dx, dy in corners for v in (cx + c * dx - s * dy, cy + s * dx + c * dy)])


def handmade_results() -> list[dict]:
    """The hand-made sequences: ``name``, ``image_size``, ``regions`` and the ``trajectory``."""
    sequences = []
    for name, frames, size, kind, failures, seed in SEQUENCES:
        rng = np.random.default_rng(seed)
        path = _target_path(frames, size, rng)
        regions, status, boxes = [], [], []
        next_init = 0
        for t, (cx, cy, w, h, angle) in enumerate(path):
            if kind == "polygon":
                region = np.round(_polygon(cx, cy, w, h, angle), 2)
            else:
                region = np.round([cx - w / 2, cy - h / 2, w, h], 2)
            regions.append(region)
            xs, ys = (region[0::2], region[1::2]) if kind == "polygon" else (None, None)
            x0, y0, x1, y1 = (
                (xs.min(), ys.min(), xs.max(), ys.max())
                if kind == "polygon"
                else (region[0], region[1], region[0] + region[2], region[1] + region[3])
            )
            if t == next_init:
                status.append(INIT)
                boxes.append([np.nan] * 4)
            elif t < next_init:
                status.append(SKIPPED)
                boxes.append([np.nan] * 4)
            elif t in failures:
                status.append(FAILURE)
                boxes.append([np.nan] * 4)
                next_init = t + REINIT_DELAY
            else:
                jitter = rng.normal(0, [3, 3, 0.1, 0.1])
                bw, bh = (x1 - x0) * (1 + jitter[2]), (y1 - y0) * (1 + jitter[3])
                box = [x0 + jitter[0], y0 + jitter[1], bw, bh]
                status.append(TRACKED)
                boxes.append(np.round(box, 4))
        regions_out = [
            np.array(b, dtype=np.float64) if s == TRACKED else np.zeros(0)
            for s, b in zip(status, boxes, strict=True)
        ]
        trajectory = Trajectory(np.array(status), regions_out)
        sequences.append(
            dict(name=name, image_size=size, regions=regions, trajectory=trajectory, kind=kind)
        )
    return sequences


def groundtruth_text(regions: list[np.ndarray]) -> str:
    return "".join(",".join(f"{v:.2f}" for v in r) + "\n" for r in regions)


def results_sha256(sequences: list[dict]) -> str:
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(seq["name"].encode())
        digest.update(groundtruth_text(seq["regions"]).encode())
        digest.update(format_trajectory(seq["trajectory"]).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def scored():
    """Our per-sequence overlaps, scores and EAO runs on the hand-made set."""
    sequences = handmade_results()
    out = {"sequences": sequences, "scores": [], "runs": [], "overlaps": {}}
    for seq in sequences:
        traj = seq["trajectory"]
        overlaps = frame_overlaps(traj, seq["regions"], seq["image_size"])
        out["overlaps"][seq["name"]] = overlaps
        out["scores"].append(
            SequenceScore(
                seq["name"],
                len(traj),
                sequence_accuracy(overlaps, traj.status, BURNIN),
                count_failures(traj.status),
            )
        )
        out["runs"].extend(eao_runs(overlaps, traj.status))
    return out


def test_generator_writes_the_files_the_references_were_computed_on(reference, scored):
    assert results_sha256(scored["sequences"]) == reference["text_sha256"]
    # The text round trip gives the numbers as float32, as the toolkit reads them.
    for seq in scored["sequences"]:
        parsed = _roundtrip(seq["trajectory"])
        np.testing.assert_array_equal(parsed.status, seq["trajectory"].status)
        for got, written in zip(parsed.regions, seq["trajectory"].regions, strict=True):
            np.testing.assert_array_equal(got, np.float32(written))


def _roundtrip(trajectory: Trajectory) -> Trajectory:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seq_001.txt"
        path.write_text(format_trajectory(trajectory))
        return read_trajectory(path)


def test_region_overlap_equals_toolkit_on_random_pairs(reference):
    cases = reference["region_overlaps"]
    assert sum(c["overlap"] > 0 for c in cases) > 100  # the set exercises real intersections
    for case in cases:
        ours = region_overlap(np.array(case["a"]), np.array(case["b"]), tuple(case["image_size"]))
        assert ours == pytest.approx(case["overlap"], abs=1e-12), case
    # all at once (by kind: closed form, row counts, rasterised polygons), as runs score them
    batched = region_overlaps(
        [np.array(c["a"]) for c in cases],
        [np.array(c["b"]) for c in cases],
        [tuple(c["image_size"]) for c in cases],
    )
    np.testing.assert_allclose(batched, [c["overlap"] for c in cases], rtol=0, atol=1e-12)


def test_init_box_equals_original(reference):
    from siamfcpp.evaluation.datasets.vot_layout import init_box_xywh

    for case in reference["init_boxes"]:
        np.testing.assert_array_equal(init_box_xywh(np.array(case["region"])), case["box"])


def test_per_sequence_accuracy_and_failures_equal_toolkit(reference, scored):
    toolkit = reference["toolkit"]["sequences"]
    for score in scored["scores"]:
        assert score.frames == toolkit[score.name]["frames"]
        assert score.failures == toolkit[score.name]["failures"]
        assert score.accuracy == pytest.approx(toolkit[score.name]["accuracy"], abs=1e-9)


def test_accuracy_and_robustness_equal_toolkit(reference, scored):
    toolkit = reference["toolkit"]
    accuracy, robustness = accuracy_robustness(scored["scores"])
    assert accuracy == pytest.approx(toolkit["accuracy"], abs=1e-6)
    # The VOT papers' R (failure rate): 100 * failures / frames over the toolkit's per-sequence
    # counts. The toolkit's own AR table shows the frame-weighted mean of per-sequence failures.
    frames = sum(s["frames"] for s in toolkit["sequences"].values())
    failures = sum(s["failures"] for s in toolkit["sequences"].values())
    assert robustness == pytest.approx(100.0 * failures / frames, abs=1e-9)
    weighted = sum(s.failures * s.frames for s in scored["scores"]) / frames
    assert weighted == pytest.approx(toolkit["failures_weighted"], abs=1e-9)


def test_eao_curve_and_scores_equal_toolkit(reference, scored):
    toolkit = reference["toolkit"]
    curve = eao_curve(scored["runs"])
    expected = np.array(toolkit["eao_curve"], dtype=np.float64)
    assert curve.shape == expected.shape
    # The toolkit accumulates in float32.
    np.testing.assert_allclose(curve[1:], expected[1:], atol=1e-6)
    for key, interval in reference["intervals"].items():
        assert eao_score(curve, tuple(interval)) == pytest.approx(toolkit["eao"][key], abs=1e-6)


def test_original_evaluator_differs_from_toolkit(reference, scored):
    """The original's bundled pysot evaluator on the same files (documented, not matched).

    Robustness agrees (both 100 * failures / frames); accuracy and EAO do not: it rasterises a box
    ``x, y, w, h`` one pixel wider and taller (corners at ``x + w``, filled inclusively) and with
    other scan-line rules, bounds accuracy overlaps by ``(width, height)`` but EAO overlaps by
    ``(width - 1, height - 1)``, pools accuracy over all frames instead of weighting per-sequence
    means by length, averages the EAO curve over lengths ``low - 1 .. high - 1``, and does not count
    a failure in the last five frames as a failed EAO run.
    """
    original = reference["original"]
    accuracy, robustness = accuracy_robustness(scored["scores"])
    assert original["robustness"] == pytest.approx(robustness, abs=1e-9)
    assert original["failures"] == sum(s.failures for s in scored["scores"])
    assert abs(original["accuracy"] - accuracy) > 1e-3
    curve = eao_curve(scored["runs"])
    for key, interval in reference["intervals"].items():
        assert abs(original["eao"][key] - eao_score(curve, tuple(interval))) > 1e-3
    # A box as the original rasterises it: one more pixel column and row than the toolkit's.
    box = np.array([10.0, 10.0, 20.0, 10.0])
    original_box = np.array([10, 10, 30, 10, 30, 20, 10, 20], dtype=np.float64)
    assert region_overlap(box, original_box, (100, 100)) == pytest.approx(200 / 231)


def test_eao_runs_cut_at_failures_and_keep_the_finished_tail():
    status = np.array([INIT, TRACKED, FAILURE, SKIPPED, INIT, TRACKED, TRACKED, FAILURE, SKIPPED])
    overlaps = np.array([0, 0.5, 0, 0, 0, 0.8, 0.6, 0, 0])
    runs = eao_runs(overlaps, status)
    assert [(o.tolist(), failed) for o, failed in runs] == [
        ([0, 0.5], True),
        ([0, 0.8, 0.6], True),
    ]
    status = np.array([INIT, TRACKED, FAILURE, SKIPPED, INIT, TRACKED])
    runs = eao_runs(np.array([0, 0.5, 0, 0, 0, 0.9]), status)
    assert [failed for _, failed in runs] == [True, False]
    curve = eao_curve(runs)
    # length 1: both runs (0.5, 0.9); length 2..: only the failed run, counting 0 past its end.
    np.testing.assert_allclose(curve[1], 0.7)
    assert np.isnan(eao_score(curve, (100, 356)))


def test_accuracy_leaves_out_burnin_failures_and_skipped_frames():
    status = np.array([INIT, TRACKED, TRACKED, TRACKED, FAILURE, SKIPPED, INIT, TRACKED])
    overlaps = np.array([0, 0.1, 0.2, 0.6, 0, 0, 0, 0.3])
    assert sequence_accuracy(overlaps, status, burnin=3) == pytest.approx(0.6)
    assert sequence_accuracy(overlaps, status, burnin=10) == 0.0
    assert count_failures(status) == 1
