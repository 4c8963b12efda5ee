"""Run folders hold results of one set of settings (issue 16, items 1-3): the fingerprint of the
settings that change the numbers, the refusal to mix, and the ways out (another output_dir,
``overwrite=true`` / ``resume=false``); keys that change nothing else are free to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from siamfcpp.evaluation.pipeline import evaluate
from siamfcpp.io.fingerprint import run_settings
from siamfcpp.io.run_dir import (
    CONFIG_FILE,
    FINGERPRINT_FILE,
    RunFolderError,
    prepare_run_dir,
    remove_if_empty,
)
from siamfcpp.training.pipeline import train

TINY_EVAL = ("benchmark.num_sequences=2", "benchmark.num_frames=3", "tracker_name=t")
TINY_TRAIN = (
    "data.samples_per_epoch=2",
    "data.batch_size=2",
    "data.num_workers=0",
    "logger=none",
    "callbacks.pair_images=null",
    "trainer.max_epochs=2",
    "trainer.enable_model_summary=false",
    "run_name=t",
)


def eval_cfg(compose_config, tmp_path: Path, *overrides: str):
    return compose_config(
        "evaluate",
        *TINY_EVAL,
        f"benchmark.root={tmp_path / 'cache'}",
        f"output_dir={tmp_path / 'run'}",
        *overrides,
    )


def train_cfg(compose_config, tmp_path: Path, *overrides: str):
    return compose_config("train", *TINY_TRAIN, f"output_dir={tmp_path / 'run'}", *overrides)


def test_rerun_with_other_tracker_settings_stops_naming_them(compose_config, tmp_path):
    first = evaluate(eval_cfg(compose_config, tmp_path))
    run = tmp_path / "run"
    config = (run / CONFIG_FILE).read_text()
    changed = eval_cfg(compose_config, tmp_path, "tracker.window_influence=0.0")
    with pytest.raises(RunFolderError) as err:
        evaluate(changed)
    message = str(err.value)
    assert "\n" not in message
    assert "tracker.window_influence (0.21 -> 0.0)" in message
    assert "another output_dir" in message and "overwrite=true" in message
    assert (run / CONFIG_FILE).read_text() == config  # the folder still describes its results
    # the explicit way out tracks everything afresh with the new settings
    second = evaluate(
        eval_cfg(compose_config, tmp_path, "tracker.window_influence=0.0", "overwrite=true")
    )
    assert second["metrics"]["AO"] != first["metrics"]["AO"]
    saved = json.loads((run / FINGERPRINT_FILE).read_text())["settings"]
    assert saved["tracker.window_influence"] == 0.0


def test_rerun_may_change_what_does_not_change_the_numbers(compose_config, tmp_path, caplog):
    evaluate(eval_cfg(compose_config, tmp_path))
    caplog.set_level("INFO")
    result = evaluate(
        eval_cfg(compose_config, tmp_path, "batch_sequences=2", "run_name=x", "logger=none")
    )
    assert "2 of 2 sequences have results: skipped" in caplog.text
    assert result["num_sequences"] == 2


def test_ignored_keys_leave_the_settings_unchanged(compose_config, tmp_path):
    base = run_settings(eval_cfg(compose_config, tmp_path), "evaluate")
    free = eval_cfg(
        compose_config,
        tmp_path,
        "devices=2",
        "batch_sequences=8",
        "device=cuda",
        "logger=wandb",
        "run_name=other",
        "tracker_name=other",
        "optimized_metric=AO",
        "decode_workers=2",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"output_dir={tmp_path / 'elsewhere'}",
    )
    assert run_settings(free, "evaluate") == base
    train_base = run_settings(train_cfg(compose_config, tmp_path), "train")
    train_free = train_cfg(
        compose_config,
        tmp_path,
        "data.num_workers=4",
        "logger=csv",
        "callbacks.model_checkpoint.every_n_epochs=1",
        "module.channels_last=true",
        f"paths.log_dir={tmp_path / 'logs'}",
        "trainer.log_every_n_steps=1",
        "trainer=gpu",
        "trainer.precision=32-true",
        "trainer.log_every_n_steps=5",
    )
    assert run_settings(train_free, "train") == train_base


@pytest.mark.parametrize(
    "override",
    [
        "module.lr_schedule.base_lr=0.01",
        "module.optimizer.momentum=0.5",
        "seed=1",
        "trainer.max_epochs=3",
        "data.samples_per_epoch=4",
    ],
)
def test_training_settings_that_change_the_weights_count(compose_config, tmp_path, override):
    key = override.split("=")[0]
    base = run_settings(train_cfg(compose_config, tmp_path), "train")
    changed = run_settings(train_cfg(compose_config, tmp_path, override), "train")
    assert {k for k in base if base[k] != changed.get(k)} >= {key}


def test_checkpoint_counts_by_its_content(compose_config, tmp_path):
    weights = tmp_path / "w.pkl"
    torch.save({"a": torch.zeros(2)}, weights)
    copy = tmp_path / "copy.pkl"
    copy.write_bytes(weights.read_bytes())
    first = run_settings(eval_cfg(compose_config, tmp_path, f"checkpoint={weights}"), "evaluate")
    moved = run_settings(eval_cfg(compose_config, tmp_path, f"checkpoint={copy}"), "evaluate")
    assert first == moved and first["checkpoint"].startswith("md5:")
    torch.save({"a": torch.ones(2)}, weights)  # the same name, other weights
    retrained = run_settings(
        eval_cfg(compose_config, tmp_path, f"checkpoint={weights}"), "evaluate"
    )
    assert retrained["checkpoint"] != first["checkpoint"]


def test_resumed_training_with_other_settings_stops_and_resume_false_restarts(
    compose_config, tmp_path
):
    train(train_cfg(compose_config, tmp_path))
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    trained = last.read_bytes()
    with pytest.raises(RunFolderError, match=r"module\.lr_schedule\.base_lr.*resume=false"):
        train(train_cfg(compose_config, tmp_path, "module.lr_schedule.base_lr=0.01"))
    assert last.read_bytes() == trained  # nothing was trained on top of it
    stale = run / "checkpoints" / "epoch=9.ckpt"  # of a longer earlier run
    stale.write_bytes(b"")
    result = train(
        train_cfg(compose_config, tmp_path, "module.lr_schedule.base_lr=0.01", "resume=false")
    )
    assert result["resumed_from"] is None
    assert not stale.exists()
    settings = json.loads((run / FINGERPRINT_FILE).read_text())["settings"]
    assert settings["module.lr_schedule.base_lr"] == 0.01


def test_a_folder_of_unknown_settings_is_neither_used_nor_emptied(compose_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine\n")
    for restart in (False, True):
        with pytest.raises(RunFolderError, match=r"notes\.txt.*no fingerprint\.json"):
            prepare_run_dir(
                run, eval_cfg(compose_config, tmp_path), task="evaluate", restart=restart
            )
    assert (run / "notes.txt").read_text() == "mine\n"


def test_another_entry_point_does_not_write_into_a_run_folder(compose_config, tmp_path):
    prepare_run_dir(tmp_path / "run", train_cfg(compose_config, tmp_path), task="train")
    for restart in (False, True):  # not even emptied by an explicit overwrite
        with pytest.raises(
            RunFolderError, match=r"holds the results of a train run, not of evaluate"
        ):
            prepare_run_dir(
                tmp_path / "run",
                eval_cfg(compose_config, tmp_path),
                task="evaluate",
                restart=restart,
            )
    assert (tmp_path / "run" / CONFIG_FILE).is_file()


def test_only_the_first_process_writes(compose_config, tmp_path):
    cfg = eval_cfg(compose_config, tmp_path)
    prepare_run_dir(tmp_path / "run", cfg, task="evaluate", write=False)
    assert not (tmp_path / "run" / FINGERPRINT_FILE).exists()


def test_empty_run_folders_are_removed(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "evaluate.log").write_text("")
    (run / CONFIG_FILE).write_text("a: 1\n")
    (run / FINGERPRINT_FILE).write_text("{}")
    remove_if_empty(run)
    assert not run.exists()
    kept = tmp_path / "kept"
    (kept / "t").mkdir(parents=True)
    remove_if_empty(kept)
    assert kept.is_dir()


def test_sweep_study_names_follow_the_fixed_settings_not_the_swept_ones(compose_config, tmp_path):
    def study(*overrides: str) -> str:
        cfg = compose_config_with_hydra("evaluate", "hparams_search=tracker_optuna", *overrides)
        return OmegaConf.select(cfg, "hydra.sweeper.study_name")

    weights = tmp_path / "w.pkl"
    torch.save({"a": torch.zeros(2)}, weights)
    base = study(f"checkpoint={weights}")
    assert base.startswith("tracker_synthetic_")
    assert study(f"checkpoint={weights}", "tracker.test_lr=0.3") == base  # swept: free
    assert study(f"checkpoint={weights}", "devices=2") == base
    assert study(f"checkpoint={weights}", "backbone=googlenet") != base
    assert study(f"checkpoint={weights}", "optimized_metric=SR.50") != base
    torch.save({"a": torch.ones(2)}, weights)
    assert study(f"checkpoint={weights}") != base


def compose_config_with_hydra(config_name: str, *overrides: str):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3", job_name=config_name):
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)
