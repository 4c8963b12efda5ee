"""Whole-benchmark wall time: ``evaluate.py`` end to end, the reference against the device engine.

Generates (once, cached under ``--root``) ``--sequences`` x ``--frames`` synthetic JPEG frames
(``--size``, quality 95) in the GOT-10k layout, and a VOT2018-shaped workspace over the same
frames (polygon ground truth, the reset protocol). Each mode is one ``python evaluate.py``
process (start-up, network build, decoding, tracking, scoring and result files included):

* ``reference``: ``tracker=siamfcpp batch_sequences=1``, the one-at-a-time baseline of every
  ratio. With ``--reference-sequences K`` it tracks the first K sequences only and its wall time
  is extrapolated to all of them (start-up + K's tracking loop x N / K);
* ``engine``: ``tracker=siamfcpp_fast batch_sequences=B tracker.precision=P`` with
  ``tracker.cuda_graph=true`` on CUDA (frames decoded by worker processes), per ``--networks``
  form: ``inference`` (the engine's default, with ``--engine-options``, e.g.
  ``tracker.xcorr=shift tracker.compile=max-autotune-no-cudagraphs``) and / or ``reference``
  (``tracker.network=reference``, the module as trained).

Columns from the run's ``metrics.json`` ``timing``: tracking-loop seconds, scoring seconds,
tracked frames/s, the loop's share waiting for decoded frames and the device's busy share (the
rest of the wall time is the process's start-up: imports, network, data set index, and exit).
Deviation: largest box difference from the reference run on the sequences both tracked (GOT; random
weights make the AlexNet tracker chaotic: see ``lockstep_deviation.py``), VOT: sequences with the
same per-frame status (init / tracked / failure / skipped) and the failure counts. Where torchvision
is installed, one more GOT-10k row decodes the JPEG frames on the GPU (``gpu_decode=true``, nvJPEG).
Also printed: decoding frames/s (OpenCV in one and in W processes; nvJPEG through torchvision where
installed) and a profile of one engine step
(:meth:`~siamfcpp.tracking.device_engine.DeviceEngine.profile`). Random weights.

Python bytecode: a process compiles every module it imports whose bytecode is not cached. An
ordinary install caches it at the first import; the H200 image ships torch without it and sets
PYTHONDONTWRITEBYTECODE, so there every ``evaluate.py`` process spent 3.7 s compiling ~1,000
modules. As on an ordinary install, the runs here share a bytecode cache (PYTHONPYCACHEPREFIX),
filled by untimed warm-up runs of both modes on one sequence (``--no-bytecode-cache``: as the
environment is).

    python benchmarks/eval_walltime.py --out walltime.json         # H200, 16 cores: ~4 min
    python benchmarks/eval_walltime.py --out walltime.json --networks inference reference \
        --engine-options tracker.channels_last=true                 # both forms: ~6 min
    python benchmarks/eval_walltime.py --device cpu --sequences 2 --frames 4 --size 160x96 \\
        --batch-sizes 2 --precisions float32 --backbones alexnet --reference-sequences 1 \\
        --decode-frames 8                                            # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import compose_cfg, device_name, emit
from hydra.utils import instantiate

from siamfcpp.data.sources.got10k import write_got10k_list, write_got10k_sequence
from siamfcpp.data.sources.synthetic import generate_sequence, sequence_name
from siamfcpp.evaluation.trajectory import FAILURE, read_trajectory, trajectory_path
from siamfcpp.io.decode import InlineDecoder, ProcessDecoder, gpu_jpeg_decoding
from siamfcpp.io.frames import read_frame
from siamfcpp.tracking.engine import build_engine

REPO = Path(__file__).resolve().parents[1]
PRESETS = {  # (data set, backbone) -> evaluation preset
    ("got10k", "alexnet"): "siamfcpp_alexnet_got",
    ("got10k", "googlenet"): "siamfcpp_googlenet_got",
    ("vot", "alexnet"): "siamfcpp_alexnet",
    ("vot", "googlenet"): "siamfcpp_googlenet",
}
TRACKER = "t"  # results folder name of every run


# ---------------------------------------------------------------------- data
def _write_sequence(split_dir: Path, k: int, frames: int, size: tuple[int, int]) -> None:
    images, boxes = generate_sequence((0, k), frames, size)
    write_got10k_sequence(split_dir / sequence_name("val", k), images, boxes, full_gt=True)


def generate(root: Path, sequences: int, frames: int, size: tuple[int, int]) -> dict[str, Path]:
    """The GOT-10k root and the VOT workspace of the generated set (cached: list files last)."""
    tag = f"{sequences}x{frames}_{size[0]}x{size[1]}"
    got, vot = root / f"got_{tag}", root / f"vot_{tag}"
    names = [sequence_name("val", k) for k in range(sequences)]
    if not (got / "val" / "list.txt").is_file():
        with multiprocessing.get_context("fork").Pool() as pool:
            tasks = [(got / "val", k, frames, size) for k in range(sequences)]
            pool.starmap(_write_sequence, tasks)
        write_got10k_list(got / "val", names)
    if not (vot / "sequences" / "list.txt").is_file():
        write_vot_workspace(vot, got, names, size)
    return {"got10k": got, "vot": vot}


def write_vot_workspace(vot: Path, got: Path, names: list[str], size: tuple[int, int]) -> None:
    """A VOT toolkit workspace whose sequences read the GOT-10k frames (``sequence`` files with
    an absolute frame pattern) and whose ground truth is the boxes as 4-corner polygons."""
    for name in names:
        folder = vot / "sequences" / name
        folder.mkdir(parents=True, exist_ok=True)
        gt = np.loadtxt(got / "val" / name / "groundtruth.txt", delimiter=",", ndmin=2)
        x1, y1, x2, y2 = gt[:, 0], gt[:, 1], gt[:, 0] + gt[:, 2], gt[:, 1] + gt[:, 3]
        corners = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)
        (folder / "groundtruth.txt").write_text(
            "".join(",".join(f"{v:.2f}" for v in row) + "\n" for row in corners)
        )
        (folder / "sequence").write_text(
            f"channels.color={(got / 'val' / name).resolve()}/%08d.jpg\n"
            f"width={size[0]}\nheight={size[1]}\nlength={len(gt)}\n"
        )
    (vot / "sequences" / "list.txt").write_text("".join(f"{n}\n" for n in names))


def reference_subset(kind: str, root: Path, count: int, work: Path) -> Path:
    """A root holding the first ``count`` sequences of ``root`` (links and list files)."""
    subset = work / f"{kind}_first{count}"
    if kind == "got10k":
        names = (root / "val" / "list.txt").read_text().split()[:count]
        (subset / "val").mkdir(parents=True, exist_ok=True)
        for name in names:
            link = subset / "val" / name
            if not link.exists():
                link.symlink_to((root / "val" / name).resolve(), target_is_directory=True)
        write_got10k_list(subset / "val", names)
    else:
        names = (root / "sequences" / "list.txt").read_text().split()[:count]
        (subset / "sequences").mkdir(parents=True, exist_ok=True)
        for name in names:
            link = subset / "sequences" / name
            if not link.exists():
                link.symlink_to((root / "sequences" / name).resolve(), target_is_directory=True)
        (subset / "sequences" / "list.txt").write_text("".join(f"{n}\n" for n in names))
    return subset


# ---------------------------------------------------------------------- runs
def _names(root: Path) -> list[str]:
    """The sequences of a generated GOT-10k root or VOT workspace (its list file)."""
    for list_file in (root / "val" / "list.txt", root / "sequences" / "list.txt"):
        if list_file.is_file():
            return list_file.read_text().split()
    raise FileNotFoundError(f"no val/list.txt or sequences/list.txt under {root}")


#: environment of the evaluate.py processes (see the module docstring: the bytecode cache)
ENV = dict(os.environ)


def use_bytecode_cache(cache: Path) -> None:
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(cache)


def evaluate(preset: str, root: Path, out: Path, device: str, overrides: list[str]) -> dict:
    """Run ``evaluate.py`` once; its ``metrics.json`` plus ``wall`` seconds of the process.
    The generated sets are not the official splits, so their sequences are named as an explicit
    subset (``benchmark.sequences``)."""
    command = [
        sys.executable,
        str(REPO / "evaluate.py"),
        f"experiment={preset}",
        f"benchmark.root={root}",
        f"benchmark.sequences=[{','.join(_names(root))}]",
        f"device={device}",
        f"output_dir={out}",
        f"hydra.run.dir={out}",
        f"tracker_name={TRACKER}",
        *overrides,
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads((out / "metrics.json").read_text())
    result["wall"] = wall
    return result


def one_pass_deviation(reference: Path, engine: Path) -> float:
    """Largest box difference (px) over the sequences of the reference run."""
    worst = 0.0
    for seq_dir in sorted((reference / TRACKER).iterdir()):
        if not seq_dir.is_dir():
            continue
        name = seq_dir.name
        one = np.loadtxt(seq_dir / f"{name}_001.txt", delimiter=",", ndmin=2)
        other = np.loadtxt(engine / TRACKER / name / f"{name}_001.txt", delimiter=",", ndmin=2)
        worst = max(worst, float(np.abs(one - other).max()))
    return worst


def vot_agreement(reference: Path, engine: Path, names: list[str]) -> str:
    """``same status k/K, failures a vs b`` over the reference run's sequences."""
    same, failures = 0, [0, 0]
    for name in names:
        runs = [read_trajectory(trajectory_path(p / TRACKER, name)) for p in (reference, engine)]
        same += bool(np.array_equal(runs[0].status, runs[1].status))
        for k, run in enumerate(runs):
            failures[k] += int(np.count_nonzero(run.status == FAILURE))
    return f"same status {same}/{len(names)}, failures {failures[0]} vs {failures[1]}"


def track_rows(args, kind: str, root: Path, work: Path, backbone: str) -> list[list]:
    """Rows of one data set x backbone: the reference, then every engine configuration.

    An extrapolated reference (K of the N sequences) is charged its start-up, its tracking loop
    x N / K and the scoring of N sequences, timed in the first engine run (the same result files
    and scoring code): ``wall_K + loop_K (N / K - 1) + scoring_N - scoring_K``.
    """
    preset = PRESETS[(kind, backbone)]
    total = args.sequences
    count = min(args.reference_sequences, total)
    ref_root = reference_subset(kind, root, count, work) if count < total else root
    ref_out = work / f"{kind}_{backbone}_reference"
    reference = evaluate(preset, ref_root, ref_out, args.device, ["tracker=siamfcpp"])
    names = [s["name"] for s in reference["sequences"]]
    cuda = args.device.startswith("cuda")
    # each configuration once: a repeated one would resume (skip) its own result files
    configs = list(
        dict.fromkeys(
            (b, p, n, False)
            for n in args.networks
            for b in args.batch_sizes
            for p in args.precisions
        )
    )
    nvjpeg = args.nvjpeg and gpu_jpeg_decoding() is not None  # where installed
    if kind == "got10k" and cuda and nvjpeg:
        configs.append((max(args.batch_sizes), args.precisions[-1], args.networks[0], True))
    engines = []
    for batch, precision, network, gpu_decode in configs:
        overrides = engine_overrides(args, batch, precision, network, gpu_decode)
        mode = f"engine b{batch} {precision} {network}{' nvJPEG' if gpu_decode else ''}"
        out = work / f"{kind}_{backbone}_{mode.replace(' ', '_')}"
        result = evaluate(preset, root, out, args.device, overrides)
        if kind == "got10k":
            deviation = f"{one_pass_deviation(ref_out, out):.2e} px"
        else:
            deviation = vot_agreement(ref_out, out, names)
        engines.append((mode, result, deviation))
    timing = reference["timing"]
    ref_wall = reference["wall"] + timing["seconds"] * (total / count - 1)
    if count < total and engines:
        ref_wall += engines[0][1]["timing"]["scoring_seconds"] - timing["scoring_seconds"]
    label = "reference" if count == total else f"reference ({count} seqs, extrapolated)"
    rows = [_row(kind, backbone, label, ref_wall, reference, total / count, "1.00x", "-")]
    for mode, result, deviation in engines:
        ratio = f"{ref_wall / result['wall']:.2f}x"
        rows.append(_row(kind, backbone, mode, result["wall"], result, 1, ratio, deviation))
    return rows


def warm_up(args, root: Path, work: Path) -> None:
    """Untimed runs of the reference and of the first engine configuration on one sequence,
    which fill the bytecode cache."""
    backbone = args.backbones[0] if args.backbones else args.vot_backbones[0]
    subset = reference_subset("got10k", root, 1, work)
    engine = engine_overrides(
        args, args.batch_sizes[0], args.precisions[0], args.networks[0], gpu_decode=False
    )
    for k, overrides in enumerate((["tracker=siamfcpp"], engine)):
        out = work / f"warm_up_{k}"
        evaluate(PRESETS[("got10k", backbone)], subset, out, args.device, overrides)


def engine_overrides(args, batch: int, precision: str, network: str, gpu_decode: bool) -> list[str]:
    """``evaluate.py`` overrides of one engine configuration (CUDA graph on CUDA); the ``network``
    form takes ``args.engine_options`` (inference, the engine's default) or
    ``tracker.network=reference`` (the module as trained)."""
    form = args.engine_options if network == "inference" else ["tracker.network=reference"]
    return [
        "tracker=siamfcpp_fast",
        f"batch_sequences={batch}",
        f"tracker.precision={precision}",
        f"tracker.cuda_graph={str(args.device.startswith('cuda')).lower()}",
        f"gpu_decode={str(gpu_decode).lower()}",
        *form,
    ]


def _row(kind, backbone, mode, wall, result, scale, ratio, deviation) -> list:
    timing = result["timing"]
    busy = timing.get("device_busy_share")
    return [
        kind,
        backbone,
        mode,
        f"{wall:.1f}",
        f"{timing['seconds'] * scale:.1f}",
        f"{timing['scoring_seconds']:.1f}" if scale == 1 else "-",
        f"{timing['frames_per_second']:.1f}",
        ratio,
        f"{timing['decode_wait_share']:.0%}",
        "-" if busy is None else f"{busy:.0%}",
        deviation,
    ]


# ---------------------------------------------------------------------- decoding and profile
def decode_rows(root: Path, frames: int, workers: int, device: str) -> list[list]:
    """Frames/s of decoding ``frames`` files: OpenCV here, in ``workers`` processes, nvJPEG."""
    paths = sorted((root / "val").glob("*/*.jpg"))[:frames]
    rows = []
    start = time.perf_counter()
    decoder = InlineDecoder()
    for ticket in decoder.submit(paths):
        decoder.result(ticket)
    rows.append(["OpenCV, 1 process", f"{len(paths) / (time.perf_counter() - start):.0f}"])
    entries = 4 * workers
    half = entries // 2
    with ProcessDecoder(workers, entries, pin_memory=device.startswith("cuda")) as decoder:
        decoder.release(decoder.submit(paths[:1])[0])  # workers and ring start off the clock
        start = time.perf_counter()
        previous: list = []
        for begin in range(0, len(paths) + half, half):  # one batch decodes, one is read
            current = decoder.submit(paths[begin : begin + half])
            for ticket in previous:
                decoder.result(ticket)
                decoder.release(ticket)
            previous = current
        fps = len(paths) / (time.perf_counter() - start)
    rows.append([f"OpenCV, {workers} processes (shared ring)", f"{fps:.0f}"])
    nvjpeg = _nvjpeg_fps(paths, device) if device.startswith("cuda") else None
    if nvjpeg is not None:
        rows.append(["nvJPEG (torchvision.io.decode_jpeg on the GPU, batch 64)", f"{nvjpeg:.0f}"])
    return rows


def _nvjpeg_fps(paths: list[Path], device: str) -> float | None:
    """Frames/s of torchvision's GPU JPEG decoding (batches of 64), if torchvision is there."""
    decode_jpeg = gpu_jpeg_decoding()
    if decode_jpeg is None:
        return None
    data = [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in paths]
    decode_jpeg(data[:64], device=device)  # initialise nvJPEG
    torch.cuda.synchronize()
    start = time.perf_counter()
    for begin in range(0, len(data), 64):
        decode_jpeg(data[begin : begin + 64], device=device)
    torch.cuda.synchronize()
    return len(data) / (time.perf_counter() - start)


def profile_rows(args, root: Path, backbone: str) -> list[list]:
    """Where one engine step goes: per phase ms per step, us per frame, share of the step."""
    batch, precision = max(args.batch_sizes), args.precisions[-1]
    engine = engine_overrides(args, batch, precision, args.networks[0], gpu_decode=False)
    cfg = compose_cfg("evaluate", [f"experiment={PRESETS[('got10k', backbone)]}", *engine])
    torch.manual_seed(0)
    engine = build_engine(cfg.tracker, instantiate(cfg.model), torch.device(args.device), batch)
    names = (root / "val" / "list.txt").read_text().split()
    names = [names[k % len(names)] for k in range(batch)]
    first = [read_frame(root / "val" / n / "00000001.jpg") for n in names]
    second = [read_frame(root / "val" / n / "00000002.jpg") for n in names]
    gt = np.stack(
        [np.loadtxt(root / "val" / n / "groundtruth.txt", delimiter=",", ndmin=2)[0] for n in names]
    )
    slots = list(range(batch))
    with torch.inference_mode():
        engine.init(slots, first, gt)
        engine.update(slots, second)
        phases = engine.profile(second)
    step = phases["step"]
    graph = " graph" if args.device.startswith("cuda") else ""
    mode = f"b{batch} {precision} {args.networks[0]}{graph}"
    return [
        [backbone, mode, phase, f"{ms:.3f}", f"{ms * 1e3 / batch:.1f}", f"{ms / step:.0%}"]
        for phase, ms in phases.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", nargs="*", default=["alexnet", "googlenet"])
    parser.add_argument("--vot-backbones", nargs="*", default=["alexnet"])
    parser.add_argument("--sequences", type=int, default=60)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x360", help="frame WxH")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--precisions", nargs="+", default=["float32", "float16"])
    parser.add_argument(
        "--networks",
        nargs="+",
        default=["inference"],
        choices=["inference", "reference"],
        help="network forms of the engine runs (the first one is profiled)",
    )
    parser.add_argument(
        "--engine-options",
        nargs="+",
        default=[],
        help="tracker overrides of the inference-form engine runs, e.g. tracker.xcorr=shift "
        "tracker.compile=max-autotune-no-cudagraphs tracker.channels_last=true",
    )
    parser.add_argument("--reference-sequences", type=int, default=8)
    parser.add_argument("--decode-frames", type=int, default=3000)
    parser.add_argument("--decode-workers", type=int, default=None, help="default: cores - 1")
    parser.add_argument("--root", default=None, help="cache of the generated data (default: tmp)")
    parser.add_argument(
        "--no-nvjpeg",
        dest="nvjpeg",
        action="store_false",
        help="no gpu_decode=true row even where torchvision is installed",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run evaluate.py in the environment as is (see the docstring)",
    )
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    name = device_name(args.device)
    workers = args.decode_workers or max(1, len(os.sched_getaffinity(0)) - 1)
    meta = {
        "device": name,
        "sequences": args.sequences,
        "frames": args.frames,
        "size": args.size,
        "engine_options": args.engine_options,
        "bytecode_cache": not args.no_bytecode_cache,
    }
    with tempfile.TemporaryDirectory() as tmp:
        roots = generate(Path(args.root or tmp), args.sequences, args.frames, size)
        work = Path(tmp) / "runs"
        if not args.no_bytecode_cache:
            use_bytecode_cache(Path(tmp) / "pycache")
            warm_up(args, roots["got10k"], work)
        rows = []
        for kind, backbones in (("got10k", args.backbones), ("vot", args.vot_backbones)):
            for backbone in backbones:
                rows += track_rows(args, kind, roots[kind], work, backbone)
        decoding = decode_rows(roots["got10k"], args.decode_frames, workers, args.device)
        profile = []
        for backbone in args.backbones:
            profile += profile_rows(args, roots["got10k"], backbone)
    title = f"evaluate.py wall time, {args.sequences} x {args.frames} frames {args.size}, {name}"
    if args.engine_options:
        title += f", inference-form engine runs with {' '.join(args.engine_options)}"
    header = [
        "data set",
        "backbone",
        "mode",
        "wall s",
        "loop s",
        "scoring s",
        "frames/s",
        "vs reference",
        "decode wait",
        "device busy",
        "deviation from the reference",
    ]
    emit(title, header, rows, args.out, meta)
    print()
    decode_out = args.out and str(Path(args.out).with_suffix(".decode.json"))
    emit(f"JPEG decoding, {args.size}", ["decoder", "frames/s"], decoding, decode_out, meta)
    print()
    profile_header = ["backbone", "engine", "phase", "ms / step", "us / frame", "share of step"]
    profile_out = args.out and str(Path(args.out).with_suffix(".profile.json"))
    emit(f"One engine step on {name}", profile_header, profile, profile_out, meta)


if __name__ == "__main__":
    main()
