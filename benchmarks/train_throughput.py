"""Training throughput: pairs/s and GPU busy share per backbone x workers x AMP x channels_last.

Runs the training step (forward, the module's loss, backward, SGD step) on batches from the
configured ``SiamPairDataModule`` (default: the built-in synthetic data). "busy" is the share of
wall time the device spends inside forward + backward + step (CUDA events), the rest is waiting
for data or the host; "loader pairs/s" is the data pipeline alone (same workers, no model).
Warm-up steps excluded. Random weights, no Lightning Trainer (no logging overhead).

    python benchmarks/train_throughput.py --device cuda --out train.json       # ~5 min, H100
    python benchmarks/train_throughput.py --steps 2 --warmup 1 --batch-size 4 --workers 0 \
        --backbones alexnet --amp off --channels-last off                       # CPU smoke run
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
from _common import TRAIN_GEOMETRY, compose_cfg, device_name, emit, now
from hydra.utils import instantiate


def build(backbone: str, workers: int, batch_size: int, steps: int):
    overrides = [
        f"backbone={backbone}",
        "logger=none",
        *TRAIN_GEOMETRY[backbone],
        f"data.num_workers={workers}",
        f"data.batch_size={batch_size}",
        f"data.samples_per_epoch={batch_size * steps}",
    ]
    cfg = compose_cfg("train", overrides)
    torch.manual_seed(0)
    data = instantiate(cfg.data)
    module = instantiate(cfg.module)
    return data, module


def loader_rate(loader, steps: int, warmup: int) -> float:
    batches = iter(loader)
    for _ in range(warmup):
        next(batches)
    start = time.perf_counter()
    pairs = 0
    for _ in range(steps):
        pairs += next(batches)["im_x"].shape[0]
    return pairs / (time.perf_counter() - start)


def train_rate(module, loader, device, amp, channels_last, steps, warmup) -> tuple[float, float]:
    """Pairs per second and the device-busy share of the wall time."""
    cuda = device.startswith("cuda")
    model = module.model.to(device).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    loss_fn = module.loss
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    amp_dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler(enabled=amp == "fp16" and cuda)
    batches = iter(loader)
    busy, pairs, start = 0.0, 0, None
    for step in range(warmup + steps):
        if step == warmup:
            start, busy, pairs = now(device), 0.0, 0
        batch = next(batches)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        for key in ("im_z", "im_x"):
            batch[key] = batch[key].contiguous(memory_format=memory_format)
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        host_begin = time.perf_counter()
        with torch.autocast(device.split(":")[0], dtype=amp_dtype, enabled=amp != "off"):
            outputs = model(batch["im_z"], batch["im_x"])
            loss = loss_fn(outputs, batch)["total"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if cuda:
            end.record()
            end.synchronize()
            busy += begin.elapsed_time(end) / 1000
        else:
            busy += time.perf_counter() - host_begin
        pairs += batch["im_x"].shape[0]
    elapsed = now(device) - start
    return pairs / elapsed, busy / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", nargs="+", default=["alexnet", "googlenet"])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 14])
    parser.add_argument("--amp", nargs="+", default=["off", "bf16"], help="off | fp16 | bf16")
    parser.add_argument("--channels-last", nargs="+", default=["off", "on"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    rows = []
    total = args.steps + args.warmup
    for backbone, workers in itertools.product(args.backbones, args.workers):
        data, module = build(backbone, workers, args.batch_size, total * 2)
        data_rate = loader_rate(data.train_dataloader(), args.steps, args.warmup)
        for amp, cl in itertools.product(args.amp, args.channels_last):
            rate, busy = train_rate(
                module,
                data.train_dataloader(),
                args.device,
                amp,
                cl == "on",
                args.steps,
                args.warmup,
            )
            rows.append(
                [backbone, workers, amp, cl, f"{data_rate:.0f}", f"{rate:.1f}", f"{busy:.0%}"]
            )
    name = device_name(args.device)
    meta = {
        "device": name,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "torch": torch.__version__,
    }
    header = [
        "backbone",
        "workers",
        "amp",
        "channels_last",
        "loader pairs/s",
        "train pairs/s",
        "device busy",
    ]
    emit(f"Training throughput on {name}, batch {args.batch_size}", header, rows, args.out, meta)


if __name__ == "__main__":
    main()
