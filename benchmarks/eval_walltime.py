"""Wall time of a one-pass evaluation: one at a time (reference, fast path) vs batched engines.

Generates (once, cached under ``--root``) a synthetic benchmark of ``--sequences`` x ``--frames``
in the GOT-10k layout and tracks all of it per mode, frame decoding included; prints seconds,
frames/s and the largest box deviation from the one-at-a-time reference run. Random weights.

    python benchmarks/eval_walltime.py --device cuda --out walltime.json  # 60 x 300: ~4 min, H100
    python benchmarks/eval_walltime.py --sequences 4 --frames 30 --batch-sizes 4   # CPU smoke run
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
from _common import compose_cfg, device_name, emit, now
from hydra.utils import instantiate

from siamfcpp.evaluation.datasets.synthetic import SyntheticBenchmark
from siamfcpp.evaluation.protocols import OnePassJob, decode_threads, run
from siamfcpp.tracking.engine import build_engine


def run_mode(mode: str, backbone: str, device: str, sequences) -> tuple[float, dict]:
    """Seconds to track every sequence (decoding included), and the boxes per sequence name."""
    tracker = "siamfcpp_fast" if "fast" in mode else "siamfcpp"
    slots = int(mode.split()[-1]) if mode.startswith("batch") else 1
    cfg = compose_cfg("evaluate", [f"backbone={backbone}", f"tracker={tracker}"])
    torch.manual_seed(0)
    engine = build_engine(cfg.tracker, instantiate(cfg.model), torch.device(device), slots)
    jobs = [OnePassJob(seq.name, seq.frames, seq.gt[0]) for seq in sequences]
    with torch.inference_mode():
        start = now(device)
        boxes = {
            job.name: job.boxes for job in run(engine, jobs, decode_workers=decode_threads(slots))
        }
    return now(device) - start, boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbone", default="alexnet")
    parser.add_argument("--sequences", type=int, default=60)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[60])
    parser.add_argument("--root", default=None, help="cache of the generated data (default: tmp)")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        benchmark = SyntheticBenchmark(args.root or tmp, args.sequences, args.frames, 640, 360, 0)
        sequences = benchmark.sequences()
        total = sum(len(s.frames) for s in sequences)
        modes = ["one-at-a-time reference", "one-at-a-time fast"]
        modes += [f"batch {b}" for b in args.batch_sizes]
        rows, reference = [], None
        for mode in modes:
            seconds, boxes = run_mode(mode, args.backbone, args.device, sequences)
            reference = reference or boxes
            deviation = max(float(np.abs(boxes[k] - reference[k]).max()) for k in reference)
            rows.append([mode, f"{seconds:.1f}", f"{total / seconds:.1f}", f"{deviation:.2e}"])
    name = device_name(args.device)
    meta = {
        "device": name,
        "backbone": args.backbone,
        "sequences": args.sequences,
        "frames": args.frames,
        "torch": torch.__version__,
    }
    header = ["mode", "seconds", "frames/s", "max box deviation (px)"]
    title = (
        f"Evaluation wall time, {args.sequences} x {args.frames} frames, {args.backbone}, {name}"
    )
    emit(title, header, rows, args.out, meta)


if __name__ == "__main__":
    main()
