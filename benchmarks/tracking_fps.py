"""Tracking speed per backbone x path: reference float32, fast float32 / fp16, CUDA graph.

Frames per second of ``update`` on one synthetic sequence (frames rendered before the clock
starts, ``init`` and warm-up frames excluded, device synchronised around the timed loop; every
``update`` returns a host box, so each frame is synchronised anyway). Random weights.

    python benchmarks/tracking_fps.py --device cuda --out fps.json     # ~1 min on an H100
    python benchmarks/tracking_fps.py --frames 10 --warmup 2            # CPU smoke run
    python benchmarks/tracking_fps.py --frames 50 --threads 1           # CPU FPS, one thread
"""

from __future__ import annotations

import argparse

import torch
from _common import compose_cfg, device_name, emit, now
from hydra.utils import instantiate

from siamfcpp.data.sources.synthetic import generate_sequence

# path name -> tracker option and overrides; half precision and graphs only on CUDA
PATHS = {
    "reference fp32": ("siamfcpp", []),
    "fast fp32": ("siamfcpp_fast", []),
    "fast fp32 channels_last": ("siamfcpp_fast", ["tracker.channels_last=true"]),
    "fast fp32 cuda_graph": ("siamfcpp_fast", ["tracker.cuda_graph=true"]),
    "fast fp16": ("siamfcpp_fast", ["tracker.precision=float16"]),
    "fast fp16 cuda_graph": (
        "siamfcpp_fast",
        ["tracker.precision=float16", "tracker.cuda_graph=true"],
    ),
}
CPU_PATHS = ("reference fp32", "fast fp32")


def measure(backbone: str, path: str, device: str, frames, box0, warmup: int) -> float:
    option, overrides = PATHS[path]
    cfg = compose_cfg("evaluate", [f"backbone={backbone}", f"tracker={option}", *overrides])
    torch.manual_seed(0)
    tracker = instantiate(cfg.tracker, model=instantiate(cfg.model), device=device)
    with torch.inference_mode():
        tracker.init(frames[0], box0)
        for frame in frames[1 : warmup + 1]:
            tracker.update(frame)
        start = now(device)
        for frame in frames[warmup + 1 :]:
            tracker.update(frame)
        elapsed = now(device) - start
    return (len(frames) - warmup - 1) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", nargs="+", default=["alexnet", "googlenet"])
    parser.add_argument("--paths", nargs="+", default=None, help=f"subset of {list(PATHS)}")
    parser.add_argument("--frames", type=int, default=500, help="timed frames")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    paths = args.paths or (list(PATHS) if cuda else list(CPU_PATHS))
    frames, boxes = generate_sequence(seed=0, num_frames=args.frames + args.warmup + 1)
    rows = []
    for backbone in args.backbones:
        reference = None
        for path in paths:
            fps = measure(backbone, path, args.device, frames, boxes[0], args.warmup)
            reference = reference or fps
            rows.append([backbone, path, f"{fps:.1f}", f"{fps / reference:.2f}x"])
    name = device_name(args.device)
    meta = {
        "device": name,
        "frames": args.frames,
        "warmup": args.warmup,
        "torch": torch.__version__,
    }
    emit(
        f"Tracking FPS on {name} ({args.frames} frames)",
        ["backbone", "path", "FPS", "speed-up"],
        rows,
        args.out,
        meta,
    )


if __name__ == "__main__":
    main()
