"""Tracker speed: frames per second of ``update`` (crop + network + post-processing).

Times the tracker only: frames are rendered (synthetic sequence) before the clock starts, and
``init`` is not counted. The network has random weights (speed does not depend on them).

    python benchmarks/tracker_fps.py                       # CPU, both backbones
    python benchmarks/tracker_fps.py --device cuda --frames 500 --tracker multi_temp
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from siamfcpp.data.sources.synthetic import generate_sequence

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def measure_fps(
    backbone: str, tracker: str, device: str, num_frames: int, warmup: int, overrides: list[str]
) -> float:
    """Mean ``update`` rate in frames per second on one synthetic sequence."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "evaluate", overrides=[f"backbone={backbone}", f"tracker={tracker}", *overrides]
        )
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    frames, boxes = generate_sequence(seed=0, num_frames=num_frames + warmup + 1)
    trk = instantiate(cfg.tracker, model=model, device=device)
    with torch.inference_mode():
        trk.init(frames[0], boxes[0])
        for frame in frames[1 : warmup + 1]:
            trk.update(frame)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for frame in frames[warmup + 1 :]:
            trk.update(frame)  # returns a host array, so every frame is synchronised
        elapsed = time.perf_counter() - start
    return num_frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:<k>")
    parser.add_argument("--backbones", nargs="+", default=["alexnet", "googlenet"])
    parser.add_argument("--tracker", default="siamfcpp", help="conf/tracker option")
    parser.add_argument("--frames", type=int, default=100, help="timed frames per backbone")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. tracker.x_size=...")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    for backbone in args.backbones:
        fps = measure_fps(
            backbone, args.tracker, args.device, args.frames, args.warmup, args.overrides
        )
        rows.append((args.device, backbone, args.tracker, f"{fps:.1f}"))
    header = ("device", "backbone", "tracker", "FPS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    threads = f", {torch.get_num_threads()} CPU threads" if args.device == "cpu" else ""
    print(f"tracker update speed ({args.frames} frames after {args.warmup} warm-up{threads})")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
