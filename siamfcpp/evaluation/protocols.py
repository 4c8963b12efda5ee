"""Run protocols: how sequences are fed to a tracking engine, frame by frame.

One loop (:func:`run`) drives a :class:`~siamfcpp.tracking.engine.TrackingEngine` for every use
of the tracker: benchmarks, sharded workers, batched evaluation and the demo. A *job* is one
sequence under a protocol; it says which frame comes next and whether that frame initialises or
updates the tracker, and it records the box. Two protocols exist:

* :class:`OnePassJob`: initialise on frame 0 with the first ground-truth box, update on every
  later frame (GOT-10k, LaSOT, OTB, UAV123, TrackingNet, the synthetic benchmark, the demo);
* :class:`SupervisedJob`: the VOT reset protocol: an update whose box does not overlap the
  annotation is a failure, and the tracker is re-initialised ``reinit_delay`` frames later, the
  frames in between being skipped.

Each step initialises and updates every busy slot with one engine call each (one network call);
a slot whose job has ended takes the next job, so the batch stays full to the tail. With one
slot the loop is the original's one-sequence-at-a-time evaluation.

Time per frame is the engine's time (``init`` / ``update``; a batched step's time divided by its
slots): frame decoding is not timed, as the original measures tracker speed. With
``decode_workers > 0`` the frames of every busy slot are decoded :data:`LOOKAHEAD` frames ahead
by worker processes (:class:`~siamfcpp.io.decode.ProcessDecoder`) while the engine works, into
page-locked memory when the engine uploads to a GPU.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from siamfcpp.evaluation.metrics.vot_region import region_overlaps
from siamfcpp.evaluation.trajectory import FAILURE, INIT, TRACKED, Trajectory
from siamfcpp.io.decode import FrameDecoder, InlineDecoder, Ticket, open_decoder
from siamfcpp.io.frames import read_frame
from siamfcpp.tracking.engine import SlotError, TrackingEngine

Frame = Path | np.ndarray


#: frames decoded ahead of each slot's current one (with decode workers)
LOOKAHEAD = 2


def decode_workers_for(num_slots: int, processes: int = 1, requested: int | None = None) -> int:
    """Decoding processes for an engine of ``num_slots`` (the ``decode_workers`` key: ``requested``,
    or when None: none for one slot, as the original decodes between frames, else one per slot
    up to this process's share of the CPU cores less one, the core that drives the engine)."""
    if requested is not None:
        if requested < 0:
            raise ValueError(f"decode_workers must be >= 0 (or null: automatic), got {requested}")
        return requested
    if num_slots <= 1:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(num_slots, max(1, (cores or 1) // processes - 1))


def initial_box(
    init_box_xywh: np.ndarray, frames: Sequence[Frame] | None, where: str
) -> np.ndarray:
    """The ground truth's first box as float64 ``[4]``; no frames, a NaN or a non-positive size
    is an error naming ``where`` (the sequence's first frame or its source)."""
    if frames is not None and len(frames) == 0:
        raise ValueError(f"empty sequence {where}: no frames to track")
    box = np.asarray(init_box_xywh, dtype=np.float64).reshape(4)
    if not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        raise ValueError(
            f"invalid initial box {box.tolist()} for {where}: need finite x, y and positive "
            "w, h; fix the first line of the sequence's ground truth"
        )
    return box


@dataclass(frozen=True)
class Action:
    """What a job does next: ``init`` (with ``box``) or ``update`` on frame ``t``."""

    t: int
    init: bool
    box: np.ndarray | None = None


class Job(ABC):
    """One sequence under a run protocol (see the module docstring).

    Attributes:
        name: the sequence's name.
        files: its frames' image files, or None for a stream of decoded frames.
    """

    name: str
    files: Sequence[Path] | None

    @abstractmethod
    def next_action(self) -> Action | None:
        """The next frame to track, or None when the sequence is finished."""

    def frame(self, t: int) -> np.ndarray | None:
        """Frame ``t`` as BGR uint8 (None: a frame stream ended before ``t``)."""
        return read_frame(self.files[t])

    def upcoming(self, t: int, depth: int) -> range:
        """The frame files worth decoding from frame ``t`` on: ``t .. t + depth`` (within the
        sequence; none for a stream)."""
        return range(t, min(t + depth + 1, len(self.files))) if self.files is not None else range(0)

    def describe(self, t: int) -> str:
        """Frame ``t`` in error messages (its file, or its index in the source)."""
        return str(self.files[t])

    @abstractmethod
    def record(self, action: Action, box: np.ndarray, frame: np.ndarray, seconds: float) -> None:
        """Take the tracker's box of ``action.t`` (for ``init``: the initial box)."""

    @classmethod
    def record_step(cls, results: Sequence[StepResult]) -> None:
        """Take one engine step's results of several jobs of this class (one each)."""
        for result in results:
            result.job.record(result.action, result.box, result.frame, result.seconds)


class StepResult(NamedTuple):
    """What one engine step gave one job."""

    job: Job
    action: Action
    box: np.ndarray
    frame: np.ndarray
    seconds: float


class OnePassJob(Job):
    """Initialise on frame 0 with ``init_box``, update on every later frame.

    Args:
        name: the sequence's name.
        frames: image files (decoded by :func:`read_frame`) or an iterable of decoded frames
            (a video stream; then the sequence ends with the stream).
        init_box: target on frame 0, ``x, y, w, h``.
        on_frame: called with ``(t, frame, box, seconds)`` after every frame (e.g. to draw it).

    After the run, :attr:`boxes` ``[T, 4]`` float64 (row 0 the init box) and :attr:`times` ``[T]``.
    """

    def __init__(
        self,
        name: str,
        frames: Sequence[Path] | Iterable[np.ndarray],
        init_box: np.ndarray,
        on_frame: Callable[[int, np.ndarray, np.ndarray, float], None] | None = None,
    ) -> None:
        self.name = name
        self.files = frames if isinstance(frames, Sequence) else None
        self.stream = None if self.files is not None else iter(frames)
        where = str(self.files[0]) if self.files else name
        self.init_box = initial_box(init_box, self.files, where)
        self.on_frame = on_frame
        self._boxes: list[np.ndarray] = []
        self._times: list[float] = []
        self._ended = False

    def next_action(self) -> Action | None:
        t = len(self._boxes)
        if self._ended or (self.files is not None and t == len(self.files)):
            return None
        return Action(t, init=True, box=self.init_box) if t == 0 else Action(t, init=False)

    def frame(self, t: int) -> np.ndarray | None:
        if self.files is not None:
            return super().frame(t)
        frame = next(self.stream, None)
        self._ended = frame is None
        return frame

    def describe(self, t: int) -> str:
        return super().describe(t) if self.files is not None else f"frame {t} of {self.name}"

    def record(self, action: Action, box: np.ndarray, frame: np.ndarray, seconds: float) -> None:
        self._boxes.append(box)
        self._times.append(seconds)
        if self.on_frame is not None:
            self.on_frame(action.t, frame, box, seconds)

    @property
    def boxes(self) -> np.ndarray:
        return np.asarray(self._boxes, dtype=np.float64).reshape(-1, 4)

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self._times, dtype=np.float64)


class SupervisedJob(Job):
    """The VOT reset protocol on one sequence (see the module docstring).

    Args:
        name: the sequence's name.
        frames: its image files.
        init_boxes: ``[T, 4]`` the box to (re-)initialise with at each frame.
        regions: ``[T]`` annotated VOT regions (``x, y, w, h`` or a polygon); a box that does
            not overlap its frame's region (:func:`region_overlaps`) is a failure.
        image_size: ``(width, height)`` of the frames (only pixels inside count).
        reinit_delay: frames from a failure to the re-initialisation.

    After the run, :attr:`trajectory` (status codes and boxes) and :attr:`times` (0 where skipped).
    """

    def __init__(
        self,
        name: str,
        frames: Sequence[Path],
        init_boxes: np.ndarray,
        regions: Sequence[np.ndarray],
        image_size: tuple[int, int],
        reinit_delay: int,
    ) -> None:
        if len(frames) == 0:
            raise ValueError(f"empty sequence {name}: no frames to track")
        self.name = name
        self.files = frames
        self.init_boxes = init_boxes
        self.regions = regions
        self.image_size = image_size
        self.reinit_delay = reinit_delay
        n = len(frames)
        self.trajectory = Trajectory.skipped(n)
        self.times = np.zeros(n)
        self._t = 0
        self._next_init = 0

    def next_action(self) -> Action | None:
        t = max(self._t, self._next_init)  # frames before a re-initialisation are skipped
        if t >= len(self.files):
            return None
        if t == self._next_init:
            return Action(t, init=True, box=self.init_boxes[t])
        return Action(t, init=False)

    def record(self, action: Action, box: np.ndarray, frame: np.ndarray, seconds: float) -> None:
        self.record_step([StepResult(self, action, box, frame, seconds)])

    @classmethod
    def record_step(cls, results: Sequence[StepResult]) -> None:
        # One overlap call for the step's updates: counting all pairs at once is several times
        # faster than one by one, and the VOT run's host time is mostly these overlaps.
        updates = [r for r in results if not r.action.init]
        overlaps = region_overlaps(
            [r.box for r in updates],
            [r.job.regions[r.action.t] for r in updates],
            [r.job.image_size for r in updates],
        )
        judged = iter(overlaps)
        for r in results:
            job, t = r.job, r.action.t
            job.times[t] = r.seconds
            job._t = t + 1
            if r.action.init:
                job.trajectory.status[t] = INIT
            elif next(judged) > 0:
                job.trajectory.status[t], job.trajectory.regions[t] = TRACKED, r.box
            else:
                job.trajectory.status[t] = FAILURE
                job._next_init = t + job.reinit_delay


def track_one_pass(
    engine: TrackingEngine, frames: Sequence[Path], init_box: np.ndarray, name: str = "sequence"
) -> tuple[np.ndarray, np.ndarray]:
    """Track one sequence one-pass: boxes ``[T, 4]`` (row 0 ``init_box``) and seconds ``[T]``."""
    (job,) = run(engine, [OnePassJob(name, frames, init_box)])
    return job.boxes, job.times


@dataclass
class RunStats:
    """Where a :func:`run`'s time went (filled in as it runs).

    Attributes:
        frames: frames tracked (initialisations included).
        steps: engine steps (each one ``init`` and / or one ``update`` call).
        seconds: wall time of the loop.
        engine_seconds: time inside the engine's calls.
        wait_seconds: time blocked waiting for decoded frames.
        decode_workers: decoding processes (0: frames decoded in the loop).
        device_seconds: the device's busy time, for engines that measure it
            (:attr:`~siamfcpp.tracking.device_engine.DeviceEngine.busy_seconds`).
    """

    frames: int = 0
    steps: int = 0
    seconds: float = 0.0
    engine_seconds: float = 0.0
    wait_seconds: float = 0.0
    decode_workers: int = 0
    device_seconds: float | None = None


def timing(stats: RunStats) -> dict[str, float | int]:
    """A run's time split for ``metrics.json``: tracked frames per second of the whole loop, the
    share of it spent waiting for frames, and (engines that measure it) the device's busy share.
    """
    seconds = max(stats.seconds, 1e-9)
    summary = {
        "frames": stats.frames,
        "steps": stats.steps,
        "seconds": round(stats.seconds, 3),
        "frames_per_second": round(stats.frames / seconds, 1),
        "engine_share": round(stats.engine_seconds / seconds, 3),
        "decode_wait_share": round(stats.wait_seconds / seconds, 3),
        "decode_workers": stats.decode_workers,
    }
    if stats.device_seconds is not None:
        summary["device_busy_share"] = round(stats.device_seconds / seconds, 3)
    return summary


class _Frames:
    """The frames of each busy slot's next actions, requested ahead from a decoder."""

    def __init__(self, decoder: FrameDecoder, depth: int) -> None:
        self.decoder = decoder
        self.depth = depth
        self.ahead: dict[int, dict[int, Ticket]] = {}  # slot -> frame index -> ticket
        self.held: list[Ticket] = []  # frames of the current step

    def request(self, wanted: Iterable[tuple[int, Job, int]]) -> None:
        """Ask for the frames of ``(slot, job, t)``: ``t`` and the ones after it."""
        keys, paths = [], []
        for slot, job, t in wanted:
            have = self.ahead.setdefault(slot, {})
            for u in job.upcoming(t, self.depth):
                if u not in have:
                    keys.append((slot, u))
                    paths.append(job.files[u])
        for (slot, u), ticket in zip(keys, self.decoder.submit(paths), strict=True):
            self.ahead[slot][u] = ticket

    def get(self, slot: int, job: Job, t: int) -> np.ndarray | None:
        """Frame ``t`` of ``slot``'s job, valid until :meth:`step_done`."""
        have = self.ahead.get(slot, {})
        for skipped in [u for u in have if u < t]:  # e.g. the frames before a VOT re-init
            self.decoder.release(have.pop(skipped))
        ticket = have.pop(t, None)
        if ticket is None:  # a stream's frame
            return job.frame(t)
        self.held.append(ticket)
        return self.decoder.result(ticket)

    def step_done(self) -> None:
        """The engine has read the frames of the step (its boxes are back)."""
        for ticket in self.held:
            self.decoder.release(ticket)
        self.held = []

    def drop(self, slot: int) -> None:
        """The job of ``slot`` has ended: its frames requested ahead are not needed."""
        for ticket in self.ahead.pop(slot, {}).values():
            self.decoder.release(ticket)


def run(
    engine: TrackingEngine,
    jobs: Iterable[Job],
    *,
    decode_workers: int = 0,
    gpu_decode: bool = False,
    stats: RunStats | None = None,
    on_step: Callable[[Sequence[Job]], None] | None = None,
) -> Iterator[Job]:
    """Track every job with ``engine`` (up to ``engine.num_slots`` at a time).

    Yields each job when it is finished (not in input order when several slots run). With
    ``decode_workers > 0``, that many processes decode frames ahead (:data:`LOOKAHEAD`); with
    ``gpu_decode``, JPEG frames are decoded ahead on the engine's GPU instead (nvJPEG, see
    :mod:`siamfcpp.io.decode`). ``stats`` collects where the time went. ``on_step(jobs)`` is
    called after every engine step with the jobs that advanced one frame (e.g. a progress bar).

    Raises:
        ValueError / FloatingPointError: a bad initial box, a non-finite network output or box;
            the message names the sequence's frame.
    """
    stats = stats if stats is not None else RunStats()
    stats.decode_workers = decode_workers
    if gpu_decode and engine.frame_device is None:
        raise ValueError(
            "gpu_decode=true needs an engine that takes frames on the GPU: "
            "tracker=siamfcpp_fast (or multi_temp_fast) with device=cuda"
        )
    entries = engine.num_slots * (LOOKAHEAD + 1) + decode_workers
    gpu = engine.frame_device if gpu_decode else None
    decoder = open_decoder(decode_workers, entries, engine.pinned_frames, gpu)
    frames = _Frames(decoder, 0 if isinstance(decoder, InlineDecoder) else LOOKAHEAD)
    waiting = iter(jobs)
    busy: dict[int, tuple[Job, Action]] = {}
    start = time.perf_counter()
    busy_before = getattr(engine, "busy_seconds", None)
    try:
        while True:
            entered = []
            for slot in range(engine.num_slots):
                while slot not in busy:
                    job = next(waiting, None)
                    if job is None:
                        break
                    action = job.next_action()
                    if action is None:
                        yield job
                        continue
                    busy[slot] = (job, action)
                    entered.append((slot, job, action.t))
            frames.request(entered)
            if not busy:
                return
            step = {
                slot: (job, action, frames.get(slot, job, action.t))
                for slot, (job, action) in busy.items()
            }
            for slot, (job, _, frame) in list(step.items()):
                if frame is None:  # the job's frame stream ended
                    del step[slot], busy[slot]
                    frames.drop(slot)
                    yield job
            if not step:
                continue
            stats.engine_seconds += _track(engine, step)
            stats.frames += len(step)
            stats.steps += 1
            frames.step_done()
            if on_step is not None:
                on_step([job for job, _, _ in step.values()])
            finished, moving = [], []
            for slot, (job, _, _) in step.items():
                next_action = job.next_action()
                if next_action is None:
                    del busy[slot]
                    frames.drop(slot)
                    finished.append(job)
                else:
                    busy[slot] = (job, next_action)
                    moving.append((slot, job, next_action.t))
            frames.request(moving)
            yield from finished
    finally:
        decoder.close()
        stats.wait_seconds += decoder.wait_seconds
        stats.seconds += time.perf_counter() - start
        if busy_before is not None:
            stats.device_seconds = (stats.device_seconds or 0.0) + (
                engine.busy_seconds - busy_before
            )


def _track(engine: TrackingEngine, step: dict[int, tuple[Job, Action, np.ndarray]]) -> float:
    """One engine step: initialise and update the slots of ``step``, record their boxes; returns
    the seconds the engine took."""
    inits = [slot for slot, (_, action, _) in step.items() if action.init]
    updates = [slot for slot, (_, action, _) in step.items() if not action.init]
    start = time.perf_counter()
    try:
        if inits:
            boxes = np.stack([step[s][1].box for s in inits])
            engine.init(inits, [step[s][2] for s in inits], boxes)
        updated = engine.update(updates, [step[s][2] for s in updates]) if updates else []
    except SlotError as err:
        job, action, _ = step[err.slot]
        hint = "; fix the sequence's ground truth there" if action.init else ""
        raise type(err.error)(f"{job.describe(action.t)}: {err.error}{hint}") from err.error
    elapsed = time.perf_counter() - start
    seconds = elapsed / len(step)
    results: dict[type[Job], list[StepResult]] = {}
    for slot in inits:
        job, action, frame = step[slot]
        results.setdefault(type(job), []).append(
            StepResult(job, action, action.box, frame, seconds)
        )
    for slot, box in zip(updates, updated, strict=True):
        job, action, frame = step[slot]
        if not np.isfinite(box).all():
            raise FloatingPointError(
                f"tracker returned a non-finite box {box} at {job.describe(action.t)}"
            )
        results.setdefault(type(job), []).append(StepResult(job, action, box, frame, seconds))
    for kind, taken in results.items():
        kind.record_step(taken)
    return elapsed
