"""``evaluate.py`` end to end in a subprocess: the no-argument default, resuming, and parity of the
boxes it writes with the original implementation's (``tests/fixtures/tracker_seed0.npz``).

Timings on 2 idle cores: the default run ~15 s (twice), each parity model 14-18 s; several times
that on a loaded machine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from siamfcpp.data.sources.got10k import write_got10k_list, write_got10k_sequence
from tests.cli import run_script
from tests.conftest import compose_config
from tests.parity_weights import FIXTURE_MODELS, TRACKER_FIXTURE, write_parity_checkpoint


def run_evaluate(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_script("evaluate.py", *overrides, cwd=cwd)


def test_no_arguments_runs_the_synthetic_benchmark_and_resumes(tmp_path):
    first = run_evaluate(cwd=tmp_path)
    (metrics_file,) = (tmp_path / "outputs" / "evaluate").glob("*/*/metrics.json")
    run_dir = metrics_file.parent
    for column in ("AO", "SR.50", "SR.75", "FPS", "synthetic"):
        assert column in first.stdout
    assert "RANDOMLY INITIALISED" in first.stdout + first.stderr
    result = json.loads(metrics_file.read_text())
    assert result["benchmark"] == "synthetic" and result["num_sequences"] == 4
    assert result["num_frames"] == 4 * 30
    assert set(result["metrics"]) == {"AO", "SR.50", "SR.75", "FPS"}
    assert 0.0 <= result["metrics"]["AO"] <= 1.0 and result["metrics"]["FPS"] > 0
    assert (run_dir / "config.yaml").is_file() and (run_dir / "sequences.csv").is_file()
    boxes = list((run_dir / result["tracker"]).glob("*/*_001.txt"))
    assert len(boxes) == 4

    # Same output folder again: every sequence is found and skipped, the metrics are the same.
    second = run_evaluate(f"output_dir={run_dir}", cwd=tmp_path)
    log = second.stdout + second.stderr
    assert "4 of 4 sequences have results: skipped" in log
    rerun = json.loads(metrics_file.read_text())
    assert rerun["metrics"]["AO"] == pytest.approx(result["metrics"]["AO"])


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path):
    no_gpu = {"CUDA_VISIBLE_DEVICES": ""}  # no GPU, whatever the machine has
    proc = run_script("evaluate.py", "device=cuda", cwd=tmp_path, env=no_gpu, fails=True)
    assert "device=cuda" in proc.stderr and "device=cpu" in proc.stderr


def write_fixture_as_got10k_val(fixture, root: Path) -> list[str]:
    """The fixture's sequences as a GOT-10k val split, frames copied byte for byte."""
    names = []
    for k in range(2):
        name = f"parity_seq{k}"
        n = int(fixture[f"seq{k}_n"])
        frames = [fixture[f"seq{k}_frame{t:03d}"].tobytes() for t in range(n)]
        write_got10k_sequence(root / "val" / name, frames, fixture[f"seq{k}_gt"], full_gt=True)
        names.append(name)
    write_got10k_list(root / "val", names)
    return names


def track_in_process(preset: str, pkl: Path, root: Path) -> dict[str, np.ndarray]:
    """The same preset and checkpoint run through the library instead of the CLI."""
    from hydra.utils import instantiate

    from siamfcpp.evaluation.datasets.got10k import GOT10kBenchmark
    from siamfcpp.evaluation.protocols import track_one_pass
    from siamfcpp.model.checkpoints import load_checkpoint
    from siamfcpp.tracking.engine import SequentialSlots

    cfg = compose_config("evaluate", f"experiment={preset}")
    model = instantiate(cfg.model)
    load_checkpoint(model, pkl)
    boxes = {}
    names = [f"parity_seq{k}" for k in range(2)]
    for seq in GOT10kBenchmark(root, subset="val", sequences=names).sequences():
        engine = SequentialSlots(lambda: instantiate(cfg.tracker, model=model, device="cpu"))
        boxes[seq.name] = track_one_pass(engine, seq.frames, seq.gt[0])[0]
    return boxes


# Free-running boxes of the GoogLeNet models reproduce the original's on every frame; AlexNet
# models with the recipe's random weights amplify float32 rounding chaotically (see
# tests/test_tracker_parity.py: the original rerun on another host drifts from its own fixture),
# so for them the CLI is checked on the first update and against the library's own run.
FREE_RUNNING_PARITY = {"googlenet", "googlenet_got"}


# One model runs by default (~20 s on 2 idle cores), the other three with -m slow.
DEFAULT_RUN = "googlenet"


@pytest.mark.parametrize(
    "model_name",
    [m if m == DEFAULT_RUN else pytest.param(m, marks=pytest.mark.slow) for m in FIXTURE_MODELS],
)
def test_cli_reproduces_original_boxes(model_name, tmp_path):
    """The original tracker's boxes, through evaluate.py with each preset and an original .pkl.

    Recipe: the fixture model's random weights (``tests/parity_weights.py``) are saved as an
    original model-zoo ``.pkl``; the fixture's JPEG frames become a GOT-10k val folder (bytes
    copied, so the decoded pixels are the original's); ``evaluate.py benchmark=got10k
    experiment=<preset> checkpoint=<pkl>`` tracks it, and the boxes in ``<seq>_001.txt``
    (3 decimals) are compared with the fixture within 0.01 px.
    """
    preset = FIXTURE_MODELS[model_name][1]
    fixture = np.load(TRACKER_FIXTURE)
    names = write_fixture_as_got10k_val(fixture, tmp_path / "data")
    pkl = write_parity_checkpoint(model_name, tmp_path)
    out = tmp_path / "out"
    run_evaluate(
        "benchmark=got10k",
        f"benchmark.root={tmp_path / 'data'}",
        "benchmark.subset=val",
        f"benchmark.sequences=[{','.join(names)}]",
        f"experiment={preset}",
        f"checkpoint={pkl}",
        f"output_dir={out}",
        cwd=tmp_path,
    )
    cli = {
        name: np.loadtxt(out / preset / name / f"{name}_001.txt", delimiter=",") for name in names
    }
    for k, name in enumerate(names):
        expected = fixture[f"{model_name}_seq{k}_boxes"]
        assert cli[name].shape == expected.shape
        checked = expected if model_name in FREE_RUNNING_PARITY else expected[:2]
        np.testing.assert_allclose(
            cli[name][: len(checked)], checked, rtol=0, atol=0.01, err_msg=name
        )
    if model_name not in FREE_RUNNING_PARITY:
        library = track_in_process(preset, pkl, tmp_path / "data")
        for name in names:
            np.testing.assert_allclose(cli[name], library[name], rtol=0, atol=6e-4, err_msg=name)
