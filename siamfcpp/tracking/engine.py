"""Tracking engines: N targets per step, one explicit network call for all of them.

An engine holds ``num_slots`` tracking slots. A run protocol (one-pass, VOT reset: see
:mod:`siamfcpp.evaluation.protocols`) starts a target in a free slot with :meth:`init` and
advances any subset of the busy slots by one frame each with :meth:`update`. Every call embeds or
searches all the given slots with ONE call of the network (``template`` for ``init``, ``search``
for ``update``), so one slot is a single stream and many slots are a batched evaluation; a slot
whose sequence has ended simply takes the next one.

:class:`TrackerSlots` is the engine of the per-target trackers of this package
(:class:`~siamfcpp.tracking.tracker.SiamFCppTracker` and its subclasses): each slot holds one
tracker, which crops and post-processes its own frame on either side of the shared network call
(:meth:`~siamfcpp.tracking.tracker.SiamFCppTracker.begin_update` /
:meth:`~siamfcpp.tracking.tracker.SiamFCppTracker.end_update`). With one slot it runs exactly
the calls of ``tracker.init`` / ``tracker.update``. It is the reference path (``tracker=siamfcpp``,
the original's arithmetic on the host).

:class:`~siamfcpp.tracking.device_engine.DeviceEngine` (``tracker=siamfcpp_fast``) is the
batched engine proper: the state of all slots as tensors on the device, one crop, network and
post-processing call per step for all of them, optionally replayed as one CUDA graph.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from torch import Tensor, nn

from siamfcpp.tracking.network_form import NetworkForm
from siamfcpp.tracking.tracker import SearchRequest, SiamFCppTracker, state_from_xywh


class SlotError(Exception):
    """Raised by an engine when one slot's input or output is bad; ``slot`` names it, so that
    the run protocol can name the sequence and frame. ``__cause__`` is the original error."""

    def __init__(self, slot: int, error: Exception) -> None:
        super().__init__(str(error))
        self.slot = slot
        self.error = error


@contextmanager
def naming_slot(slot: int) -> Iterator[None]:
    """Re-raise a tracker's ValueError / FloatingPointError as a :class:`SlotError`."""
    try:
        yield
    except (ValueError, FloatingPointError) as err:
        raise SlotError(slot, err) from err


class TrackingEngine(ABC):
    """Tracks up to :attr:`num_slots` targets; boxes are 0-based ``x, y, w, h`` float64.

    Frames are BGR uint8 ``[H, W, 3]`` numpy arrays; an engine with :attr:`pinned_frames` uploads
    them to its device and prefers them in page-locked memory (the run loop decodes into such); an
    engine with a :attr:`frame_device` also takes them as tensors there (decoded on the GPU).
    """

    num_slots: int
    pinned_frames: bool = False
    frame_device: torch.device | None = None

    @abstractmethod
    def init(
        self, slots: Sequence[int], frames: Sequence[np.ndarray], boxes_xywh: np.ndarray
    ) -> None:
        """Start the target ``boxes_xywh[i]`` (``[k, 4]``) of ``frames[i]`` in ``slots[i]``."""

    @abstractmethod
    def update(self, slots: Sequence[int], frames: Sequence[np.ndarray]) -> np.ndarray:
        """Track the target of each of ``slots`` into its next frame: ``[k, 4]`` boxes."""

    def _check_slots(self, slots: Sequence[int], frames: Sequence[np.ndarray]) -> None:
        if len(slots) != len(frames):
            raise ValueError(f"{len(slots)} slots but {len(frames)} frames")
        if len(set(slots)) != len(slots) or not all(0 <= s < self.num_slots for s in slots):
            raise ValueError(f"slots must be distinct indices in [0, {self.num_slots}): {slots}")


class SequentialSlots(TrackingEngine):
    """Any tracker with ``init(frame, box)`` / ``update(frame) -> box``, one per slot, each
    called in turn (no batching): for trackers written elsewhere, e.g. to run another code
    base's tracker through this project's benchmarks.

    Args:
        make_tracker: builds a fresh tracker; called for every :meth:`init`, so a slot never
            carries state between sequences.
        num_slots: targets tracked at once.
    """

    def __init__(self, make_tracker: Callable[[], Any], num_slots: int = 1) -> None:
        if num_slots < 1:
            raise ValueError(f"num_slots must be >= 1, got {num_slots}")
        self.make_tracker = make_tracker
        self.num_slots = num_slots
        self.trackers: list[Any] = [None] * num_slots

    def init(
        self, slots: Sequence[int], frames: Sequence[np.ndarray], boxes_xywh: np.ndarray
    ) -> None:
        self._check_slots(slots, frames)
        for slot, frame, box in zip(slots, frames, boxes_xywh, strict=True):
            with naming_slot(slot):
                self._new_tracker(slot).init(frame, np.array(box, dtype=np.float64))

    def update(self, slots: Sequence[int], frames: Sequence[np.ndarray]) -> np.ndarray:
        self._check_slots(slots, frames)
        boxes = np.empty((len(slots), 4))
        for i, (slot, frame) in enumerate(zip(slots, frames, strict=True)):
            with naming_slot(slot):
                boxes[i] = np.asarray(self._busy_tracker(slot).update(frame)).reshape(4)
        return boxes

    def _new_tracker(self, slot: int) -> Any:
        self.trackers[slot] = self.make_tracker()
        return self.trackers[slot]

    def _busy_tracker(self, slot: int) -> Any:
        tracker = self.trackers[slot]
        if tracker is None:
            raise RuntimeError(f"slot {slot} has no target: call init before update")
        return tracker


class TrackerSlots(SequentialSlots):
    """One :class:`~siamfcpp.tracking.tracker.SiamFCppTracker` per slot, all sharing one network,
    with one network call per step (see the module docstring).

    Args:
        make_tracker: builds a fresh tracker; every tracker it builds must share one network.
        num_slots: targets tracked at once.
    """

    def __init__(self, make_tracker: Callable[[], SiamFCppTracker], num_slots: int) -> None:
        super().__init__(make_tracker, num_slots)
        self.model: nn.Module | None = None

    def init(
        self, slots: Sequence[int], frames: Sequence[np.ndarray], boxes_xywh: np.ndarray
    ) -> None:
        self._check_slots(slots, frames)
        trackers = [self._new_tracker(slot) for slot in slots]
        z = []
        for slot, tracker, frame, box in zip(slots, trackers, frames, boxes_xywh, strict=True):
            with naming_slot(slot):
                z.append(tracker.begin_init(frame, box))
        with torch.no_grad():
            kernels = self.model.template(torch.cat(z))
        for i, tracker in enumerate(trackers):
            tracker.end_init(tuple(k[i : i + 1] for k in kernels))

    def update(self, slots: Sequence[int], frames: Sequence[np.ndarray]) -> np.ndarray:
        self._check_slots(slots, frames)
        trackers = [self._busy_tracker(slot) for slot in slots]
        requests = []
        for slot, tracker, frame in zip(slots, trackers, frames, strict=True):
            with naming_slot(slot):
                requests.append(tracker.begin_update(frame))
        outputs = self._search([r for per_tracker in requests for r in per_tracker], trackers)
        boxes = np.empty((len(slots), 4))
        start = 0
        for i, (slot, tracker, own) in enumerate(zip(slots, trackers, requests, strict=True)):
            with naming_slot(slot):
                boxes[i] = tracker.end_update(outputs[start : start + len(own)])
            start += len(own)
        return boxes

    def place(self, slots: Sequence[int], boxes_xywh: np.ndarray) -> None:
        """Move the targets of busy ``slots`` to ``boxes_xywh`` (``[k, 4]``): their next update
        searches around these boxes (``SiamFCppTracker.update``'s ``prior_xywh``)."""
        for slot, box in zip(slots, boxes_xywh, strict=True):
            tracker = self._busy_tracker(slot)
            with naming_slot(slot):
                tracker.center_xy, tracker.target_sz = state_from_xywh(box)

    def _search(
        self, requests: list[SearchRequest], trackers: list[SiamFCppTracker]
    ) -> list[tuple[Tensor, Tensor]]:
        """``(score [N], boxes [N, 4])`` of every request, from one network call.

        With one tracker, each request goes through the tracker's own :meth:`search` (which may
        replay a CUDA graph): exactly the calls of ``tracker.update``.
        """
        if len(trackers) == 1:  # exactly the calls of tracker.update
            return [trackers[0].search(x, kernels) for x, kernels in requests]
        x = torch.cat([x for x, _ in requests])
        kernels = tuple(torch.cat(parts) for parts in zip(*(k for _, k in requests), strict=True))
        with torch.no_grad():
            score, boxes, _, _ = self.model.search(x, kernels)
        # one copy for the whole batch: the trackers post-process on the host
        return list(zip(score.cpu(), boxes.cpu(), strict=True))

    def _new_tracker(self, slot: int) -> SiamFCppTracker:
        tracker = super()._new_tracker(slot)
        if self.model is None:
            self.model = tracker.model
        elif tracker.model is not self.model:
            raise ValueError("the trackers of an engine must share one network")
        return tracker


def build_engine(
    tracker_cfg: DictConfig, model: nn.Module, device: torch.device, num_slots: int
) -> TrackingEngine:
    """The engine of a ``tracker`` config node (``conf/tracker/*.yaml``) for ``model``.

    A node whose ``_target_`` is an engine (``tracker=siamfcpp_fast``: the device engine) is built
    with ``num_slots``; a per-target tracker (``tracker=siamfcpp``, ``multi_temp``) gets one
    instance per slot in a :class:`TrackerSlots`, all sharing the one network built here in the
    form the node's ``network`` keys select (:mod:`siamfcpp.tracking.network_form`).
    """
    if issubclass(get_class(tracker_cfg._target_), TrackingEngine):
        return instantiate(tracker_cfg, model=model, device=device, num_slots=num_slots)
    network = NetworkForm.of(tracker_cfg).build(model, device)
    # one tracker built now, through instantiate: a bad hyper-parameter stops before any work,
    # naming its key (the slots build theirs when a sequence starts)
    instantiate(tracker_cfg, model=network, device=device)
    make_tracker = instantiate(tracker_cfg, model=network, device=device, _partial_=True)
    return TrackerSlots(make_tracker, num_slots)
