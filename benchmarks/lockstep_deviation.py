"""Batched against one-at-a-time tracking: float noise amplified, or a defect?

Issue 14 saw batched ("lockstep") boxes up to 200 px away from one-at-a-time boxes (AlexNet GOT
preset, random weights, on a GPU). This script separates the two explanations on generated
sequences (``--sequences`` x ``--frames``, ``--size``) with the parity-recipe weights of that
preset (``tests/parity_weights.py``; ``--weights random`` for seeded random ones):

* one at a time: the reference engine with one slot, free running; per frame its box, the box's
  IoU with the ground truth and the margin between the best and the second-best selection score
  (``last_penalized_map``: a small margin is a near-tie that any noise can flip);
* batched, free running: all sequences in one engine (one network call per frame);
* batched, one step: each frame tracked from the one-at-a-time run's previous box (``place``),
  so every frame compares the same computation on the same input.

If the batched step computes the same function, its one-step boxes stay within float noise of
the one-at-a-time boxes on every frame (checked by ``tests/test_lockstep_deviation.py`` on a GPU:
0.05 px), and free-running differences can only start from that noise and grow through the
tracker's own dynamics; the table shows where the runs part, with the one-at-a-time tracker's IoU
(0: it had lost the target) and score margin (small: a near-tie) there. Rows per TF32 setting
(cuDNN convolutions use TF32 by default on Ampere+ GPUs, whose rounding depends on the algorithm,
hence on the batch size) and sequence.

    python benchmarks/lockstep_deviation.py --out deviation.json     # H200: ~30 s
    python benchmarks/lockstep_deviation.py --device cpu --sequences 2 --frames 5 --size 160x96 \\
        --one-step-frames 3                                           # CPU smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import compose_cfg, device_name, emit
from hydra.utils import instantiate

from siamfcpp.data.sources.synthetic import generate_sequence
from siamfcpp.geometry import iou_xywh
from siamfcpp.model.checkpoints import load_checkpoint
from siamfcpp.tracking.engine import build_engine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the parity weights are built by the tests' recipe
from tests.parity_weights import FIXTURE_MODELS, write_parity_checkpoint  # noqa: E402

LOST_IOU = 0.1  # the one-at-a-time tracker is on the background (no overlap with the target)


def build_engines(args, tmp: Path):
    """One-slot and all-sequence engines of the preset, sharing one network."""
    preset = FIXTURE_MODELS[args.weights_model][1] if args.preset is None else args.preset
    cfg = compose_cfg("evaluate", [f"experiment={preset}", "tracker=siamfcpp"])
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    if args.weights == "parity":
        load_checkpoint(model, write_parity_checkpoint(args.weights_model, tmp))
    device = torch.device(args.device)
    one = build_engine(cfg.tracker, model, device, 1)
    return preset, one, build_engine(cfg.tracker, model, device, args.sequences)


def one_at_a_time(engine, frames, gt):
    """Free-running boxes ``[T, 4]``, IoU with ``gt`` ``[T]`` and selection margins ``[T]``."""
    engine.init([0], frames[:1], gt[:1])
    boxes, margins = [gt[0]], [np.inf]
    for frame in frames[1:]:
        boxes.append(engine.update([0], [frame])[0])
        top = np.sort(engine.trackers[0].last_penalized_map.reshape(-1))[-2:]
        margins.append(float(top[1] - top[0]))
    boxes = np.array(boxes)
    return boxes, iou_xywh(boxes, gt), np.array(margins)


def batched(engine, sequences, priors=None, steps=None):
    """All sequences in one engine: boxes ``[K, T, 4]``; with ``priors`` every frame is tracked
    from ``priors[:, t - 1]`` (one step)."""
    slots = list(range(len(sequences)))
    engine.init(slots, [f[0] for f, _ in sequences], np.stack([gt[0] for _, gt in sequences]))
    steps = steps or len(sequences[0][0])
    boxes = [np.stack([gt[0] for _, gt in sequences])]
    for t in range(1, steps):
        if priors is not None:
            engine.place(slots, priors[:, t - 1])
        boxes.append(engine.update(slots, [f[t] for f, _ in sequences]))
    return np.stack(boxes, axis=1)


def analyse(args, one, many, sequences) -> list[list]:
    """Rows of one TF32 setting: per sequence the deviations and where they start."""
    runs = [one_at_a_time(one, frames, gt) for frames, gt in sequences]
    reference = np.stack([boxes for boxes, _, _ in runs])
    free = np.abs(batched(many, sequences) - reference).max(axis=2)  # [K, T]
    steps = min(args.one_step_frames or args.frames, args.frames)
    one_step = np.abs(batched(many, sequences, reference, steps) - reference[:, :steps]).max(axis=2)
    rows = []
    for k, (_, iou, margin) in enumerate(runs):
        apart = np.flatnonzero(free[k] > 1.0)
        if apart.size:
            t = int(apart[0])
            where = f"{t}", f"{iou[t]:.2f}", f"{margin[t]:.1e}", f"{free[k, t - 1]:.1e}"
        else:
            where = "-", "-", "-", "-"
        rows.append(
            [
                k,
                f"{free[k, 1:4].max():.1e}",
                f"{free[k].max():.2f}",
                *where,
                f"{np.mean(iou < LOST_IOU):.0%}",
                f"{one_step[k].max():.1e}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--weights", choices=["parity", "random"], default="parity")
    parser.add_argument("--weights-model", default="alexnet_got", choices=list(FIXTURE_MODELS))
    parser.add_argument("--preset", default=None, help="default: the weights model's preset")
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--one-step-frames", type=int, default=None, help="default: all")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with multiprocessing.get_context("fork").Pool() as pool:
        tasks = [((1, k), args.frames, size) for k in range(args.sequences)]
        sequences = pool.starmap(generate_sequence, tasks)
    cuda = args.device.startswith("cuda")
    rows = []
    with torch.inference_mode():
        with tempfile.TemporaryDirectory() as tmp:
            preset, one, many = build_engines(args, Path(tmp))
        for tf32 in (True, False) if cuda else (None,):
            if cuda:
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            setting = "cpu" if tf32 is None else f"TF32 {'on' if tf32 else 'off'}"
            rows += [[setting, *row] for row in analyse(args, one, many, sequences)]
    name = device_name(args.device)
    header = [
        "setting",
        "sequence",
        "free: first 3 updates (px)",
        "free: max (px)",
        "first frame > 1 px",
        "IoU there (one at a time)",
        "score margin there",
        "deviation the frame before (px)",
        "frames lost (IoU < 0.1)",
        "one step: max (px)",
    ]
    meta = {"device": name, "preset": preset, "weights": args.weights, "size": args.size}
    title = (
        f"Batched vs one at a time, {preset} ({args.weights} weights), {args.sequences} x "
        f"{args.frames} frames {args.size}, {name}"
    )
    emit(title, header, rows, args.out, meta)


if __name__ == "__main__":
    main()
