"""The built-in benchmark: procedural sequences written once in the GOT-10k layout and scored with
the GOT-10k code path (reader, result files, toolkit report), so no download is needed.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from siamfcpp.config import config_int
from siamfcpp.data.sources.synthetic import GENERATOR_VERSION, sequence_name, write_got10k_split
from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.got10k import GOT10kBenchmark
from siamfcpp.io.files import write_error

log = logging.getLogger(__name__)


class SyntheticBenchmark(GOT10kBenchmark):
    """``num_sequences`` synthetic sequences, cached under ``root`` and evaluated as GOT-10k val.

    The cache folder name holds the generator version and every generation parameter, so
    different settings (or an older generator's data) never mix and a rerun reuses the frames.

    Args:
        root: cache folder for generated data sets.
        num_sequences: how many sequences.
        num_frames: frames per sequence.
        frame_width, frame_height: frame size in pixels.
        seed: base seed; sequence ``k`` is ``(seed, k)`` in :mod:`siamfcpp.data.sources.synthetic`.
        sequences: an explicit subset of the sequence names (None: all of them).
    """

    name = "synthetic"

    def __init__(
        self,
        root: str | Path,
        num_sequences: int,
        num_frames: int,
        frame_width: int,
        frame_height: int,
        seed: int,
        sequences: Sequence[str] | None = None,
    ) -> None:
        config_int("num_sequences", num_sequences, 1)
        config_int("num_frames", num_frames, 2, hint=" (the initial frame and one tracked)")
        config_int("frame_width", frame_width, 1)
        config_int("frame_height", frame_height, 1)
        self.cache_dir = Path(root).expanduser() / (
            f"v{GENERATOR_VERSION}_seed{seed}_n{num_sequences}_t{num_frames}"
            f"_{frame_width}x{frame_height}"
        )
        super().__init__(self.cache_dir, subset="val", sequences=sequences)
        self.num_sequences = num_sequences
        self.num_frames = num_frames
        self.frame_size = (frame_width, frame_height)
        self.seed = seed

    def _official_names(self) -> list[str]:
        return [sequence_name("val", k) for k in range(self.num_sequences)]

    def _ensure_data(self) -> None:
        """Generate the data set unless the cache holds it (complete data sets only)."""
        if (self.cache_dir / "val" / "list.txt").is_file():
            return
        log.info("generating synthetic sequences in %s", self.cache_dir)
        # Build next to the final folder and rename: an interrupted run leaves no half data set.
        tmp = self.cache_dir.with_name(f".{self.cache_dir.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            write_got10k_split(
                tmp, "val", self.num_sequences, self.num_frames, self.frame_size, self.seed
            )
        except OSError as err:  # no space or no permission under benchmark.root
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_error(self.cache_dir, err, key="benchmark.root") from err
        try:
            tmp.rename(self.cache_dir)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
            if not (self.cache_dir / "val" / "list.txt").is_file():
                raise

    def _read(self) -> list[SequenceData]:
        self._ensure_data()
        return super()._read()
