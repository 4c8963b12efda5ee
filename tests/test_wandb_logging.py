"""wandb logging, offline: ``evaluate.py logger=wandb`` and ``train.py`` (logger=wandb, pair images)
in a tmp folder; checks what lands in the offline run folder: media files, tables, and the
records of the ``.wandb`` log (run group / tags, summary metrics).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from wandb.proto import wandb_internal_pb2 as pb

from siamfcpp.training.callbacks import pair_panel
from tests import cli


def run_script(script: str, *overrides: str, cwd: Path) -> None:
    cli.run_script(script, *overrides, cwd=cwd, env={"WANDB_DIR": str(cwd)})


def wandb_records(run_dir: Path) -> list[pb.Record]:
    """The records of an offline run's ``run-<id>.wandb`` (a LevelDB-style log of protobufs:
    32 KiB blocks, 7-byte chunk headers crc32 / length / type, after a 7-byte file header)."""
    (path,) = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record or the last chunk of one
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def summary_values(records: list[pb.Record]) -> dict[str, object]:
    values = {}
    for record in records:
        if record.WhichOneof("record_type") == "summary":
            for item in record.summary.update:
                if item.key:
                    values[item.key] = json.loads(item.value_json)
    return values


def history_keys(records: list[pb.Record]) -> dict[str, list[object]]:
    """Every value logged per key, in order (``run.log`` / Lightning's ``log_metrics``)."""
    values: dict[str, list[object]] = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                values.setdefault(key, []).append(json.loads(item.value_json))
    return values


def config_values(records: list[pb.Record]) -> dict[str, object]:
    """The run's config: its run record's and the later config updates."""
    values = {}
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind in ("run", "config"):
            updates = record.run.config.update if kind == "run" else record.config.update
            values.update({item.key: json.loads(item.value_json) for item in updates})
    return values


def run_record(records: list[pb.Record]) -> pb.RunRecord:
    return next(r.run for r in records if r.WhichOneof("record_type") == "run")


def test_offline_evaluate_logs_metrics_tables_plots_and_video(tmp_path):
    run_script(
        "evaluate.py",
        "logger=wandb",
        "benchmark.num_sequences=2",
        "benchmark.num_frames=6",
        f"hydra.run.dir={tmp_path / 'eval'}",
        cwd=tmp_path,
    )
    (run_dir,) = (tmp_path / "eval" / "wandb").glob("offline-run-*")
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())

    records = wandb_records(run_dir)
    run = run_record(records)
    assert run.project == "siamfcpp" and run.run_group == result["tracker"]
    assert run.job_type == "evaluate"
    assert list(run.tags) == ["synthetic"]  # not a sweep: no sweep / trial tags
    summary = summary_values(records)
    for name, value in result["metrics"].items():
        assert summary[name] == pytest.approx(value)

    media = run_dir / "files" / "media"
    (sequences_table,) = (media / "table").glob("sequences_*.table.json")
    table = json.loads(sequences_table.read_text())
    assert [row[table["columns"].index("name")] for row in table["data"]] == [
        row["name"] for row in result["sequences"]
    ]
    assert [row[table["columns"].index("AO")] for row in table["data"]] == pytest.approx(
        [row["AO"] for row in result["sequences"]]
    )
    (metrics_table,) = (media / "table").glob("metrics_*.table.json")
    assert "AO" in json.loads(metrics_table.read_text())["columns"]
    assert list((media / "images" / "plots").glob("success_plot_*.png"))
    (gif,) = (media / "videos").glob("tracking_*.gif")
    from PIL import Image

    with Image.open(gif) as image:
        assert image.n_frames == 6  # every frame of the short first sequence


def test_sweep_trials_are_tagged(tmp_path):
    run_script(
        "evaluate.py",
        "-m",
        "logger=wandb",
        "benchmark.num_sequences=1",
        "benchmark.num_frames=3",
        "tracker.test_lr=0.3,0.5",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    tags = {}
    for k in (0, 1):
        (run_dir,) = (tmp_path / "sweep" / str(k) / "wandb").glob("offline-run-*")
        tags[k] = list(run_record(wandb_records(run_dir)).tags)
    assert tags == {0: ["synthetic", "sweep", "trial-0"], 1: ["synthetic", "sweep", "trial-1"]}


def test_offline_train_logs_losses_lr_and_pair_images(tmp_path):
    run_script(
        "train.py",
        "data.samples_per_epoch=8",
        "data.batch_size=4",
        "data.num_workers=0",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=1",
        "callbacks.pair_images.every_n_steps=2",
        "callbacks.pair_images.num_pairs=2",
        f"hydra.run.dir={tmp_path / 'train'}",
        cwd=tmp_path,
    )
    (run_dir,) = (tmp_path / "train" / "wandb").glob("offline-run-*")
    history = history_keys(wandb_records(run_dir))
    assert len(history["train/total_step"]) == 4 and np.isfinite(history["train/total_step"]).all()
    assert len(history["train/lr_backbone"]) == 4
    # 4 steps, logged at steps 1 and 3, 2 pairs each: panels [x, 3 * x] RGB, x = 255 (the
    # built-in data's search crop)
    images = sorted((run_dir / "files" / "media" / "images" / "train").glob("pairs_*.png"))
    assert len(images) == 4
    from PIL import Image

    with Image.open(images[0]) as image:
        assert image.size == (3 * 255, 255)


def test_training_sweep_logs_one_run_per_trial_with_its_config_grouped(tmp_path):
    """``train.py -m`` with wandb: each trial its own run (not all merged into the first), with
    the trial's resolved config, grouped by experiment and tagged with the trial."""
    run_script(
        "train.py",
        "-m",
        "seed=0,1",
        "data.samples_per_epoch=2",
        "data.batch_size=2",
        "data.num_workers=0",
        "trainer.max_epochs=1",
        "module.lr_schedule.warmup_epochs=0",
        "callbacks.pair_images=null",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    ids = set()
    for k in (0, 1):
        (run_dir,) = (tmp_path / "sweep" / str(k) / "wandb").glob("offline-run-*")
        run = run_record(wandb_records(run_dir))
        ids.add(run.run_id)
        assert run.run_group == "siamfcpp_alexnet" and run.job_type == "train"
        assert list(run.tags) == ["train", "sweep", f"trial-{k}"]
        assert run.display_name == f"siamfcpp_alexnet-{k}"
        config = config_values(wandb_records(run_dir))
        assert config["seed"] == k and config["module"]["lr_schedule"]["base_lr"] == 0.08
    assert len(ids) == 2


def test_pair_panel_draws_target_map_and_score_map():
    side, score_size = 64, 5
    cls_gt = torch.zeros(score_size**2, 1)
    cls_gt[12] = 1.0  # centre cell positive
    box_gt = torch.zeros(score_size**2, 4)
    box_gt[12] = torch.tensor([20.0, 20.0, 40.0, 40.0])
    score = torch.zeros(score_size**2)
    score[0] = 1.0
    boxes = torch.full((score_size**2, 4), float("inf"))  # overflowing head: no predicted box
    panel = pair_panel(torch.zeros(3, side, side), cls_gt, box_gt, score, boxes)
    assert panel.shape == (side, 3 * side, 3) and panel.dtype == np.uint8
    crop, target_map, score_map = np.split(panel, 3, axis=1)
    assert (crop[20, 20:41] == (0, 255, 0)).all()  # target box edge, green
    centre = side // 2
    assert (target_map[centre, centre] != target_map[0, 0]).any()  # hot centre cell
    assert (score_map[0, 0] != score_map[centre, centre]).any()  # hot top-left cell
