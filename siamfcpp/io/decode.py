"""Decoding frame files ahead of the tracker: in the caller, or in worker processes.

A decoder takes requests for image files (:meth:`FrameDecoder.submit`, returning one
:class:`Ticket` each) and hands out the decoded BGR uint8 frames (:meth:`FrameDecoder.result`)
until the caller releases them (:meth:`FrameDecoder.release`). Every frame is decoded by
:func:`~siamfcpp.io.frames.read_frame`, so its pixels and conversions are the same everywhere.

* :class:`InlineDecoder` decodes a frame when its result is asked for (one process, as the
  original implementation reads frames).
* :class:`ProcessDecoder` decodes in worker processes (OpenCV / libjpeg-turbo, one core each),
  which write the pixels straight into a ring of frame buffers in memory shared with this
  process. On a CUDA machine the ring is page-locked (``pin_memory``), so a tracking engine
  uploads a frame from it asynchronously, without another host copy. A frame larger than a
  ring entry comes back through a pipe instead (slower, same pixels). A frame asked for before
  its worker's chunk is done is decoded by the caller instead (the worker skips it if it has not
  reached it): e.g. a VOT re-initialisation frame, requested only after the failure, would
  otherwise wait behind every frame requested ahead.
* :class:`NvJpegDecoder` (optional, CUDA) decodes JPEG files on the GPU with nvJPEG through
  ``torchvision.io.decode_jpeg`` when torchvision is installed (it is not a dependency of this
  project), in one batch per request, on its own stream; its frames are BGR uint8 tensors on the
  GPU for an engine that takes them (the device engine). nvJPEG's pixels are not exactly
  OpenCV's (another decoder): the bound is stated in ``tests/test_device_engine.py``.
"""

from __future__ import annotations

import logging
import math
import mmap
import multiprocessing
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from pathlib import Path

import numpy as np
import torch

from siamfcpp.io.frames import frame_conversions, merge_conversions, read_frame

log = logging.getLogger(__name__)

#: smallest ring entry: a 1280x720 BGR frame (a benchmark whose first frame is smaller may have
#: larger ones later; still larger frames take the pipe)
MIN_ENTRY_BYTES = 1280 * 720 * 3


@dataclass(eq=False)
class Ticket:
    """One requested frame: its file and, in a :class:`ProcessDecoder`, where it is decoded."""

    path: Path
    entry: int | None = None  # ring entry reserved for the frame
    pending: AsyncResult | None = None  # the worker task decoding it
    index: int = 0  # position in that task's results
    frame: np.ndarray | torch.Tensor | None = None  # decoded in the caller or on the GPU
    event: torch.cuda.Event | None = None  # GPU decoding: done when this event is


class FrameDecoder(ABC):
    """Decodes frame files on request (see the module docstring).

    Attributes:
        decoded: frames decoded so far.
        wait_seconds: time callers spent blocked in :meth:`result`.
    """

    def __init__(self) -> None:
        self.decoded = 0
        self.wait_seconds = 0.0

    @abstractmethod
    def submit(self, paths: Sequence[Path]) -> list[Ticket]:
        """Request ``paths`` (in the order they will be needed); one ticket each."""

    @abstractmethod
    def result(self, ticket: Ticket) -> np.ndarray:
        """The frame of ``ticket`` (waits for it; raises its decoding error). It stays valid
        until the ticket is released."""

    def release(self, ticket: Ticket) -> None:  # noqa: B027 (the inline decoder keeps nothing)
        """The frame of ``ticket`` is no longer read (also for tickets never asked for)."""

    def close(self) -> None:  # noqa: B027
        """Stop the workers and free the buffers."""

    def __enter__(self) -> FrameDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InlineDecoder(FrameDecoder):
    """Decodes each frame in the calling thread when its result is asked for."""

    def submit(self, paths: Sequence[Path]) -> list[Ticket]:
        return [Ticket(Path(p)) for p in paths]

    def result(self, ticket: Ticket) -> np.ndarray:
        start = time.perf_counter()
        frame = read_frame(ticket.path)
        self.wait_seconds += time.perf_counter() - start
        self.decoded += 1
        return frame


# ---------------------------------------------------------------------- worker processes
_RING: np.ndarray | None = None  # [entries, entry_bytes] view of the shared ring, per worker
_TAKEN: np.ndarray | None = None  # [entries] shared flags: 1 = the caller decodes this entry


def _attach(ring: mmap.mmap, entry_bytes: int, taken: mmap.mmap) -> None:
    """Worker initialiser: the ring and its flags inherited from the parent (fork), as arrays."""
    global _RING, _TAKEN
    _RING = np.frombuffer(ring, dtype=np.uint8).reshape(-1, entry_bytes)
    _TAKEN = np.frombuffer(taken, dtype=np.uint8)


def _decode_chunk(tasks: list[tuple[int, str]]) -> list[tuple]:
    """Decode ``(entry, path)`` tasks into the ring; per task ``("ring", shape)``,
    ``("array", frame)`` (too large for an entry), ``("error", exception)`` or ``("taken", None)``
    (the caller decodes it), each with the frame conversions it counted."""
    results = []
    for entry, path in tasks:
        if _TAKEN[entry]:
            results.append(("taken", None, {}))
            continue
        before = frame_conversions.copy()
        try:
            frame = read_frame(Path(path))
        except (OSError, ValueError) as err:
            results.append(("error", err, dict(frame_conversions - before)))
            continue
        converted = dict(frame_conversions - before)
        if frame.nbytes <= _RING.shape[1]:
            _RING[entry, : frame.nbytes] = frame.reshape(-1)
            results.append(("ring", frame.shape, converted))
        else:
            results.append(("array", frame, converted))
    return results


class ProcessDecoder(FrameDecoder):
    """Decodes in ``workers`` forked processes into a shared ring of ``entries`` frames.

    The ring is allocated at the first request, its entries sized for the first requested frame
    (decoded here) and at least :data:`MIN_ENTRY_BYTES`. Requests beyond the free entries, and
    frames whose worker's chunk is not done when their result is asked for, are decoded in the
    caller (counted in :attr:`stolen`).

    Args:
        workers: decoding processes (>= 1).
        entries: frames the ring holds: the frames a caller holds at once plus those requested
            ahead.
        pin_memory: page-lock the ring (CUDA) for asynchronous uploads.
    """

    def __init__(self, workers: int, entries: int, pin_memory: bool) -> None:
        super().__init__()
        if workers < 1 or entries < 1:
            raise ValueError(f"need workers >= 1 and entries >= 1, got {workers}, {entries}")
        self.workers = workers
        self.entries = entries
        self.pin_memory = pin_memory
        self._pool = None
        self._ring: np.ndarray | None = None
        self._taken: np.ndarray | None = None
        self._pinned: torch.Tensor | None = None
        self._free: list[int] = []
        self._orphans: list[Ticket] = []  # released before their worker finished
        self.stolen = 0

    def submit(self, paths: Sequence[Path]) -> list[Ticket]:
        tickets = [Ticket(Path(p)) for p in paths]
        if not tickets:
            return tickets
        if self._pool is None:
            self._start(tickets[0])
        self._reclaim()
        queued = [t for t in tickets if t.entry is None and t.pending is None]
        queued = queued[: len(self._free)]
        for ticket in queued:
            ticket.entry = self._free.pop()
            self._taken[ticket.entry] = 0
        size = max(1, math.ceil(len(queued) / self.workers))
        for begin in range(0, len(queued), size):
            chunk = queued[begin : begin + size]
            pending = self._pool.apply_async(
                _decode_chunk, ([(t.entry, str(t.path)) for t in chunk],)
            )
            for index, ticket in enumerate(chunk):
                ticket.pending, ticket.index = pending, index
        return tickets

    def result(self, ticket: Ticket) -> np.ndarray:
        start = time.perf_counter()
        if ticket.pending is not None and not ticket.pending.ready():
            # decode it here rather than wait for the worker's whole chunk; the worker skips it
            # if it has not reached it (else it writes into an entry nobody reads)
            self._taken[ticket.entry] = 1
            frame = read_frame(ticket.path)
            self.stolen += 1
        elif ticket.pending is None:  # the ring's first frame, or no free entry for it
            frame = ticket.frame if ticket.frame is not None else read_frame(ticket.path)
        else:
            kind, value, converted = ticket.pending.get()[ticket.index]
            merge_conversions(converted)
            if kind == "error":
                raise value
            if kind == "array":
                frame = value
            else:
                frame = self._ring[ticket.entry, : math.prod(value)].reshape(value)
        self.wait_seconds += time.perf_counter() - start
        self.decoded += 1
        return frame

    def release(self, ticket: Ticket) -> None:
        ticket.frame = None
        if ticket.entry is None:
            return
        if ticket.pending is not None and not ticket.pending.ready():
            self._orphans.append(ticket)  # a worker still writes into its entry
            return
        self._free.append(ticket.entry)
        ticket.entry = None

    def close(self) -> None:
        if self._pool is not None:
            # let the workers finish what is queued (frames requested ahead or taken by the
            # caller: milliseconds) and exit: Pool.terminate() with tasks still in flight can
            # hang joining its task-handler thread
            self._pool.close()
            self._pool.join()
            self._pool = None
        if self._pinned is not None:
            torch.cuda.cudart().cudaHostUnregister(self._pinned.data_ptr())
            self._pinned = None

    def _start(self, first: Ticket) -> None:
        """Decode the first frame here (it sizes the ring), allocate the ring, fork the workers
        and, for CUDA, page-lock the ring (after the fork: the driver keeps page-locked memory
        out of child processes)."""
        first.frame = read_frame(first.path)
        entry_bytes = max(first.frame.nbytes, MIN_ENTRY_BYTES)
        ring = mmap.mmap(-1, self.entries * entry_bytes)  # anonymous, shared with forked children
        self._ring = np.frombuffer(ring, dtype=np.uint8).reshape(self.entries, entry_bytes)
        taken = mmap.mmap(-1, self.entries)
        self._taken = np.frombuffer(taken, dtype=np.uint8)
        self._free = list(range(self.entries))[::-1]
        context = multiprocessing.get_context("fork")
        self._pool = context.Pool(
            self.workers, initializer=_attach, initargs=(ring, entry_bytes, taken)
        )
        if self.pin_memory:
            self._pinned = torch.frombuffer(ring, dtype=torch.uint8)
            code = torch.cuda.cudart().cudaHostRegister(
                self._pinned.data_ptr(), self._pinned.numel(), 0
            )
            if int(code) != 0:
                log.warning("could not page-lock the frame ring (CUDA error %s)", code)
                self._pinned = None
        log.info(
            "decoding frames in %d processes, ring of %d x %.1f MB%s",
            self.workers,
            self.entries,
            entry_bytes / 1e6,
            " (page-locked)" if self._pinned is not None else "",
        )

    def _reclaim(self) -> None:
        """Free the entries of released tickets whose worker has finished."""
        busy = []
        for ticket in self._orphans:
            if ticket.pending.ready():
                self._free.append(ticket.entry)
                ticket.entry = None
            else:
                busy.append(ticket)
        self._orphans = busy


# ---------------------------------------------------------------------- GPU
JPEG_SUFFIXES = (".jpg", ".jpeg")


def gpu_jpeg_decoding() -> Callable | None:
    """``torchvision.io.decode_jpeg`` if torchvision is installed (an optional extra), else None."""
    try:
        from torchvision.io import decode_jpeg
    except ImportError:
        return None
    return decode_jpeg


class NvJpegDecoder(FrameDecoder):
    """Decodes JPEG files on ``device`` with nvJPEG, one batch per :meth:`submit`; other files
    (and JPEG files nvJPEG refuses) by :func:`~siamfcpp.io.frames.read_frame` on the host.

    Frames are BGR uint8 ``[H, W, 3]`` tensors on ``device`` (host arrays for the others).
    """

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.decode_jpeg = gpu_jpeg_decoding()
        if self.decode_jpeg is None:
            raise RuntimeError(
                "gpu_decode=true needs torchvision (nvJPEG through torchvision.io.decode_jpeg), "
                "which is not installed: install the torchvision build matching your torch, or "
                "set gpu_decode=false"
            )
        self.device = torch.device(device)
        self.stream = torch.cuda.Stream(self.device)

    def submit(self, paths: Sequence[Path]) -> list[Ticket]:
        tickets = [Ticket(Path(p)) for p in paths]
        jpeg, data = [], []
        for ticket in tickets:
            if ticket.path.suffix.lower() in JPEG_SUFFIXES and ticket.path.is_file():
                jpeg.append(ticket)
                data.append(
                    torch.frombuffer(bytearray(ticket.path.read_bytes()), dtype=torch.uint8)
                )
        if not jpeg:
            return tickets
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            try:
                images = self.decode_jpeg(data, mode="RGB", device=self.device)
            except RuntimeError:  # one bad file fails the batch: decode one by one
                images = [self._decode_one(d) for d in data]
            event = torch.cuda.Event()
            for ticket, image in zip(jpeg, images, strict=True):
                if image is not None:
                    ticket.frame = image.flip(0).permute(1, 2, 0)  # RGB CHW -> BGR HWC
                    ticket.event = event
            event.record(self.stream)
        return tickets

    def _decode_one(self, data: torch.Tensor) -> torch.Tensor | None:
        try:
            return self.decode_jpeg(data, mode="RGB", device=self.device)
        except RuntimeError:
            return None  # read_frame decodes it, or names the file as corrupt

    def result(self, ticket: Ticket) -> np.ndarray | torch.Tensor:
        start = time.perf_counter()
        if ticket.event is None:
            frame = read_frame(ticket.path)
        else:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(ticket.event)
            ticket.frame.record_stream(current)  # freed only after the consumer's work
            frame = ticket.frame
        self.wait_seconds += time.perf_counter() - start
        self.decoded += 1
        return frame

    def release(self, ticket: Ticket) -> None:
        ticket.frame, ticket.event = None, None


def open_decoder(
    workers: int, entries: int, pin_memory: bool, gpu: torch.device | None = None
) -> FrameDecoder:
    """:class:`NvJpegDecoder` on ``gpu`` when given; else :class:`ProcessDecoder` with
    ``workers > 0`` (where processes can be forked); else :class:`InlineDecoder`."""
    if gpu is not None:
        return NvJpegDecoder(gpu)
    if workers > 0 and "fork" in multiprocessing.get_all_start_methods():
        return ProcessDecoder(workers, entries, pin_memory)
    return InlineDecoder()
