"""Where ``train.py``'s time before the first optimisation step goes.

Runs ``python train.py`` as a user does (a few steps on the built-in data, or on ``--data-root``,
a GOT-10k-layout folder) once per variant, with
:class:`siamfcpp.training.callbacks.StartupTimer`, and prints the seconds from the process start
to: ``created`` (imports, config, data module and network built), ``fit start`` (trainer and
devices set up, logger started), ``first batch`` (data-loader workers started, first batch made)
and ``first step`` (first step done, device synchronised: cudnn autotuning, compilation).
``imports`` is ``import`` of the training stack alone, in a separate process. Variants, each
adding to the one before:

* ``as is``: ``trainer=gpu`` (``--device cuda``) or ``trainer=cpu`` with the default logger
  (wandb, offline);
* ``logger=none``: without a logger;
* ``crop_on=device``: the device crop path;
* ``no cudnn autotune``: ``trainer.benchmark=false``.

    python benchmarks/train_startup.py --device cuda --workers 14 --out startup.json   # ~2 min
    python benchmarks/train_startup.py --device cpu --workers 0 --steps 1 --batch-size 2 \
        --variants 2                                                          # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import emit

REPO = Path(__file__).resolve().parents[1]
PHASES = ("created", "fit_start", "first_batch", "first_step")
VARIANTS = [
    ("as is", []),
    ("logger=none", ["logger=none"]),
    ("crop_on=device", ["data.crop_on=device"]),
    ("no cudnn autotune", ["trainer.benchmark=false"]),
]


def import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import siamfcpp.training, siamfcpp.evaluation"],
        check=True,
        cwd=REPO,
    )
    return time.perf_counter() - start


def run(args, overrides: list[str], folder: Path) -> dict[str, float]:
    folder.mkdir(parents=True)
    timings = folder / "startup.json"
    command = [
        sys.executable,
        str(REPO / "train.py"),
        f"trainer={args.trainer}",
        f"trainer.max_steps={args.steps}",
        f"data.num_workers={args.workers}",
        f"data.batch_size={args.batch_size}",
        "callbacks.pair_images=null",
        "+callbacks.startup._target_=siamfcpp.training.callbacks.StartupTimer",
        f"+callbacks.startup.path={timings}",
        f"hydra.run.dir={folder}",
        *(
            ["data=got10k", f"data.sources.got10k.source.root={args.data_root}"]
            if args.data_root
            else []
        ),
        *overrides,
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"train.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(timings.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="steps of each run")
    parser.add_argument(
        "--data-root", default=None, help="GOT-10k-layout folder (default: built-in)"
    )
    parser.add_argument("--variants", type=int, default=len(VARIANTS), help="first N variants")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    args.trainer = "gpu" if args.device.startswith("cuda") else "cpu"
    rows = []
    imports = import_seconds()
    overrides: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, extra) in enumerate(VARIANTS[: args.variants]):
            overrides = [*overrides, *extra]
            seconds = run(args, overrides, Path(tmp) / f"run{k}")
            rows.append([name, f"{imports:.1f}", *(f"{seconds[p]:.1f}" for p in PHASES)])
    header = ["variant", "imports", "created", "fit start", "first batch", "first step"]
    meta = {"trainer": args.trainer, "workers": args.workers, "batch_size": args.batch_size}
    title = f"Seconds from the start of train.py (trainer={args.trainer}, {args.workers} workers)"
    emit(title, header, rows, args.out, meta)


if __name__ == "__main__":
    main()
