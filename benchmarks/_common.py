"""Shared helpers of the speed benchmarks: config composition, timing, table + JSON output."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

import siamfcpp  # noqa: F401  (registers the configs' resolvers, e.g. siamfcpp.score_size)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# the original training recipes' search sizes (289 - 127 is off the stride grid, so GoogLeNet's
# score map is given, as in its recipe preset)
TRAIN_GEOMETRY = {
    "alexnet": ["data.crop.x_size=303"],
    "googlenet": ["data.crop.x_size=289", "model.head.score_size=17"],
}


def compose_cfg(config: str, overrides: list[str]):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(config, overrides=overrides)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def now(device: str) -> float:
    """Wall clock after waiting for queued device work."""
    sync(device)
    return time.perf_counter()


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({torch.get_num_threads()} threads)"


def emit(title: str, header: list[str], rows: list[list], out: str | None, meta: dict) -> None:
    """Print a markdown table; with ``out``, also write ``{meta, rows}`` as JSON (atomically)."""
    print(f"### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    if out:
        write_json(out, meta, [dict(zip(header, row, strict=True)) for row in rows])


def write_json(out: str, meta: dict, records: list[dict]) -> None:
    """Write ``{meta, rows}`` to ``out`` atomically."""
    path = Path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"meta": meta, "rows": records}, indent=2))
    os.replace(tmp, path)
    print(f"\nwrote {path}", file=sys.stderr)
