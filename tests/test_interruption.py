"""Interrupted runs: ``evaluate.py`` and ``train.py`` killed midway (SIGKILL, no clean-up) and
run again with the same command finish with the results of an uninterrupted run; a SIGTERM-ed
``train.py`` exits non-zero and resumes the same way.

Each test is two or three short runs (evaluation: 6 sequences of 12 frames; training: 3 epochs of
2 steps), a few seconds of work plus interpreter / Hydra start-up each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from siamfcpp.io.files import atomic_write_bytes
from siamfcpp.io.run_dir import prepare_run_dir
from siamfcpp.training.pipeline import AtomicCheckpointIO, check_complete
from tests.cli import run_script

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HYDRA_FULL_ERROR": "1", "COLUMNS": "160", "WANDB_MODE": "offline"}


def command(script: str, *overrides: str) -> list[str]:
    return [sys.executable, str(REPO / script), *overrides]


def run_to_end(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return run_script(cmd[1], *cmd[2:], cwd=cwd, env=ENV)


def signal_when(
    cmd: list[str], cwd: Path, ready, sig: signal.Signals, timeout: float = 300.0
) -> subprocess.Popen:
    """Start ``cmd``, send it ``sig`` as soon as ``ready()`` holds and wait for it to end; fail
    if it ends on its own first."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"{cmd} ended before it could be signalled:\n{proc.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{cmd}: the signal condition did not arrive in {timeout} s")
            time.sleep(0.02)
        proc.send_signal(sig)
    finally:
        proc.wait(timeout=120)
        proc.stderr.close()
    return proc


def kill_when(cmd: list[str], cwd: Path, ready, timeout: float = 300.0) -> None:
    """Start ``cmd``, SIGKILL it as soon as ``ready()`` holds; fail if it ends on its own first."""
    assert signal_when(cmd, cwd, ready, signal.SIGKILL, timeout).returncode == -signal.SIGKILL


# ------------------------------------------------------------------ evaluate.py

# 12 frames a sequence (the benchmark's default is 30): resuming goes by whole sequences, and each
# sequence still takes far longer to track than the 20 ms between two looks for the kill
EVAL = (
    "benchmark.num_sequences=6",
    "benchmark.num_frames=12",
    "tracker_name=t",
)


def box_files(run: Path) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in sorted((run / "t").glob("*/*_001.txt"))}


def without_timing(result: dict) -> dict:
    """metrics.json minus what depends on the clock, the folder or what this invocation tracked
    (FPS, results_dir, timing)."""
    result = {k: v for k, v in result.items() if k not in ("results_dir", "timing")}
    result["metrics"] = {k: v for k, v in result["metrics"].items() if k != "FPS"}
    result["sequences"] = [
        {k: v for k, v in row.items() if k != "FPS"} for row in result["sequences"]
    ]
    return result


def test_killed_evaluation_rerun_equals_uninterrupted(tmp_path):
    cache = f"benchmark.root={tmp_path / 'cache'}"
    reference = tmp_path / "reference"
    run_to_end(command("evaluate.py", *EVAL, cache, f"hydra.run.dir={reference}"), tmp_path)
    expected = box_files(reference)
    assert len(expected) == 6

    run = tmp_path / "interrupted"
    cmd = command("evaluate.py", *EVAL, cache, f"hydra.run.dir={run}")
    kill_when(cmd, tmp_path, lambda: len(box_files(run)) >= 2)
    partial = box_files(run)
    assert 2 <= len(partial) < 6, "killed after the end: the test did not interrupt anything"
    # what the killed run left is finished work: every box file complete and equal
    assert all(partial[name] == expected[name] for name in partial)
    assert not (run / "metrics.json").exists()

    proc = run_to_end(cmd, tmp_path)
    assert f"{len(partial)} of 6 sequences have results: skipped" in proc.stdout + proc.stderr
    assert box_files(run) == expected
    assert without_timing(json.loads((run / "metrics.json").read_text())) == without_timing(
        json.loads((reference / "metrics.json").read_text())
    )


# ------------------------------------------------------------------ train.py

# 3 epochs of 2 steps (~1.5 s each on 2 idle cores): the kill / SIGTERM after epoch 0 or 1 leaves
# at least one epoch to resume
EPOCHS = 3
TRAIN = (
    "data.samples_per_epoch=4",
    "data.batch_size=2",
    "data.num_workers=0",
    "logger=csv",
    "callbacks.pair_images=null",
    "callbacks.model_checkpoint.every_n_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
    f"trainer.max_epochs={EPOCHS}",
)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def step_losses(run: Path) -> dict[int, float]:
    import csv

    with open(run / "csv" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {int(r["step"]): float(r["train/total_step"]) for r in rows if r["train/total_step"]}


def test_killed_training_same_command_resumes_to_the_uninterrupted_result(tmp_path):
    reference = tmp_path / "reference"
    run_to_end(command("train.py", *TRAIN, f"hydra.run.dir={reference}"), tmp_path)
    expected = load(reference / "checkpoints" / "last.ckpt")
    assert expected["epoch"] == EPOCHS - 1

    run = tmp_path / "interrupted"
    cmd = command("train.py", *TRAIN, f"hydra.run.dir={run}")
    kill_when(cmd, tmp_path, lambda: (run / "checkpoints" / "epoch=1.ckpt").exists())
    # the kill may land between epoch=1.ckpt and last.ckpt: then epoch 1 is repeated
    at_kill = load(run / "checkpoints" / "last.ckpt")
    assert at_kill["epoch"] < EPOCHS - 1, "killed after the end: nothing was interrupted"

    proc = run_to_end(cmd, tmp_path)  # the very same command
    assert f"RESUMING from {run / 'checkpoints' / 'last.ckpt'}" in proc.stdout + proc.stderr
    final = load(run / "checkpoints" / "last.ckpt")
    assert (final["epoch"], final["global_step"]) == (expected["epoch"], expected["global_step"])
    assert final["state_dict"].keys() == expected["state_dict"].keys()
    for key, value in expected["state_dict"].items():
        torch.testing.assert_close(final["state_dict"][key], value, msg=key)
    # optimizer momentum buffers too: a further resume would continue identically
    for got, want in zip(
        final["optimizer_states"][0]["state"].values(),
        expected["optimizer_states"][0]["state"].values(),
        strict=True,
    ):
        torch.testing.assert_close(got["momentum_buffer"], want["momentum_buffer"])
    # the resumed steps' losses are the uninterrupted run's (the CSV log restarts at the resume)
    resumed, full = step_losses(run), step_losses(reference)
    assert resumed and min(resumed) >= at_kill["global_step"]
    assert resumed == pytest.approx({step: full[step] for step in resumed}, rel=1e-5)
    # the epochs repeated after the kill were rewritten in place, no epoch=<k>-v1.ckpt
    assert sorted(p.name for p in (run / "checkpoints").glob("*.ckpt")) == sorted(
        p.name for p in (reference / "checkpoints").glob("*.ckpt")
    )


def test_sigterm_training_exits_non_zero_and_the_same_command_resumes(tmp_path):
    """Lightning ends a SIGTERM-ed fit as if finished (status 0, so ``train.py && evaluate.py``
    would evaluate a half-trained model); train.py exits 143 = 128 + SIGTERM."""
    run = tmp_path / "run"
    cmd = command("train.py", *TRAIN, f"hydra.run.dir={run}")
    proc = signal_when(
        cmd, tmp_path, lambda: (run / "checkpoints" / "epoch=0.ckpt").exists(), signal.SIGTERM
    )
    assert proc.returncode == 128 + signal.SIGTERM
    assert load(run / "checkpoints" / "last.ckpt")["epoch"] < EPOCHS - 1
    resumed = run_to_end(cmd, tmp_path)
    assert "RESUMING from" in resumed.stdout + resumed.stderr
    assert load(run / "checkpoints" / "last.ckpt")["epoch"] == EPOCHS - 1


def test_checkpoint_writer_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)
    check_complete(path)

    def interrupted(src, dst):  # the process dies between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert load(path)["epoch"] == 1  # the previous checkpoint, intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temp file left


def test_truncated_last_checkpoint_is_refused_naming_it(tmp_path, compose_config):
    run = tmp_path / "run"
    # the folder of an earlier run of the same command ...
    cfg = compose_config("train", *TRAIN, f"output_dir={run}", "run_name=siamfcpp_alexnet")
    prepare_run_dir(run, cfg, task="train")
    last = run / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 0, "w": torch.ones(1000)}, last)
    atomic_write_bytes(last, last.read_bytes()[:-100])  # as a non-atomic writer killed midway
    run_dir = f"hydra.run.dir={run}"
    proc = run_script("train.py", *TRAIN, run_dir, cwd=tmp_path, env=ENV, timeout=300, fails=True)
    assert f"{last} is not a complete checkpoint" in proc.stderr
    assert "resume=false" in proc.stderr
