"""Optuna sweeps (``conf/hparams_search/``): ``evaluate.py -m hparams_search=tracker_optuna`` on a
tiny synthetic benchmark, twice with the same study (the second run continues it), and the
summary helpers of :mod:`siamfcpp.apps.sweeps`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import yaml

from siamfcpp.apps.sweeps import (
    SUMMARY_FILE,
    TRIAL_FILE,
    collect_trials,
    sqlite_path,
    summary_markdown,
)
from tests.cli import run_script
from tests.test_vot_benchmark import write_workspace

TINY = ("benchmark.num_sequences=1", "benchmark.num_frames=4", "hydra.sweeper.n_trials=2")


def run_sweep(cwd: Path, *overrides: str) -> str:
    proc = run_script(
        "evaluate.py",
        "-m",
        "hparams_search=tracker_optuna",
        *TINY,
        *overrides,
        cwd=cwd,
        env={"COLUMNS": "200"},
    )
    return proc.stdout + proc.stderr


def studies(database: Path) -> dict[str, optuna.study.Study]:
    storage = f"sqlite:///{database}"
    return {
        s.study_name: optuna.load_study(study_name=s.study_name, storage=storage)
        for s in optuna.get_all_study_summaries(storage=storage)
    }


def test_tracker_sweep_runs_trials_and_resumes_its_study(tmp_path):
    first = run_sweep(tmp_path, "hydra.sweep.dir=sweep1")
    run_sweep(tmp_path, "hydra.sweep.dir=sweep2")
    # another network (seed of the random weights) on the same benchmark: another study
    run_sweep(tmp_path, "hydra.sweep.dir=sweep3", "seed=1", "hydra.sweeper.n_trials=1")

    # one persisted study of 4 trials: the second invocation continued the first
    database = tmp_path / "outputs/evaluate/sweeps/optuna.db"
    found = studies(database)
    assert len(found) == 2 and all(name.startswith("tracker_synthetic_") for name in found)
    study, other = sorted(found.values(), key=lambda s: len(s.trials), reverse=True)
    assert len(other.trials) == 1
    assert study.study_name in first
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    for trial in study.trials:
        assert set(trial.params) == {
            "tracker.test_lr",
            "tracker.window_influence",
            "tracker.penalty_k",
        }
        assert 0.2 <= trial.params["tracker.test_lr"] <= 0.8

    # each trial is a run folder whose metrics.json AO is the value the study recorded
    values = {}
    for sweep in ("sweep1", "sweep2"):
        for k in (0, 1):
            run_dir = tmp_path / sweep / str(k)
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
            ao = json.loads((run_dir / "metrics.json").read_text())["metrics"]["AO"]
            values[round(config["tracker"]["test_lr"], 12)] = ao
    recorded = {round(t.params["tracker.test_lr"], 12): t.value for t in study.trials}
    assert recorded == values

    best = yaml.safe_load((tmp_path / "sweep2" / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(values.values()) == study.best_value
    assert "Best AO of the study" in first
    summary = (tmp_path / "sweep1" / SUMMARY_FILE).read_text()
    assert summary.count("tracker.test_lr=") == 3  # best line + 2 trial rows


def test_summary_ranks_trials_and_reports_failures(tmp_path):
    for k, value in ((0, 0.3), (1, 0.7), (2, None)):
        (tmp_path / str(k)).mkdir()
        error = None if value else "optimized_metric=eao is undefined for this run: no run"
        record = {
            "value": value,
            "error": error,
            "overrides": [f"a={k}", "hparams_search=tracker_optuna"],
        }
        (tmp_path / str(k) / TRIAL_FILE).write_text(json.dumps(record))
    rows = collect_trials(tmp_path, "AO", maximize=True)
    assert [(r["trial"], r["AO"]) for r in rows] == [(1, 0.7), (0, 0.3), (2, None)]
    assert rows[0]["overrides"] == ["a=1"]
    assert [r["trial"] for r in collect_trials(tmp_path, "loss", maximize=False)] == [0, 1, 2]
    text = summary_markdown(rows, "AO", {"best_params": {"a": 1}, "best_value": 0.7})
    assert text.startswith("Best AO of the study: 0.7000 with a=1")
    assert "| 2 | failed: optimized_metric=eao is undefined for this run: no run |" in text


def test_sqlite_path_of_storage_urls():
    assert sqlite_path("sqlite:///out/s/optuna.db") == Path("out/s/optuna.db")
    assert sqlite_path("sqlite:////abs/optuna.db") == Path("/abs/optuna.db")
    assert sqlite_path("postgresql://u@host/db") is None
    assert sqlite_path(None) is None


def test_train_sweep_minimises_the_logged_loss(tmp_path):
    overrides = [
        "hparams_search=train_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweep.dir=sweep",
        "logger=none",
        "trainer.max_epochs=2",
        "data.samples_per_epoch=8",
        "data.num_workers=0",
        "data.batch_size=choice(4,8)",  # a command-line range replaces the config one
    ]
    run_script("train.py", "-m", *overrides, cwd=tmp_path)
    (study,) = studies(tmp_path / "outputs/train/sweeps/optuna.db").values()
    assert study.study_name.startswith("train_synthetic_")
    assert len(study.trials) == 2 and study.direction == optuna.study.StudyDirection.MINIMIZE
    rows = collect_trials(tmp_path / "sweep", "train/total_epoch", maximize=False)
    assert sorted(t.value for t in study.trials) == [row["train/total_epoch"] for row in rows]
    for row in rows:
        assert (Path(row["run_dir"]) / "checkpoints" / "last.ckpt").is_file()


def test_undefined_metric_fails_its_trial_with_the_reason_and_the_sweep_goes_on(tmp_path):
    """VOT's EAO is undefined when no run reaches the EAO interval (100 frames for VOT2018):
    every trial on a 20-frame sequence fails, each with that reason; none crashes the sweep."""
    root = write_workspace(tmp_path / "vot")
    proc = run_script(
        "evaluate.py",
        "-m",
        "hparams_search=tracker_optuna",
        "benchmark=vot2018",
        f"benchmark.root={root}",
        "benchmark.sequences=[beta]",
        "optimized_metric=eao",  # the old spelling of EAO still works
        "hydra.sweeper.n_trials=2",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        fails=True,
    )
    log = proc.stdout + proc.stderr
    assert "TypeError" not in log
    for k in (0, 1):  # the second trial ran after the first failed
        record = json.loads((tmp_path / "sweep" / str(k) / TRIAL_FILE).read_text())
        assert record["value"] is None
        assert "optimized_metric=eao is undefined" in record["error"]
        assert "no run (from an initialisation to the next failure" in record["error"]
        assert re.search(r"the longest has \d+$", record["error"])
        result = json.loads((tmp_path / "sweep" / str(k) / "metrics.json").read_text())
        assert result["metrics"]["EAO"] is None and "EAO" in result["undefined"]
    (study,) = studies(tmp_path / "outputs/evaluate/sweeps/optuna.db").values()
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    # no trial has a value: the sweeper has no best trial to write and ends with an error
    assert proc.returncode != 0
