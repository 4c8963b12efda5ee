"""Training throughput per data x backbone x data path x step options.

Rows: data ``synthetic`` (the built-in in-memory pairs, rendered on demand) or ``jpeg`` (a
GOT-10k-layout training set of generated JPEG frames, 1280x720 by default, written once into
``--jpeg-dir`` and reused); path ``reference`` (``data.crop_on=cpu``: workers crop with OpenCV),
``device`` (``data.crop_on=device``: workers ship uint8 frame regions, reduced JPEG decoding up to
``--max-reduction``, the device crops the batch and builds the targets) or ``cache`` (``device``
reading a patch cache prepared once with ``siamfcpp.data.prepare``; jpeg data only). Each row
is timed at the recipe's crop size (AlexNet 303, GoogLeNet 289) with random weights, no
Lightning Trainer, the module's own step (``forward_losses``, its ``channels_last``, ``compile``
and ``cuda_graph`` options) under autocast:

* loader pairs/s: the data loader alone (same workers, no model; the device crop not included);
* train pairs/s: loader + upload + device crop + forward + losses + backward + SGD step;
* device busy: share of the wall time the device spends between the start and the end of each
  step's work (CUDA events, not synchronised per step; the rest is waiting for data or the host);
* first step s: from the data loader's start (workers forked) to the first step done, device
  synchronised (worker start-up, first batch, cudnn autotuning, compilation).

Warm-up steps are excluded from the rates.

    python benchmarks/train_throughput.py --device cuda --workers 14 --out train.json   # ~5 min
    python benchmarks/train_throughput.py --device cpu --steps 1 --warmup 1 --batch-size 2 \\
        --workers 0 --backbones alexnet --data synthetic jpeg --paths reference device cache \\
        --jpeg-sequences 2 --jpeg-frames 4 --frame-size 320 240                  # CPU smoke run
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import torch
from _common import TRAIN_GEOMETRY, compose_cfg, device_name, emit, now
from hydra.utils import instantiate

from siamfcpp.data.prepare import prepare
from siamfcpp.data.sources.synthetic import write_got10k_split

PATHS = {
    "reference": ["data.crop_on=cpu"],
    "device": ["data.crop_on=device"],
    "cache": ["data.crop_on=device"],  # + data.patch_cache
}
AMP = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
GRAPH_OPTIONS = {"off": "false", "on": "true", "auto": "auto"}  # --cuda-graph: module.cuda_graph


def jpeg_set(args) -> Path:
    """The generated GOT-10k-layout set (written on first use; ``list.txt`` marks it complete)."""
    width, height = args.frame_size
    name = f"train_jpeg_{width}x{height}_{args.jpeg_sequences}x{args.jpeg_frames}"
    root = Path(args.jpeg_dir or Path(tempfile.gettempdir()) / "siamfcpp_bench") / name
    if not (root / "train" / "list.txt").is_file():
        start = time.perf_counter()
        write_got10k_split(
            root,
            "train",
            args.jpeg_sequences,
            args.jpeg_frames,
            (width, height),
            workers=os.cpu_count(),
        )
        print(f"wrote {root} in {time.perf_counter() - start:.0f} s")
    return root


def build(args, backbone: str, data: str, path: str, options: dict[str, str]):
    root = jpeg_set(args) if data == "jpeg" else None
    overrides = [
        f"backbone={backbone}",
        "logger=none",
        *TRAIN_GEOMETRY[backbone],
        *(["data=got10k", f"data.sources.got10k.source.root={root}"] if root else []),
        *PATHS[path],
        f"data.max_reduction={args.max_reduction}",
        f"data.num_workers={args.workers}",
        f"data.batch_size={args.batch_size}",
        f"data.samples_per_epoch={args.batch_size * 4 * (args.steps + args.warmup)}",
        f"data.pin_memory={args.device.startswith('cuda')}",
        f"module.channels_last={options['channels_last'] == 'on'}",
        f"module.compile={'null' if options['compile'] == 'off' else options['compile']}",
        f"module.cuda_graph={GRAPH_OPTIONS[options['cuda_graph']]}",
    ]
    cfg = compose_cfg("train", overrides)
    datamodule = instantiate(cfg.data)
    if path == "cache":
        cache = root.with_name(f"{root.name}_patches_{backbone}")  # the crop differs
        prepare(datamodule.sources, datamodule.crop, cache, workers=os.cpu_count(), quality=95)
        cfg = compose_cfg("train", [*overrides, f"data.patch_cache={cache}"])
        datamodule = instantiate(cfg.data)
    torch.manual_seed(0)
    return datamodule, instantiate(cfg.module)


def loader_rate(datamodule, steps: int, warmup: int) -> float:
    batches = iter(datamodule.train_dataloader())
    for _ in range(warmup):
        next(batches)
    start, pairs = time.perf_counter(), 0
    for _ in range(steps):
        pairs += next(batches)["is_negative"].shape[0]
    return pairs / (time.perf_counter() - start)


def train_rate(datamodule, module, device: str, amp: str, steps: int, warmup: int):
    """Pairs per second, device-busy share, seconds to the first step."""
    cuda = device.startswith("cuda")
    module = module.to(device).train()
    module.on_fit_start()  # the module's memory format and compilation
    optimizer = torch.optim.SGD(module.model.parameters(), lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler(enabled=amp == "fp16" and cuda)
    events = []
    begin_loader = time.perf_counter()
    batches = iter(datamodule.train_dataloader())
    first_step = busy = 0.0
    pairs, start = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            start, events, busy, pairs = now(device), [], 0.0, 0
        batch = next(batches)
        host_begin = time.perf_counter()
        if cuda:
            events.append((torch.cuda.Event(enable_timing=True), torch.cuda.Event(True)))
            events[-1][0].record()
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        batch = datamodule.on_after_batch_transfer(batch, 0)
        with torch.autocast(device.split(":")[0], dtype=AMP[amp] or torch.float32,
                            enabled=amp != "off"):  # fmt: skip
            loss = module.step_losses(batch)["total"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if cuda:
            events[-1][1].record()
        else:
            busy += time.perf_counter() - host_begin
        if step == 0:
            first_step = now(device) - begin_loader
        pairs += batch["im_x"].shape[0]
    elapsed = now(device) - start
    if cuda:
        busy = sum(b.elapsed_time(e) for b, e in events) / 1000
    return pairs / elapsed, busy / elapsed, first_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", nargs="+", default=["synthetic", "jpeg"])
    parser.add_argument("--backbones", nargs="+", default=["alexnet", "googlenet"])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--amp", nargs="+", default=["bf16"], choices=list(AMP))
    parser.add_argument("--channels-last", nargs="+", default=["on"], choices=["off", "on"])
    parser.add_argument("--compile", nargs="+", default=["off"], help="off or torch.compile modes")
    parser.add_argument(
        "--cuda-graph", nargs="+", default=["auto"], choices=list(GRAPH_OPTIONS),
        help="module.cuda_graph: the network's forward + backward as CUDA graphs (on: CUDA only; "
        "auto, train.py's default: on for CUDA)",
    )  # fmt: skip
    parser.add_argument("--max-reduction", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--jpeg-dir", default=None, help="where the JPEG set is kept (default: temp)"
    )
    parser.add_argument("--jpeg-sequences", type=int, default=40)
    parser.add_argument("--jpeg-frames", type=int, default=100)
    parser.add_argument("--frame-size", type=int, nargs=2, default=[1280, 720])
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    rows = []
    combos = itertools.product(
        args.data,
        args.backbones,
        args.paths,
        args.amp,
        args.channels_last,
        args.compile,
        args.cuda_graph,
    )
    for data, backbone, path, amp, channels_last, compile_mode, graph in combos:
        if path == "cache" and data != "jpeg":
            continue  # the in-memory frames have nothing to cache
        options = {"channels_last": channels_last, "compile": compile_mode, "cuda_graph": graph}
        datamodule, module = build(args, backbone, data, path, options)
        data_rate = loader_rate(datamodule, args.steps, args.warmup)
        rate, busy, first = train_rate(
            datamodule, module, args.device, amp, args.steps, args.warmup
        )
        rows.append(
            [data, backbone, path, amp, channels_last, compile_mode, graph, f"{data_rate:.0f}",
             f"{rate:.1f}", f"{busy:.0%}", f"{first:.1f}"]
        )  # fmt: skip
    name = device_name(args.device)
    meta = {
        "device": name,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "steps": args.steps,
        "max_reduction": args.max_reduction,
        "jpeg": f"{args.jpeg_sequences}x{args.jpeg_frames} frames {args.frame_size}",
        "torch": torch.__version__,
    }
    header = [
        "data",
        "backbone",
        "path",
        "amp",
        "channels_last",
        "compile",
        "cuda_graph",
        "loader pairs/s",
        "train pairs/s",
        "device busy",
        "first step s",
    ]
    title = f"Training throughput on {name}, batch {args.batch_size}, {args.workers} workers"
    emit(title, header, rows, args.out, meta)


if __name__ == "__main__":
    main()
