"""User-facing numbers are checked where they are configured (issue 16, item 10): a value of the
wrong type or outside its range stops the run before any work with one line naming the key and
the allowed range."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from siamfcpp.apps.cli import one_line
from siamfcpp.evaluation.pipeline import check_options
from siamfcpp.tracking.engine import build_engine
from tests.cli import run_script


def _evaluate_error(compose_config, *overrides: str) -> str:
    """The one-line message of what evaluate.py builds first: options, tracker, benchmark."""
    cfg = compose_config("evaluate", *overrides)
    with pytest.raises(Exception) as err:  # noqa: PT011 (the message is what is checked)
        check_options(cfg)
        build_engine(cfg.tracker, torch.nn.Identity(), torch.device("cpu"), num_slots=1)
        instantiate(cfg.benchmark)
    return one_line(err.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tracker.test_lr=abc"], "tracker.test_lr='abc' is not allowed: a number in [0, 1]"),
        (["tracker.z_size=0"], "tracker.z_size=0 is not allowed: an integer >= 1"),
        (["tracker.min_w=-1"], "tracker.min_w=-1 is not allowed: a number >= 0"),
        (["tracker.windowing=hann"], "tracker.windowing='hann' is not allowed: one of cosine"),
        (
            ["tracker=siamfcpp_fast", "tracker.window_influence=1.5"],
            "tracker.window_influence=1.5 is not allowed: a number in [0, 1]",
        ),
        (
            ["tracker=multi_temp", "tracker.mem_sink_idx=9"],
            "tracker.mem_sink_idx=9 is not allowed: an integer in [0, mem_len=",
        ),
        (["devices=abc"], "devices='abc' is not allowed: an integer >= 1"),
        (["batch_sequences=0"], "batch_sequences=0 is not allowed: an integer >= 1"),
        (["decode_workers=-1"], "decode_workers=-1 is not allowed: an integer >= 0"),
        (["benchmark.num_frames=0"], "benchmark.num_frames=0 is not allowed: an integer >= 2"),
    ],
)
def test_evaluation_values_name_key_and_range(compose_config, overrides, message):
    assert _evaluate_error(compose_config, *overrides).startswith(message)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.samples_per_epoch=0", "data.samples_per_epoch=0 is not allowed: an integer >= 8"),
        ("data.batch_size=0", "data.batch_size=0 is not allowed: an integer >= 1"),
        ("data.num_workers=-2", "data.num_workers=-2 is not allowed: an integer >= 0"),
        ("data.negative_pair_ratio=2", "data.negative_pair_ratio=2 is not allowed: a number in"),
        ("data.crop.max_scale=-0.1", "data.crop.max_scale=-0.1 is not allowed: a number >= 0"),
        ("data.crop.x_size=-5", "the search crop model.head.x_size=-5 (data.crop.x_size in"),
        ("module.lr_schedule.base_lr=abc", "module.lr_schedule.base_lr='abc' is not allowed"),
        ("trainer.max_epochs=abc", "module.lr_schedule.epochs='abc' is not allowed: an integer"),
        # the default warm-up is one epoch: a one-epoch training says how to go without it
        ("trainer.max_epochs=1", "set module.lr_schedule.warmup_epochs=0 for no warm-up"),
    ],
)
def test_training_values_name_key_and_range(compose_config, override, message):
    cfg = compose_config("train", "data.batch_size=8", override)
    with pytest.raises(Exception) as err:  # noqa: PT011 (the message is what is checked)
        instantiate(cfg.data)
        instantiate(cfg.module)
    assert message in one_line(err.value)


@pytest.mark.parametrize(
    ("script", "override", "message"),
    [
        ("evaluate.py", "tracker.test_lr=abc", "tracker.test_lr='abc' is not allowed"),
        ("train.py", "data.samples_per_epoch=0", "data.samples_per_epoch=0 is not allowed"),
        ("demo.py", "fps=0", "fps=0 is not allowed: a number > 0"),
    ],
)
def test_entry_points_stop_on_one_line_before_any_work(tmp_path, script, override, message):
    video = ["video=.", "box=[1,2,3,4]"] if script == "demo.py" else []
    proc = run_script(
        script,
        *video,
        override,
        "logger=none" if script == "train.py" else "seed=0",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"HYDRA_FULL_ERROR": "0"},
        fails=True,
    )
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), proc.stderr
    assert not (tmp_path / "run").exists()
