"""Issue 14's "lockstep deviation" on a GPU (``benchmarks/lockstep_deviation.py``, whose docstring
explains the method): batched boxes far from one-at-a-time boxes are float noise amplified by a
free-running tracker, not a defect of the batched step.

The defect test: with the same input (every frame tracked from the one-at-a-time run's previous
box), the batched step gives the one-at-a-time box within 0.05 px on every frame of every
sequence, and the free-running boxes agree to float noise on the first three updates (float32,
TF32 off; with TF32 on, the default for cuDNN convolutions on Ampere and later, the rounding
depends on the algorithm and hence on the batch size: reported, not checked). The printed table
shows where the free-running runs part: the frame, the one-at-a-time tracker's IoU there (0: it
had lost the target) and its score margin (a near-tie between two candidates).
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.cli import run_script

ONE_STEP_TOLERANCE_PX = 0.05
# three free-running updates compound the one-step rounding (H200, TF32 off: 8.4e-3 px at most;
# one step 5.4e-4 px): within the parity tolerance, far below the >1 px of a lost tracker
EARLY_TOLERANCE_PX = ONE_STEP_TOLERANCE_PX


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batched_tracking_equals_one_at_a_time_per_frame(tmp_path):
    out = tmp_path / "rows.json"
    proc = run_script(
        "benchmarks/lockstep_deviation.py", "--device", "cuda", "--out", str(out), cwd=tmp_path
    )
    print(proc.stdout)
    rows = [r for r in json.loads(out.read_text())["rows"] if r["setting"] == "TF32 off"]
    assert rows
    for row in rows:
        assert float(row["one step: max (px)"]) <= ONE_STEP_TOLERANCE_PX, row
        assert float(row["free: first 3 updates (px)"]) <= EARLY_TOLERANCE_PX, row
