"""Lockstep evaluation: many sequences tracked together, one batched network call per step.

Every active sequence has its own unchanged tracker (any tracker built on
:class:`~siamfcpp.tracking.tracker.SiamFCppTracker`), run in a worker thread that also decodes the
frame (cv2 releases the GIL). The trackers' ``model`` is replaced by a :class:`_BatchingModel`
proxy: each ``template`` / ``search`` call waits until every active worker is either waiting or
done, then one batched ``template`` and one batched ``search`` run for all of them. Sequences that
end free their slot for the next one. Boxes equal one-at-a-time tracking up to the float32 noise
of batched convolutions (measured and checked in ``tests/test_lockstep.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from siamfcpp.benchmarks.base import SequenceData
from siamfcpp.benchmarks.runner import initial_box, read_frame, track_frame, track_one_pass
from siamfcpp.tracking.tracker import SiamFCppTracker


@dataclass
class _Call:
    kind: str  # "template" or "search"
    args: tuple
    result: object = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Barrier:
    """Collects network calls until no worker is running, then answers them in two batches."""

    model: nn.Module
    running: int = 0
    pending: list[_Call] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def call(self, kind: str, *args) -> object:
        request = _Call(kind, args)
        with self.cond:
            self.pending.append(request)
            self.running -= 1
            self._flush_if_idle()
            while not request.done:
                self.cond.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def worker_done(self) -> None:
        with self.cond:
            self.running -= 1
            self._flush_if_idle()

    def _flush_if_idle(self) -> None:
        if self.running > 0 or not self.pending:
            return
        calls, self.pending = self.pending, []
        try:
            with torch.no_grad():
                self._run([c for c in calls if c.kind == "template"], self._templates)
                self._run([c for c in calls if c.kind == "search"], self._searches)
        except BaseException as error:  # every waiting worker re-raises it
            for c in calls:
                c.error = error
        for c in calls:
            c.done = True
        # the answered workers run again (counted here, before any of them wakes)
        self.running += len(calls)
        self.cond.notify_all()

    @staticmethod
    def _run(calls: list[_Call], batched: Callable[[list[_Call]], None]) -> None:
        if calls:
            batched(calls)

    def _templates(self, calls: list[_Call]) -> None:
        kernels = self.model.template(torch.cat([c.args[0] for c in calls]))
        for i, c in enumerate(calls):
            c.result = tuple(k[i : i + 1] for k in kernels)

    def _searches(self, calls: list[_Call]) -> None:
        x = torch.cat([c.args[0] for c in calls])
        kernels = tuple(torch.cat(parts) for parts in zip(*(c.args[1] for c in calls), strict=True))
        # one device->host copy for the whole batch; trackers call .cpu() on CPU tensors (no-op)
        outputs = [t.cpu() for t in self.model.search(x, kernels)]
        for i, c in enumerate(calls):
            c.result = tuple(t[i : i + 1] for t in outputs)


class _BatchingModel:
    """Stands in for the network inside one tracker; calls go through the shared barrier."""

    def __init__(self, barrier: _Barrier) -> None:
        self.barrier = barrier

    def template(self, z: Tensor) -> tuple[Tensor, ...]:
        return self.barrier.call("template", z)

    def search(self, x: Tensor, kernels: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return self.barrier.call("search", x, kernels)


@dataclass
class _Slot:
    sequence: SequenceData
    tracker: SiamFCppTracker
    init_box: np.ndarray
    boxes: np.ndarray
    times: np.ndarray
    t: int = 0


def _step(slot: _Slot, barrier: _Barrier) -> None:
    """Decode frame ``slot.t`` and init / update its tracker (runs in a worker thread)."""
    try:
        path = slot.sequence.frames[slot.t]
        slot.boxes[slot.t] = track_frame(
            slot.tracker, slot.t, read_frame(path), path, slot.init_box
        )
    finally:
        barrier.worker_done()


def track_lockstep(
    make_tracker: Callable[[], SiamFCppTracker],
    sequences: Sequence[SequenceData],
    batch_size: int,
) -> Iterator[tuple[SequenceData, np.ndarray, np.ndarray]]:
    """Track ``sequences`` one-pass, up to ``batch_size`` at a time in lockstep.

    Args:
        make_tracker: builds one tracker per sequence (all share the factory's network).
        sequences: the benchmark's sequences; frame 0 is initialised with ``gt[0]``.
        batch_size: sequences tracked together (slots refilled as sequences end).

    Yields:
        ``(sequence, boxes [T, 4] float64 x, y, w, h, seconds [T])`` as each sequence finishes
        (not in input order). A frame's seconds are its step's wall time (decoding included)
        divided by the sequences in that step.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    queue = list(reversed(sequences))
    model = None
    barrier: _Barrier | None = None
    active: list[_Slot] = []
    with ThreadPoolExecutor(max_workers=batch_size) as pool:
        while queue or active:
            while queue and len(active) < batch_size:
                seq = queue.pop()
                tracker = make_tracker()
                if barrier is None:
                    model = tracker.model
                    barrier = _Barrier(model)
                elif tracker.model is not model:
                    raise ValueError("lockstep needs every tracker to share one network")
                tracker.model = _BatchingModel(barrier)
                n = len(seq.frames)
                init_box = initial_box(seq.gt[0], seq.frames)
                active.append(_Slot(seq, tracker, init_box, np.empty((n, 4)), np.empty(n)))
            start = time.perf_counter()
            with barrier.cond:
                barrier.running = len(active)
            futures = [pool.submit(_step, slot, barrier) for slot in active]
            for future in futures:
                future.result()
            seconds = (time.perf_counter() - start) / len(active)
            still_active = []
            for slot in active:
                slot.times[slot.t] = seconds
                slot.t += 1
                if slot.t == len(slot.sequence.frames):
                    yield slot.sequence, slot.boxes, slot.times
                else:
                    still_active.append(slot)
            active = still_active


def track_sequences(
    make_tracker: Callable[[], SiamFCppTracker],
    sequences: Sequence[SequenceData],
    batch_sequences: int,
) -> Iterator[tuple[SequenceData, np.ndarray, np.ndarray]]:
    """The one-pass run loop of a benchmark: one at a time (``batch_sequences <= 1``, the
    reference loop :func:`~siamfcpp.benchmarks.runner.track_one_pass`) or in lockstep.

    Yields ``(sequence, boxes [T, 4], seconds [T])`` as each sequence finishes.
    """
    if batch_sequences > 1:
        yield from track_lockstep(make_tracker, sequences, batch_sequences)
        return
    for seq in sequences:
        yield seq, *track_one_pass(make_tracker(), seq.frames, seq.gt[0])
