"""Scaling over devices: training pairs/s of ``train.py`` and wall time of ``evaluate.py``.

Runs the real entry points as subprocesses, once per device count in ``--devices``: training
with ``trainer=gpu`` (1 device) or ``trainer=ddp trainer.devices=N`` on the built-in synthetic
data (pairs/s over the global batch, the first ``--warmup`` steps excluded, data loading
included); evaluation with ``devices=N`` (sharded, siamfcpp/sharding.py) on a generated synthetic
benchmark (wall time of the whole command: start-up, network builds, tracking and scoring; the
box files are compared with the 1-device run's). Random weights. Scaling efficiency =
(rate on N) / (N x rate on 1).

    python benchmarks/multi_gpu.py --devices 1 2 --out multi_gpu.json    # 2 GPUs
    python benchmarks/multi_gpu.py --device cpu --devices 1 2 --train-steps 4 --warmup 1 \
        --batch-size 4 --workers 0 --sequences 4 --frames 10                 # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

REPO = Path(__file__).resolve().parents[1]


class PairsPerSecond(pl.Callback):
    """Rank 0 writes ``{"pairs_per_s", "steps"}`` to ``path`` at the end of training: pairs of the
    global batch per second from step ``warmup`` to the end (data loading included)."""

    def __init__(self, path: str, warmup: int) -> None:
        self.path, self.warmup = Path(path), warmup
        self.start: float | None = None

    def _now(self, pl_module: pl.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = self._now(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or self.start is None:
            return
        seconds = self._now(pl_module) - self.start
        steps = trainer.global_step - self.warmup
        batch = trainer.datamodule.batch_size  # global: each replica loads its share
        self.path.write_text(json.dumps({"pairs_per_s": steps * batch / seconds, "steps": steps}))


def _run(script: str, overrides: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *overrides], capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"{script} {' '.join(overrides)} failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - start


def train_rate(args, devices: int, folder: Path) -> float:
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    trainer = ["trainer=gpu"] if devices == 1 else ["trainer=ddp", f"trainer.devices={devices}"]
    steps = args.train_steps + args.warmup
    out = folder / f"train{devices}.json"
    _run(
        "train.py",
        [
            *trainer,
            f"trainer.accelerator={accelerator}",
            f"backbone={args.backbone}",
            f"data.batch_size={args.batch_size}",
            f"data.samples_per_epoch={steps * args.batch_size}",
            f"data.num_workers={args.workers}",
            "trainer.max_epochs=1",
            "module.lr_schedule.warmup_epochs=0",
            "logger=none",
            "callbacks.pair_images=null",
            "+callbacks.rate._target_=benchmarks.multi_gpu.PairsPerSecond",
            f"+callbacks.rate.path={out}",
            f"+callbacks.rate.warmup={args.warmup}",
            f"hydra.run.dir={folder / f'train{devices}'}",
        ],
    )
    return json.loads(out.read_text())["pairs_per_s"]


def eval_seconds(args, devices: int, folder: Path) -> tuple[float, dict[str, str]]:
    run_dir = folder / f"eval{devices}"
    seconds = _run(
        "evaluate.py",
        [
            f"device={args.device}",
            f"devices={devices}",
            f"backbone={args.backbone}",
            f"batch_sequences={args.batch_sequences}",
            f"benchmark.root={folder / 'data'}",
            f"benchmark.num_sequences={args.sequences}",
            f"benchmark.num_frames={args.frames}",
            f"hydra.run.dir={run_dir}",
        ],
    )
    boxes = {p.name: p.read_text() for p in run_dir.glob("*/*/*_001.txt")}
    return seconds, boxes


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))  # _common, as the other scripts
    from _common import compose_cfg, device_name, emit
    from hydra.utils import instantiate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backbone", default="alexnet")
    parser.add_argument("--batch-size", type=int, default=32, help="global training batch")
    parser.add_argument("--workers", type=int, default=8, help="loader workers per device")
    parser.add_argument("--train-steps", type=int, default=100, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed first steps")
    parser.add_argument("--sequences", type=int, default=60)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--batch-sequences", type=int, default=1, help="lockstep per device")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # generated here, once: not part of any timed run
        size = [f"benchmark.num_sequences={args.sequences}", f"benchmark.num_frames={args.frames}"]
        cfg = compose_cfg("evaluate", [f"benchmark.root={folder / 'data'}", *size])
        instantiate(cfg.benchmark).sequences()
        base_rate = base_seconds = base_boxes = None
        for devices in args.devices:
            rate = train_rate(args, devices, folder)
            seconds, boxes = eval_seconds(args, devices, folder)
            if base_rate is None:
                base_rate, base_seconds, base_boxes = rate / devices, seconds * devices, boxes
            rows.append(
                [
                    devices,
                    f"{rate:.1f}",
                    f"{rate / devices / base_rate:.2f}",
                    f"{seconds:.1f}",
                    f"{base_seconds / devices / seconds:.2f}",
                    "yes" if boxes == base_boxes else "NO",
                ]
            )
    header = [
        "devices",
        "train pairs/s",
        "train efficiency",
        "eval wall s",
        "eval efficiency",
        "same boxes",
    ]
    meta = {"device": device_name(args.device), **vars(args)}
    title = f"Scaling on {device_name(args.device)} ({args.backbone})"
    emit(title, header, rows, args.out, meta)


if __name__ == "__main__":
    main()
