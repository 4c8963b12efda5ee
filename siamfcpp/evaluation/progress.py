"""One progress bar over all frames of a benchmark run: frames per second and time left."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from siamfcpp.evaluation.protocols import Job


class FrameProgress:
    """A tqdm bar over ``total`` frames of ``num_sequences`` sequences.

    :meth:`step` (the run loop's ``on_step`` hook) advances it by one frame per job;
    :meth:`finished` tops it up by the frames a job skipped (the VOT reset protocol skips frames
    after a failure) and counts the sequence. The bar's rate is wall-clock frames per second
    (decoding included); the postfix shows the tracker's own FPS (engine time), as the reports do.
    Redrawn every second on a terminal, every 30 s in a log file.
    """

    def __init__(self, total: int, num_sequences: int, desc: str, position: int = 0) -> None:
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="frame",
            position=position,
            dynamic_ncols=True,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
        )
        self.num_sequences = num_sequences
        self.done = 0
        self.tracker_frames = 0
        self.tracker_seconds = 0.0
        self.counted: dict[int, int] = {}

    def step(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            self.counted[id(job)] = self.counted.get(id(job), 0) + 1
        self.bar.update(len(jobs))

    def finished(self, job: Job, num_frames: int) -> None:
        """Job ``job`` of ``num_frames`` frames is done (its ``times``: engine seconds per frame,
        0 where skipped)."""
        self.bar.update(max(0, num_frames - self.counted.pop(id(job), 0)))
        self.done += 1
        self.tracker_frames += int(np.count_nonzero(job.times))
        self.tracker_seconds += float(np.sum(job.times))
        fps = self.tracker_frames / self.tracker_seconds if self.tracker_seconds > 0 else 0.0
        self.bar.set_postfix_str(
            f"{self.done}/{self.num_sequences} sequences, tracker {fps:.1f} FPS"
        )

    def close(self) -> None:
        self.bar.close()
