"""One-pass benchmarks: each reader on a tiny data set in its official layout; run, score."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamfcpp.evaluation.datasets.lasot import LaSOTBenchmark
from siamfcpp.evaluation.datasets.otb import OTBBenchmark
from siamfcpp.evaluation.datasets.trackingnet import TrackingNetBenchmark
from siamfcpp.evaluation.datasets.uav123 import UAV123Benchmark
from siamfcpp.evaluation.metrics.one_pass import one_pass_metrics
from siamfcpp.evaluation.pipeline import score_results
from siamfcpp.tracking.engine import SequentialSlots


class StillTracker:
    """Reports the initial box on every frame; counts its instances."""

    created = 0

    def __init__(self):
        StillTracker.created += 1

    def init(self, frame, box_xywh):
        assert frame.dtype == np.uint8 and frame.ndim == 3
        self.box = np.asarray(box_xywh, float)

    def update(self, frame):
        return self.box


STILL = SequentialSlots(StillTracker)  # an engine of the still tracker


def _frames(folder: Path, names: list[str], size=(24, 16)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img = np.full((size[1], size[0], 3), 128, np.uint8)
    for name in names:
        cv2.imwrite(str(folder / name), img)


def _gt(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(np.column_stack([rng.uniform(0, 8, (n, 2)), rng.uniform(2, 8, (n, 2))]), 2)


def _write(path: Path, boxes: np.ndarray, delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, boxes, fmt="%.2f", delimiter=delimiter)


def _check_run(bench, tmp_path, expected_gt: dict[str, np.ndarray], normalized: bool):
    out = tmp_path / "out"
    StillTracker.created = 0
    result = bench.run(STILL, out, "still")
    assert StillTracker.created == len(expected_gt)
    assert [r["name"] for r in result["sequences"]] == list(expected_gt)
    per_seq = []
    for name, gt in expected_gt.items():
        boxes = np.loadtxt(out / "still" / f"{name}.txt", delimiter=",")
        np.testing.assert_allclose(boxes, np.repeat(gt[:1], len(gt), axis=0), atol=1e-4)
        assert len(np.loadtxt(out / "still" / f"{name}_time.txt")) == len(gt)
        per_seq.append(one_pass_metrics(boxes, gt, normalized=normalized))
    for key in per_seq[0]:
        assert result["metrics"][key] == pytest.approx(np.mean([m[key] for m in per_seq]))
    assert result["metrics"]["FPS"] > 0
    success = result["curves"]["success"]
    assert np.mean(success["y"]) == pytest.approx(result["metrics"]["Success"])
    assert result["curves"]["precision"]["y"][20] == pytest.approx(result["metrics"]["Precision"])
    assert (out / "success_plot.png").stat().st_size > 0
    assert (out / "metrics.json").is_file() and (out / "sequences.md").is_file()
    # A rerun finds every result and tracks nothing.
    StillTracker.created = 0
    again = bench.run(STILL, out, "still")
    assert StillTracker.created == 0 and again["metrics"] == pytest.approx(result["metrics"])
    return result


def test_otb_reader_special_sequences(tmp_path):
    root = tmp_path / "OTB100"
    gt_b, gt_j1, gt_j2 = _gt(5, 0), _gt(4, 1), _gt(4, 2)
    _frames(root / "Basketball" / "img", [f"{i:04d}.jpg" for i in range(1, 6)])
    _write(root / "Basketball" / "groundtruth_rect.txt", gt_b)
    _frames(root / "Jogging" / "img", [f"{i:04d}.jpg" for i in range(1, 5)])
    _write(root / "Jogging" / "groundtruth_rect.1.txt", gt_j1, delimiter="\t")
    _write(root / "Jogging" / "groundtruth_rect.2.txt", gt_j2)
    with pytest.raises(FileNotFoundError, match=r"of the 98 OTB100 sequence folders are missing"):
        OTBBenchmark(root).sequences()  # 2 folders of 98 are not OTB100
    bench = OTBBenchmark(root, sequences=["Basketball", "Jogging.1", "Jogging.2"])
    seqs = bench.sequences()
    assert [s.name for s in seqs] == ["Basketball", "Jogging.1", "Jogging.2"]
    np.testing.assert_allclose(seqs[1].gt, gt_j1)
    result = _check_run(
        bench, tmp_path, {"Basketball": gt_b, "Jogging.1": gt_j1, "Jogging.2": gt_j2}, False
    )
    assert set(result["metrics"]) == {"Success", "Precision", "FPS"}


def test_uav123_reader_frame_ranges_and_nan(tmp_path):
    root = tmp_path / "UAV123"
    n = 109  # uav6: frames 1..109 of data_seq/UAV123/uav6 (toolkit's uav123.json)
    gt = _gt(n, 3)
    gt[5] = np.nan  # absent target
    _frames(root / "data_seq" / "UAV123" / "uav6", [f"{i:06d}.jpg" for i in range(1, n + 1)])
    (root / "anno" / "UAV123").mkdir(parents=True)
    (root / "anno" / "UAV123" / "uav6.txt").write_text(
        "".join(
            "NaN,NaN,NaN,NaN\n" if np.isnan(r).any() else ",".join(map(str, r)) + "\n" for r in gt
        )
    )
    with pytest.raises(FileNotFoundError, match=r"122 of the 123 uav123 sequences are missing"):
        UAV123Benchmark(root).sequences()
    bench = UAV123Benchmark(root, sequences=["uav6"])
    (seq,) = bench.sequences()
    assert seq.name == "uav6" and len(seq.frames) == n and seq.frames[-1].name == "000109.jpg"
    assert np.isnan(seq.gt[5]).all()
    _check_run(bench, tmp_path, {"uav6": gt}, False)


def test_uav123_unknown_sequence(tmp_path):
    (tmp_path / "anno" / "UAV123").mkdir(parents=True)
    (tmp_path / "anno" / "UAV123" / "nonsense.txt").write_text("1,1,2,2\n")
    with pytest.raises(ValueError, match="nonsense"):
        UAV123Benchmark(tmp_path).sequences()


def test_lasot_reader(tmp_path):
    root = tmp_path / "LaSOT"
    gts = {"airplane-1": _gt(6, 4), "zebra-10": _gt(3, 5)}
    gts["airplane-1"][2] = 0.0  # LaSOT writes absent targets as zero boxes
    for name, gt in gts.items():
        seq_dir = root / name.split("-")[0] / name
        _frames(seq_dir / "img", [f"{i:08d}.jpg" for i in range(1, len(gt) + 1)])
        _write(seq_dir / "groundtruth.txt", gt)
    bench = LaSOTBenchmark(root, subset="all", sequences=list(gts))
    result = _check_run(bench, tmp_path, gts, True)
    assert "Norm. Precision" in result["metrics"]
    assert result["selection"] == list(gts) and "Explicit subset" in result["note"]
    with pytest.raises(FileNotFoundError, match="of the 280 lasot test sequences are missing"):
        LaSOTBenchmark(root, subset="test").sequences()
    with pytest.raises(FileNotFoundError, match="of the 1400 lasot all sequences are missing"):
        LaSOTBenchmark(root, subset="all").sequences()


def test_trackingnet_train_scored_test_zipped(tmp_path):
    root = tmp_path / "TrackingNet"
    gts = {"a_seq": _gt(12, 6), "b_seq": _gt(4, 7)}
    for split in ("TRAIN_0", "TEST"):
        for name, gt in gts.items():
            # 0-based names: numeric order (10.jpg after 9.jpg) matters
            _frames(root / split / "frames" / name, [f"{i}.jpg" for i in range(len(gt))])
            _write(root / split / "anno" / f"{name}.txt", gt if split == "TRAIN_0" else gt[:1])
    train = TrackingNetBenchmark(root, subset="TRAIN_0")
    seq = train.sequences()[0]
    assert [p.name for p in seq.frames[9:11]] == ["9.jpg", "10.jpg"]
    _check_run(train, tmp_path / "train", gts, True)

    with pytest.raises(FileNotFoundError, match=r"TEST has 2 sequences but .*511"):
        TrackingNetBenchmark(root, subset="TEST").sequences()
    test = TrackingNetBenchmark(root, subset="TEST", sequences=list(gts))
    result = test.run(STILL, tmp_path / "test", "still")
    assert set(result["metrics"]) == {"FPS"} and "server" in result["note"]
    with zipfile.ZipFile(result["submission"]) as zf:
        assert sorted(zf.namelist()) == ["a_seq.txt", "b_seq.txt"]
        assert len(zf.read("a_seq.txt").decode().splitlines()) == 12


def test_results_in_the_original_layout_score_as_our_run(tmp_path):
    """``evaluate.py results=PATH`` on a LaSOT folder laid out as the original's testers write it
    (``<seq>.txt`` boxes ``%.3f``, ``times/<seq>_time.txt``) scores as our own run of the same
    boxes; without time files the report has no FPS; a missing or foreign sequence is refused."""
    root = tmp_path / "LaSOT"
    gts = {"airplane-1": _gt(6, 4), "zebra-10": _gt(3, 5)}
    for name, gt in gts.items():
        seq_dir = root / name.split("-")[0] / name
        _frames(seq_dir / "img", [f"{i:08d}.jpg" for i in range(1, len(gt) + 1)])
        _write(seq_dir / "groundtruth.txt", gt)
    bench = LaSOTBenchmark(root, subset="all", sequences=list(gts))
    ours = bench.run(STILL, tmp_path / "ours", "still")
    original = tmp_path / "logs" / "GOT-Benchmark" / "result" / "LaSOT" / "siamfcpp_googlenet"
    for name, gt in gts.items():
        _write(original / f"{name}.txt", np.repeat(gt[:1], len(gt), axis=0))
    scored = score_results(bench, original, tmp_path / "report")
    assert scored["tracker"] == "siamfcpp_googlenet" and "FPS" not in scored["metrics"]
    assert scored["metrics"] == pytest.approx(
        {k: v for k, v in ours["metrics"].items() if k != "FPS"}
    )
    for name, gt in gts.items():
        _write(original / "times" / f"{name}_time.txt", np.full((len(gt), 1), 0.01))
    timed = score_results(bench, original, tmp_path / "report")
    assert timed["metrics"]["FPS"] == pytest.approx(100.0)
    _write(original / "cat-3.txt", _gt(2, 0))
    with pytest.raises(ValueError, match="cat-3"):
        score_results(bench, original, tmp_path / "report")
    (original / "cat-3.txt").unlink()
    (original / "zebra-10.txt").unlink()
    with pytest.raises(ValueError, match="lacks the results of 1 of the 2 lasot.*zebra-10"):
        score_results(bench, original, tmp_path / "report")


def test_missing_root_and_corrupt_frame(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark.root"):
        LaSOTBenchmark(tmp_path / "nope", subset="all").sequences()
    root = tmp_path / "LaSOT"
    seq_dir = root / "cat" / "cat-1"
    _frames(seq_dir / "img", ["00000001.jpg"])
    (seq_dir / "img" / "00000002.jpg").write_bytes(b"not a jpeg")
    _write(seq_dir / "groundtruth.txt", _gt(2, 0))
    with pytest.raises(FileNotFoundError, match="00000002.jpg"):
        LaSOTBenchmark(root, subset="all", sequences=["cat-1"]).run(
            STILL, tmp_path / "out", "still"
        )
