"""``python evaluate.py benchmark=vot2018 tracker=multi_temp benchmark.root=DIR`` end to end on the
tiny VOT workspace of ``test_vot_benchmark.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siamfcpp.evaluation.trajectory import read_trajectory, trajectory_path
from tests.cli import run_script
from tests.parity_weights import write_parity_checkpoint
from tests.test_vot_benchmark import SCRIPT, write_workspace

SEQUENCES = ("beta", "gamma")  # two of the three, to keep the CPU run short


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = write_workspace(tmp_path_factory.mktemp("vot"))
    (root / "sequences" / "list.txt").write_text("".join(f"{n}\n" for n in SEQUENCES))
    return root


def test_evaluate_cli_vot2018_multi_temp_prints_the_row_and_resumes(workspace, tmp_path):
    """``python evaluate.py benchmark=vot2018 tracker=multi_temp benchmark.root=DIR checkpoint=F``
    with the parity-recipe AlexNet weights as an original ``.pkl`` (random-looking weights: this
    checks the pipeline, not scores)."""
    out = tmp_path / "run"
    command = [
        "benchmark=vot2018",
        "tracker=multi_temp",
        f"benchmark.root={workspace}",
        f"benchmark.sequences=[{','.join(SEQUENCES)}]",
        f"checkpoint={write_parity_checkpoint('alexnet', tmp_path)}",
        f"output_dir={out}",
    ]
    first, second = (run_script("evaluate.py", *command, cwd=tmp_path) for _ in range(2))
    for column in ("VOT2018", "Accuracy", "Robustness", "EAO", "FPS", "Failures"):
        assert column in first.stdout
    result = json.loads((out / "metrics.json").read_text())
    assert result["benchmark"] == "VOT2018" and result["num_sequences"] == len(SEQUENCES)
    assert 0.0 <= result["metrics"]["Accuracy"] <= 1.0 and result["metrics"]["FPS"] > 0
    tracker_dir = Path(result["results_dir"])
    for name in SEQUENCES:
        length = SCRIPT[name][0]
        assert len(read_trajectory(trajectory_path(tracker_dir, name))) == length
    assert (out / "eao_plot.png").is_file()
    log = second.stdout + second.stderr
    assert f"{len(SEQUENCES)} of {len(SEQUENCES)} sequences have results: skipped" in log
    assert (
        json.loads((out / "metrics.json").read_text())["metrics"]["Failures"]
        == (result["metrics"]["Failures"])
    )
