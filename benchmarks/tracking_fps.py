"""Single-stream tracking speed: the reference tracker against the device engine at batch 1.

Frames per second of ``engine.update`` on one synthetic sequence per frame size (frames rendered
before the clock starts, cycled when fewer than the timed frames; ``init`` and warm-up frames
excluded; every update returns the box on the host, so each frame is synchronised). Paths:
``reference fp32`` is ``tracker=siamfcpp`` (the one-at-a-time reference on the network as
trained, the baseline of the ratios); ``engine ...`` is ``tracker=siamfcpp_fast`` with
``tracker.precision`` and ``tracker.cuda_graph`` (the whole step replayed as one CUDA graph), on
the network's inference form (the engine's default) plus ``--engine-options``; ``... reference
network`` is the engine on the module as trained (``tracker.network=reference``), for the gain of
the inference form. Random weights.

    python benchmarks/tracking_fps.py --out fps.json                  # H200: ~2 min
    python benchmarks/tracking_fps.py --out fps_compiled.json --paths "reference fp32" \
        "engine fp16 graph channels_last" --engine-options tracker.xcorr=shift \
        tracker.compile=max-autotune-no-cudagraphs               # the compiled inference form
    python benchmarks/tracking_fps.py --device cpu --frames 2 --warmup 1 --sizes 160x120  # smoke

Columns: FPS, its ratio, and for the engine paths the device's busy milliseconds per frame and the
host's rest of the frame's wall time; ``--profile`` adds each engine path's step phases.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import compose_cfg, device_name, emit, now
from hydra.utils import instantiate

from siamfcpp.data.sources.synthetic import generate_sequence
from siamfcpp.tracking.engine import build_engine

# path name -> tracker option and overrides; half precision and graphs only on CUDA
FP16, GRAPH = "tracker.precision=float16", "tracker.cuda_graph=true"
REFERENCE_NETWORK = "tracker.network=reference"
PATHS = {
    "reference fp32": ("siamfcpp", []),
    "engine fp32": ("siamfcpp_fast", []),
    "engine fp32 graph": ("siamfcpp_fast", [GRAPH]),
    "engine fp16": ("siamfcpp_fast", [FP16]),
    "engine fp16 graph": ("siamfcpp_fast", [FP16, GRAPH]),
    "engine fp16 graph channels_last": (
        "siamfcpp_fast",
        [FP16, GRAPH, "tracker.channels_last=true"],
    ),
    "engine fp16 graph channels_last compiled step": (
        "siamfcpp_fast",
        [FP16, GRAPH, "tracker.channels_last=true", "tracker.compile_step=true"],
    ),
    "engine fp32 graph reference network": ("siamfcpp_fast", [GRAPH, REFERENCE_NETWORK]),
    "engine fp16 graph channels_last reference network": (
        "siamfcpp_fast",
        [FP16, GRAPH, "tracker.channels_last=true", REFERENCE_NETWORK],
    ),
}
CPU_PATHS = ("reference fp32", "engine fp32")
UNIQUE_FRAMES = 120  # rendered per size; longer runs cycle through them
PHASES = ("upload", "crop", "network", "postprocess", "step")


def path_overrides(path: str, engine_options: list[str]) -> list[str]:
    """The config overrides of ``path``: its own, plus ``engine_options`` on the engine paths that
    run the inference form."""
    option, overrides = PATHS[path]
    inference = option == "siamfcpp_fast" and REFERENCE_NETWORK not in overrides
    return [f"tracker={option}", *overrides, *(engine_options if inference else [])]


def measure(
    backbone: str,
    overrides: list[str],
    device: str,
    frames,
    box0,
    timed: int,
    warmup: int,
    profile: bool = False,
) -> tuple[float, float | None, dict[str, float]]:
    """``(update frames/s, device ms per frame or None, phase profile)`` with ``overrides`` over
    ``timed`` frames after ``warmup``. The device time is the engine's busy time (frame upload
    queued to box copied back); the phases (:meth:`DeviceEngine.profile`, ms) only with
    ``profile`` and a device engine."""
    cfg = compose_cfg("evaluate", [f"backbone={backbone}", *overrides])
    torch.manual_seed(0)
    engine = build_engine(cfg.tracker, instantiate(cfg.model), torch.device(device), 1)
    sequence = [frames[1 + t % (len(frames) - 1)] for t in range(warmup + timed)]
    busy = getattr(engine, "busy_seconds", None) is not None
    with torch.inference_mode():
        engine.init([0], frames[:1], box0[None])
        for frame in sequence[:warmup]:
            engine.update([0], [frame])
        busy_before = engine.busy_seconds if busy else 0.0
        start = now(device)
        for frame in sequence[warmup:]:
            engine.update([0], [frame])
        elapsed = now(device) - start
        device_ms = (engine.busy_seconds - busy_before) * 1e3 / timed if busy else None
        phases = engine.profile(sequence[-1:]) if profile and hasattr(engine, "profile") else {}
    return timed / elapsed, device_ms, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", nargs="+", default=["alexnet", "googlenet"])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1280x720"], help="WxH")
    parser.add_argument("--paths", nargs="+", default=None, help=f"subset of {list(PATHS)}")
    parser.add_argument(
        "--engine-options",
        nargs="+",
        default=[],
        help="tracker overrides of the inference-form engine paths, e.g. tracker.xcorr=shift "
        "tracker.compile=max-autotune-no-cudagraphs tracker.stem=space_to_depth",
    )
    parser.add_argument("--frames", type=int, default=500, help="timed frames")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also a table of each engine path's step phases on the device (ms)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    paths = args.paths or (list(PATHS) if cuda else list(CPU_PATHS))
    rows, phase_rows = [], []
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        count = min(args.frames + args.warmup + 1, UNIQUE_FRAMES)
        frames, boxes = generate_sequence(seed=0, num_frames=count, frame_size=(width, height))
        box0 = np.asarray(boxes[0], dtype=np.float64)
        for backbone in args.backbones:
            reference = None
            for path in paths:
                overrides = path_overrides(path, args.engine_options)
                fps, device_ms, phases = measure(
                    backbone,
                    overrides,
                    args.device,
                    frames,
                    box0,
                    args.frames,
                    args.warmup,
                    args.profile,
                )
                reference = reference or fps
                # host: the rest of a frame's wall time (checks, staging copy, launches, sync)
                split = (
                    [f"{device_ms:.3f}", f"{1e3 / fps - device_ms:.3f}"]
                    if device_ms is not None
                    else ["", ""]
                )
                rows.append([backbone, size, path, f"{fps:.1f}", f"{fps / reference:.2f}x", *split])
                if phases:
                    phase_rows.append(
                        [backbone, size, path, *(f"{phases.get(k, 0):.3f}" for k in PHASES)]
                    )
    name = device_name(args.device)
    meta = {
        "device": name,
        "frames": args.frames,
        "warmup": args.warmup,
        "engine_options": args.engine_options,
        "torch": torch.__version__,
    }
    options = f", inference-form engine paths with {' '.join(args.engine_options)}"
    emit(
        f"Single-stream tracking FPS on {name} ({args.frames} frames, ratio vs the reference"
        f"{options if args.engine_options else ''})",
        ["backbone", "frame size", "path", "FPS", "vs reference", "device ms", "host ms"],
        rows,
        args.out,
        meta,
    )
    if phase_rows:
        emit(
            f"Batch-1 step phases on {name}, ms on the device (run one after the other; step: as "
            "update runs it)",
            ["backbone", "frame size", "path", *PHASES],
            phase_rows,
            None,
            meta,
        )


if __name__ == "__main__":
    main()
