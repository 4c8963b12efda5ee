"""compare.py / siamfcpp.evaluation.compare: several runs or results folders side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from siamfcpp.evaluation.compare import compare, load_run
from siamfcpp.evaluation.datasets.lasot import LaSOTBenchmark
from siamfcpp.evaluation.pipeline import score_results
from siamfcpp.evaluation.report import read_result
from siamfcpp.tracking.engine import SequentialSlots
from tests.cli import run_script
from tests.test_benchmarks_ope import STILL, _frames, _gt, _write
from tests.test_vot_polygons import FIXTURE, SUBSET, TRACKER, _vot, write_result_set


def _shifted_copy(tracker_dir: Path, target: Path, dx: float) -> Path:
    """A copy of a VOT results folder with every region moved ``dx`` pixels right."""
    shutil.copytree(tracker_dir, target)
    for path in target.glob("baseline/*/*_001.txt"):
        lines = []
        for line in path.read_text().splitlines():
            values = [float(v) for v in line.split(",")]
            if len(values) > 1:
                values = [v + dx if k % 2 == 0 else v for k, v in enumerate(values)]
                if len(values) == 4:  # x, y, w, h: only x moves
                    values[2] -= dx
            lines.append(",".join(repr(v) for v in values))
        path.write_text("\n".join(lines) + "\n")
    return target


def test_compare_cli_scores_vot_results_folders_side_by_side(tmp_path):
    workspace, tracker_dir = write_result_set(tmp_path)
    shifted = _shifted_copy(tracker_dir, tmp_path / "results" / "shifted", 4.0)
    out = tmp_path / "cmp"
    proc = run_script(
        "compare.py",
        f"runs=[{shifted},{tracker_dir}]",
        "benchmark=vot2018",
        f"benchmark.root={workspace}",
        "benchmark.eao_interval=[5,15]",
        f"benchmark.sequences=[{','.join(SUBSET)}]",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    summary = json.loads((out / "comparison.json").read_text())
    # ranked by EAO: the toolkit-checked result set beats its shifted copy
    assert summary["labels"] == [TRACKER, "shifted"]
    toolkit = FIXTURE["result_set"]["toolkit"]
    assert summary["metrics"][0]["EAO"] == pytest.approx(toolkit["eao"]["short"], abs=1e-6)
    assert summary["metrics"][1]["EAO"] < summary["metrics"][0]["EAO"]
    table = (out / "comparison.md").read_text().splitlines()
    assert len(table) == 4 and TRACKER in table[2] and "shifted" in table[3]
    per_sequence = (out / "sequences.md").read_text().splitlines()
    assert len(per_sequence) == 2 + len(toolkit["sequences"]) and "shifted EAO" not in table[0]
    assert (out / "eao_plot.png").read_bytes()[:4] == b"\x89PNG"
    assert "shifted" in proc.stdout and "EAO" in proc.stdout


class ShiftedTracker:
    """Reports the initial box moved 3 px right on every frame."""

    def init(self, frame, box_xywh):
        self.box = np.asarray(box_xywh, float) + [3, 0, 0, 0]

    def update(self, frame):
        return self.box


def _lasot(root: Path, gts: dict[str, np.ndarray]) -> LaSOTBenchmark:
    for name, gt in gts.items():
        seq_dir = root / name.split("-")[0] / name
        _frames(seq_dir / "img", [f"{i:08d}.jpg" for i in range(1, len(gt) + 1)])
        _write(seq_dir / "groundtruth.txt", gt)
    return LaSOTBenchmark(root, subset="all", sequences=list(gts))


def test_compare_one_pass_runs_plots_every_curve_and_checks_the_sets(tmp_path):
    # a still target: the still tracker is exact, the shifted one is not
    gts = {"cat-1": np.repeat(_gt(1, 1) + [0, 0, 8, 8], 8, axis=0), "dog-2": _gt(5, 2)}
    bench = _lasot(tmp_path / "LaSOT", gts)
    bench.run(STILL, tmp_path / "still_run", "still")
    bench.run(SequentialSlots(ShiftedTracker), tmp_path / "shift_run", "shifted")
    out = tmp_path / "cmp"
    comparison = compare([tmp_path / "shift_run", tmp_path / "still_run"], out, names=["b", "a"])
    assert comparison["labels"] == ["a", "b"]  # the still tracker has the higher Success
    successes = [r["metrics"]["Success"] for r in comparison["results"]]
    assert successes[0] > successes[1]
    assert sorted(p.name for p in comparison["plots"]) == ["precision_plot.png", "success_plot.png"]
    assert "Norm. Precision" in comparison["header"]

    # a results folder needs the benchmark; a run of other sequences is refused
    with pytest.raises(ValueError, match="benchmark=<name>"):
        compare([tmp_path / "still_run" / "still"], out)
    scored = load_run(tmp_path / "still_run" / "still", bench, tmp_path / "scratch")
    assert scored["metrics"]["Success"] == pytest.approx(successes[0])
    other = _lasot(tmp_path / "LaSOT2", {"cat-1": gts["cat-1"]})
    (tmp_path / "one" / "still").mkdir(parents=True)
    shutil.copy(tmp_path / "still_run" / "still" / "cat-1.txt", tmp_path / "one" / "still")
    score_results(other, tmp_path / "one" / "still", tmp_path / "subset_run")
    with pytest.raises(
        ValueError, match=r"still#2 was scored on 2 sequences and still#1 on 1 .*dog-2"
    ):
        compare([tmp_path / "subset_run", tmp_path / "still_run"], out)


def test_old_metric_names_are_read_under_the_current_names(tmp_path):
    workspace, tracker_dir = write_result_set(tmp_path)
    result = score_results(_vot(workspace, [5, 15]), tracker_dir, tmp_path / "run")
    old = json.loads((tmp_path / "run" / "metrics.json").read_text())
    old["metrics"] = {k.lower(): v for k, v in old["metrics"].items()}
    old["sequences"] = [
        {k.lower() if k != "name" else k: v for k, v in r.items()} for r in old["sequences"]
    ]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text(json.dumps(old))
    again = read_result(tmp_path / "old")
    assert again["metrics"] == result["metrics"]
    assert again["sequences"][0]["Accuracy"] == result["sequences"][0]["Accuracy"]
