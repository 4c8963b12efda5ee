"""Prepare a patch cache for the fast data path (:mod:`siamfcpp.data.patch_cache`).

    python -m siamfcpp.data.prepare --out /data/cache/got10k --workers 16 \\
        data=got10k data.sources.got10k.source.root=/data/GOT-10k
    python train.py data=got10k data.sources.got10k.source.root=/data/GOT-10k \\
        data.crop_on=device data.patch_cache=/data/cache/got10k

The positional arguments are ``train.py`` overrides: the cache holds the configured training
sources, for the configured crop (``data.crop``; a run with other crop parameters refuses the
cache). An interrupted run continues where it stopped (complete sequences are skipped).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from siamfcpp.data.augment import RandomCropPair
from siamfcpp.data.patch_cache import write_manifest, write_sequence
from siamfcpp.data.sampling import MixtureEntry

log = logging.getLogger(__name__)
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

# set before the worker processes fork (sources and crop do not need to pickle)
_JOB: tuple[Mapping[str, MixtureEntry], RandomCropPair, Path, int] | None = None


def _write(task: tuple[str, int]) -> int:
    sources, crop, out, quality = _JOB
    sequence = sources[task[0]].source[task[1]]
    return write_sequence(sequence, out / sequence.name, crop, quality)


def prepare(
    sources: Mapping[str, MixtureEntry],
    crop: RandomCropPair,
    out: Path,
    *,
    workers: int,
    quality: int,
) -> int:
    """Cache every visible frame of every sequence of ``sources`` under ``out``.

    Returns:
        the number of frames written (0 for sequences already complete).
    """
    global _JOB
    names = Counter(
        entry.source[i].name for entry in sources.values() for i in range(len(entry.source))
    )
    clashes = [name for name, count in names.items() if count > 1]
    if clashes:
        raise ValueError(f"sequence names occur more than once in the sources: {clashes[:5]}")
    if any("/" in name or name.startswith(".") for name in names):
        raise ValueError("sequence names must be plain folder names")
    write_manifest(out, crop, quality)
    tasks = [(key, i) for key, entry in sources.items() for i in range(len(entry.source))]
    _JOB = (sources, crop, out, quality)
    written, start = 0, time.perf_counter()
    with ProcessPoolExecutor(max(1, workers), mp_context=get_context("fork")) as pool:
        for done, count in enumerate(pool.map(_write, tasks, chunksize=4), start=1):
            written += count
            if done % 100 == 0 or done == len(tasks):
                rate = written / (time.perf_counter() - start)
                log.info(
                    "%d / %d sequences, %d frames (%.0f frames/s)", done, len(tasks), written, rate
                )
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the cache folder (data.patch_cache)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of the patches")
    parser.add_argument("overrides", nargs="*", help="train.py overrides (data=..., ...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=args.overrides)
    data = instantiate(cfg.data)
    out = Path(args.out).expanduser()
    written = prepare(data.sources, data.crop, out, workers=args.workers, quality=args.quality)
    print(f"patch cache {out}: {written} frames written")


if __name__ == "__main__":
    main()
