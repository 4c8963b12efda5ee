"""VOT result lines (boxes and polygons) read, overlapped and scored as the official VOT toolkit
does, and ``evaluate.py results=PATH`` scoring a results folder that this project did not write.

``tests/fixtures/vot_polygon_reference.json`` holds what ``vot-toolkit`` 0.9.0 (from PyPI, run in a
separate virtual environment with ``attributee==0.1.9``; the toolkit is GPL and no part of it is in
this repository) gave for:

* ``lines``: 76 result lines (hand-chosen edge cases and random polygons): how
  ``vot.region.io`` parsed each (kind, float32 values, or the exception it raised) and
  ``vot.region.raster.calculate_overlap`` against 5 ground-truth regions at 2 image sizes (and
  unbounded, which the VOT analyses never use and which is not compared);
* ``files``: 7 whole result files (line endings, blank lines, a byte-order mark);
* ``result_set``: 4 sequences with polygon and rectangle ground truth and results mixing
  polygons, rectangles and codes 0 / 1 / 2, scored by ``python -m vot analysis`` (per-sequence
  accuracy and failures, burn-in 10, bounded; EAO curve; EAO over three intervals).

Where the toolkit silently gives a line another meaning (``nan`` -> code 0, ``2.9`` -> code 2,
3 or 5 numbers -> no region, a point, codes 3 / -1) our reader refuses it with ``file:line``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamfcpp.evaluation.datasets.vot import VOTBenchmark
from siamfcpp.evaluation.metrics.vot import eao_score
from siamfcpp.evaluation.metrics.vot_region import region_overlap, region_overlaps
from siamfcpp.evaluation.pipeline import score_results
from siamfcpp.evaluation.trajectory import CODES, TRACKED, parse_region, read_trajectory
from tests.cli import run_script

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "vot_polygon_reference.json").read_text()
)
TRACKER = "polytracker"


def _accepted(parsed: dict, line: str) -> bool:
    """Whether our reader must accept a line the toolkit parsed as ``parsed``: finite regions and
    the codes 0 / 1 / 2 written as a single number equal to the code."""
    if parsed.get("kind") in ("rectangle", "polygon"):
        return all(isinstance(v, float) and np.isfinite(v) for v in parsed["values"])
    if parsed.get("kind") != "special" or "," in line or parsed["code"] not in CODES:
        return False
    return float(line) == parsed["code"]


@pytest.mark.parametrize("case", FIXTURE["lines"], ids=lambda c: c["label"])
def test_result_lines_parse_as_the_toolkit_or_are_refused(case):
    parsed = case["parsed"]
    if not _accepted(parsed, case["line"]):
        with pytest.raises(ValueError, match="res.txt:7"):
            parse_region(case["line"], "res.txt:7")
        return
    ours = parse_region(case["line"], "res.txt:7")
    if parsed["kind"] == "special":
        assert ours == parsed["code"]
    else:
        # float32 values, as the toolkit stores them (e.g. 10.50000001 -> 10.5)
        assert ours.tolist() == parsed["values"]


def _regions_with_overlaps():
    for case in FIXTURE["lines"]:
        if "overlaps" in case and _accepted(case["parsed"], case["line"]):
            if case["parsed"]["kind"] != "special":
                yield case


@pytest.mark.parametrize("case", list(_regions_with_overlaps()), ids=lambda c: c["label"])
def test_overlaps_equal_the_toolkit(case):
    region = parse_region(case["line"], "res.txt:1")
    sizes = FIXTURE["image_sizes"]
    for gt, expected_row in zip(FIXTURE["groundtruth"], case["overlaps"], strict=True):
        gt_region = parse_region(gt["line"], "groundtruth.txt:1", codes=False)
        for size, expected in zip(sizes, expected_row, strict=True):
            if size is None:  # unbounded: VOT analyses are always bounded by the image
                continue
            size = tuple(size)
            assert region_overlap(region, gt_region, size) == pytest.approx(expected, abs=1e-12), (
                gt["label"],
                size,
            )


def test_overlaps_counted_all_at_once_equal_the_toolkit():
    """The same pairs in one :func:`region_overlaps` call: the rectangle pairs counted in closed
    form, the rectangle-polygon pairs row by row."""
    pairs, expected = [], []
    for case in _regions_with_overlaps():
        region = parse_region(case["line"], "res.txt:1")
        for gt, row in zip(FIXTURE["groundtruth"], case["overlaps"], strict=True):
            gt_region = parse_region(gt["line"], "groundtruth.txt:1", codes=False)
            for size, value in zip(FIXTURE["image_sizes"], row, strict=True):
                if size is not None:
                    pairs.append((region, gt_region, tuple(size)))
                    expected.append(value)
    kinds = {(len(a), len(b)) for a, b, _ in pairs}
    assert {(4, 4), (4, 8), (8, 4)} <= kinds, kinds
    got = region_overlaps(*zip(*pairs, strict=True))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_rounding_through_float32_changes_the_overlap():
    """10.50000001 is 10.5 in float32 and rounds (half to even) to 10; in float64 it is 11."""
    gt = np.array([10.0, 20.0, 30.0, 40.0])
    assert region_overlap(np.array([10.50000001, 20, 30, 40]), gt, (100, 100)) == 1.0
    assert region_overlap(np.array([11.0, 20, 30, 40]), gt, (100, 100)) < 1.0


@pytest.mark.parametrize("case", FIXTURE["files"], ids=lambda c: c["label"])
def test_result_files_read_as_the_toolkit_or_are_refused(case, tmp_path):
    path = tmp_path / "seq_001.txt"
    path.write_bytes(case["text"].encode("utf-8"))
    if "error" in case:
        with pytest.raises(ValueError, match="seq_001.txt:"):
            read_trajectory(path)
        return
    trajectory = read_trajectory(path)
    assert len(trajectory) == len(case["parsed"])
    for status, region, parsed in zip(
        trajectory.status, trajectory.regions, case["parsed"], strict=True
    ):
        if parsed["kind"] == "special":
            assert status == parsed["code"]
        else:
            assert status == TRACKED and region.tolist() == parsed["values"]


def write_result_set(root: Path) -> tuple[Path, Path]:
    """The fixture's result set as a VOT toolkit workspace (black frames) and a results folder
    in the VOT layout: ``(workspace, <results>/polytracker)``."""
    workspace = root / "workspace"
    tracker_dir = root / "results" / TRACKER
    sequences = FIXTURE["result_set"]["sequences"]
    (workspace / "sequences").mkdir(parents=True)
    (workspace / "sequences" / "list.txt").write_text("".join(s["name"] + "\n" for s in sequences))
    for seq in sequences:
        folder = workspace / "sequences" / seq["name"]
        (folder / "color").mkdir(parents=True)
        jpeg = cv2.imencode(".jpg", np.zeros((seq["height"], seq["width"], 3), np.uint8))[1]
        for t in range(len(seq["groundtruth"])):
            (folder / "color" / f"{t + 1:08d}.jpg").write_bytes(jpeg.tobytes())
        (folder / "sequence").write_text(
            f"channels.color=color/%08d.jpg\nwidth={seq['width']}\nheight={seq['height']}\n"
        )
        (folder / "groundtruth.txt").write_text("\n".join(seq["groundtruth"]) + "\n")
        result_file = tracker_dir / "baseline" / seq["name"] / f"{seq['name']}_001.txt"
        result_file.parent.mkdir(parents=True)
        result_file.write_text("\n".join(seq["results"]) + "\n")
    return workspace, tracker_dir


#: the result set's sequences: an explicit subset of VOT2018 (the whole set has 60)
SUBSET = [s["name"] for s in FIXTURE["result_set"]["sequences"]]


def _vot(workspace: Path, interval) -> VOTBenchmark:
    return VOTBenchmark(workspace, "VOT2018", interval, reinit_delay=5, burnin=10, sequences=SUBSET)


def test_polygon_result_set_scores_equal_the_toolkit(tmp_path):
    workspace, tracker_dir = write_result_set(tmp_path)
    toolkit = FIXTURE["result_set"]["toolkit"]
    result = score_results(
        _vot(workspace, toolkit["eao_intervals"]["short"]), tracker_dir, tmp_path
    )
    for row in result["sequences"]:
        expected = toolkit["sequences"][row["name"]]
        assert row["frames"] == expected["frames"] and row["Failures"] == expected["failures"]
        assert row["Accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
        assert "FPS" not in row  # no time files came with these results
    metrics = result["metrics"]
    assert metrics["Accuracy"] == pytest.approx(toolkit["accuracy"], abs=1e-9)
    assert metrics["Robustness"] == pytest.approx(toolkit["robustness_vot_paper"], abs=1e-9)
    assert metrics["Failures"] == toolkit["failures"] and "FPS" not in metrics
    assert result["tracker"] == TRACKER
    curve = np.array([np.nan, *result["curves"]["eao"]["y"]])
    np.testing.assert_allclose(curve[1:], toolkit["eao_curve"][1:], atol=1e-6)  # float32 sums
    for key, interval in toolkit["eao_intervals"].items():
        assert eao_score(curve, tuple(interval)) == pytest.approx(toolkit["eao"][key], abs=1e-6)
    assert metrics["EAO"] == pytest.approx(toolkit["eao"]["short"], abs=1e-6)
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "eao_plot.png").is_file()


def test_missing_or_extra_sequences_are_refused(tmp_path):
    workspace, tracker_dir = write_result_set(tmp_path)
    bench = _vot(workspace, [5, 15])
    extra = tracker_dir / "baseline" / "zebra" / "zebra_001.txt"
    extra.parent.mkdir()
    extra.write_text("1\n")
    with pytest.raises(ValueError, match=r"1 sequence\(s\) that VOT2018 does not have.*zebra"):
        score_results(bench, tracker_dir, tmp_path / "report")
    extra.unlink()
    (tracker_dir / "baseline" / "mix_c" / "mix_c_001.txt").unlink()
    with pytest.raises(ValueError, match=r"lacks the results of 1 of the 4.*mix_c.*sequences="):
        score_results(bench, tracker_dir, tmp_path / "report")
    with pytest.raises(FileNotFoundError, match="results=.*nowhere"):
        score_results(bench, tmp_path / "nowhere", tmp_path / "report")


def test_evaluate_cli_scores_a_results_folder_without_a_network(tmp_path):
    workspace, tracker_dir = write_result_set(tmp_path)
    proc = run_script(
        "evaluate.py",
        "benchmark=vot2018",
        f"benchmark.root={workspace}",
        "benchmark.eao_interval=[1,31]",
        f"benchmark.sequences=[{','.join(SUBSET)}]",
        f"results={tracker_dir}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    toolkit = FIXTURE["result_set"]["toolkit"]
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result["metrics"]["EAO"] == pytest.approx(toolkit["eao"]["whole"], abs=1e-6)
    assert result["metrics"]["Accuracy"] == pytest.approx(toolkit["accuracy"], abs=1e-9)
    assert TRACKER in proc.stdout and "EAO" in proc.stdout
    assert "RANDOMLY" not in proc.stdout + proc.stderr  # no network was built
