"""The batched tracking engine on the device: N targets per step, the whole step as tensors.

:class:`DeviceEngine` holds the tracker state of all its slots on its device, in buffers of a
fixed size ``S`` (the slot count): centre and size ``[S, 2]``, padding colour ``[S, 3]``, frame
size ``[S, 2]``, template kernels ``[S, E, ...]`` (``E`` templates per slot) and the frames
themselves ``[S, capacity]`` (:mod:`siamfcpp.tracking.crop`). One :meth:`~DeviceEngine.update`
of any subset of the busy slots is

1. one upload per frame (from pinned memory, asynchronous on CUDA) and one of a small
   ``[S, 3]`` table (which slots move, their frame sizes);
2. one step over ALL ``S`` slots: one crop call (each slot from its own frame), one network call
   (``model.search`` on ``S * E`` crops), one post-processing call
   (:func:`~siamfcpp.tracking.postprocess.track_step` on ``[S, N]`` tensors) and the state
   update, masked so that slots not in this update keep their state;
3. one device->host copy of the ``[S, 5]`` result (boxes and a finiteness flag).

The step has static shapes and no host synchronisation, so with ``cuda_graph=True`` it is captured
once as a CUDA graph and replayed every update (re-captured only when a larger frame needs a
larger frame buffer). Initialisations (:meth:`~DeviceEngine.init`) run eagerly: one crop and one
``model.template`` call for all the slots they start. The network is any module with
``template(z) -> kernels`` and ``search(x, kernels) -> (score, boxes, ...)`` whose kernels are a
tuple of tensors with the batch first; by default (``tracker.network=inference``) the inference
form of the :class:`~siamfcpp.model.network.SiamFCpp` it is given
(:mod:`siamfcpp.tracking.network_form`), whose search half the CUDA graph captures as well
(compiled first with ``tracker.compile=max-autotune-no-cudagraphs`` or ``default``).

Boxes agree with the reference tracker (:class:`~siamfcpp.tracking.tracker.SiamFCppTracker`)
within the tolerances stated in ``tests/test_device_engine.py``: the crop reproduces OpenCV's
(:func:`~siamfcpp.tracking.crop.crop_bilinear`) and the post-processing is the reference's own
function on tensors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from siamfcpp.geometry import cxywh_to_xywh
from siamfcpp.tracking.crop import crop_bilinear, crop_scale
from siamfcpp.tracking.engine import SlotError, TrackingEngine, naming_slot
from siamfcpp.tracking.memory import check_memory_parameters, fuse_scores
from siamfcpp.tracking.network_form import GRAPH_COMPILE_MODES, NetworkForm
from siamfcpp.tracking.postprocess import make_window, track_step
from siamfcpp.tracking.tracker import (
    NON_FINITE_OUTPUT,
    check_frame,
    check_hyper_parameters,
    check_initial_box,
    check_num_cells,
    state_from_xywh,
)

Frame = np.ndarray | Tensor
PRECISIONS = {"float32": torch.float32, "float16": torch.float16}
# bfloat16 keeps 8 mantissa bits: on an H100 it moved one-step boxes on the parity fixture by up to
# 39 px and its network outputs deviate 8x more than float16's (10 bits, which keeps the stated
# bound of tests/test_device_engine.py), so it is refused rather than offered without parity.
REFUSED_PRECISIONS = {"bfloat16": "bfloat16 does not keep box parity (39 px one-step on an H100)"}
_UPDATE, _WIDTH, _HEIGHT = 0, 1, 2  # columns of the per-step slot table


def _frame_hw(frame: Frame) -> tuple[int, int]:
    """``(height, width)`` of a BGR uint8 ``[H, W, 3]`` frame (numpy, or a tensor on the device)."""
    if isinstance(frame, Tensor):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8:
            raise ValueError(
                f"frame must be a BGR uint8 tensor of shape [H, W, 3], got {frame.dtype} "
                f"{tuple(frame.shape)}"
            )
    else:
        check_frame(frame)
    return int(frame.shape[0]), int(frame.shape[1])


class DeviceEngine(TrackingEngine):
    """Track up to ``num_slots`` targets with the whole step on ``device`` (module docstring).

    Takes the hyper-parameters of :class:`~siamfcpp.tracking.tracker.SiamFCppTracker`
    (``z_size`` .. ``min_h``, same meaning), plus:

    Args:
        model: the network: a :class:`~siamfcpp.model.network.SiamFCpp` is run in the form
            ``network`` selects (:class:`~siamfcpp.tracking.network_form.NetworkForm`), in
            ``precision`` and ``channels_last``; another network (e.g. an inference form already
            built for ``precision``) is used as built.
        device: where the state, the frames and the network live.
        num_slots: targets tracked at once (``S``); 1 is a single stream.
        precision: network dtype, ``float32`` or ``float16`` (crops and post-processing stay
            float32 / float64).
        channels_last: run the network in channels-last memory format.
        cuda_graph: capture the step as a CUDA graph and replay it (CUDA only).
        compile_step: ``torch.compile`` the step's crop and post-processing too (static shapes,
            default mode): dozens of small kernels fused into a few, which pays where they
            dominate the step (a single stream); costs a compilation at start-up.
        network, xcorr, compile, stem, fuse_relu: the network form
            (:class:`~siamfcpp.tracking.network_form.NetworkForm`).

    Attributes:
        busy_seconds: device time of the update steps so far (CUDA events; on the CPU the
            wall time of the steps), for the benchmarks' busy share.
        steps: update steps so far.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device,
        num_slots: int,
        z_size: int,
        x_size: int,
        score_size: int,
        context_amount: float,
        test_lr: float,
        penalty_k: float,
        window_influence: float,
        windowing: str,
        min_w: float,
        min_h: float,
        precision: str,
        channels_last: bool,
        cuda_graph: bool,
        compile_step: bool,
        network: str,
        xcorr: str | None,
        compile: str | None,
        stem: str,
        fuse_relu: bool,
    ) -> None:
        form = NetworkForm(network, xcorr, compile, stem, fuse_relu)
        if num_slots < 1:
            raise ValueError(f"num_slots must be >= 1, got {num_slots}")
        check_hyper_parameters(
            z_size=z_size,
            x_size=x_size,
            score_size=score_size,
            context_amount=context_amount,
            test_lr=test_lr,
            penalty_k=penalty_k,
            window_influence=window_influence,
            windowing=windowing,
            min_w=min_w,
            min_h=min_h,
        )
        if precision in REFUSED_PRECISIONS:
            raise ValueError(
                f"precision={precision}: {REFUSED_PRECISIONS[precision]}; use float16 or float32"
            )
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        if cuda_graph and compile in GRAPH_COMPILE_MODES:
            raise ValueError(
                f"tracker.compile={compile} captures CUDA graphs of its own, which cannot run "
                "inside tracker.cuda_graph=true: use tracker.compile=max-autotune-no-cudagraphs "
                "(or default)"
            )
        self.device = torch.device(device)
        if cuda_graph and self.device.type != "cuda":
            raise ValueError(f"cuda_graph=true needs a CUDA device, got device={self.device}")
        self.num_slots = num_slots
        self.z_size, self.x_size, self.score_size = z_size, x_size, score_size
        self.test_lr, self.penalty_k = test_lr, penalty_k
        self.window_influence = window_influence
        self.dtype = PRECISIONS[precision]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.cuda_graph = cuda_graph
        # compiled: bound methods, so their guards see the state tensors they read and write
        self._crop_step, self._postprocess_step = (
            (
                torch.compile(self._crop_all, dynamic=False),
                torch.compile(self._postprocess, dynamic=False),
            )
            if compile_step
            else (self._crop_all, self._postprocess)
        )
        self.pinned_frames = self.device.type == "cuda"
        self.frame_device = self.device if self.device.type == "cuda" else None
        self.model = form.build(
            model, self.device, precision=precision, channels_last=channels_last
        )

        dev, f32, s = self.device, torch.float32, num_slots
        self._window = torch.from_numpy(make_window(score_size, windowing)).to(dev)
        self._context = torch.tensor(context_amount, dtype=f32, device=dev)
        self._min_wh = torch.tensor([min_w, min_h], dtype=f32, device=dev)
        # state of every slot; unused slots hold a harmless target so their masked lanes stay finite
        self._center = torch.zeros(s, 2, dtype=f32, device=dev)
        self._size = torch.full((s, 2), float(z_size), dtype=f32, device=dev)
        self._border = torch.zeros(s, 3, dtype=f32, device=dev)
        self._limit = torch.ones(s, 2, dtype=f32, device=dev)  # the init frame's width, height
        pin = self.pinned_frames
        # per-step slot table (update flag, frame width, height), uploaded in one copy
        self._table_host = torch.zeros(s, 3, dtype=torch.int64, pin_memory=pin)
        self._table_host[:, _WIDTH:] = 1
        self._table = self._table_host.to(dev)
        self._out = torch.zeros(s, 5, dtype=f32, device=dev)
        self._out_host = torch.zeros(s, 5, dtype=f32, pin_memory=pin)
        # host sides as numpy views: written and read per step at numpy's (small) cost
        self._table_np = self._table_host.numpy()
        self._out_np = (self._out_host if pin else self._out).numpy()
        self._frames: Tensor | None = None  # [S, capacity] uint8 on the device
        self._staging: Tensor | None = None  # [S, capacity] pinned host copy for pageable frames
        self._kernels: tuple[Tensor, ...] | None = None  # [S, E, ...] each
        self._busy = [False] * s
        self._graph: torch.cuda.CUDAGraph | None = None
        if self.device.type == "cuda":
            self._timing = (
                torch.cuda.Event(enable_timing=True),
                torch.cuda.Event(enable_timing=True),
            )
        self.busy_seconds = 0.0
        self.steps = 0

    # ------------------------------------------------------------------ engine interface
    @torch.inference_mode()
    def init(self, slots: Sequence[int], frames: Sequence[Frame], boxes_xywh: np.ndarray) -> None:
        self._check_slots(slots, frames)
        states, sizes = [], []
        for slot, frame, box in zip(slots, frames, boxes_xywh, strict=True):
            with naming_slot(slot):
                height, width = _frame_hw(frame)
                center, size = state_from_xywh(box)
                check_initial_box(box, (width, height))
            states.append(np.concatenate([center, size]))
            sizes.append((width, height))
        self._upload(slots, frames)
        dev = self.device
        rows = torch.tensor(list(slots), device=dev)
        state = torch.from_numpy(np.stack(states)).to(dev)
        wh = torch.tensor(sizes, dtype=torch.int64, device=dev)
        self._table_np[list(slots), _WIDTH:] = sizes
        self._center[rows], self._size[rows] = state[:, :2], state[:, 2:]
        self._limit[rows] = wh.float()
        # the reference pads with the frame's channel means truncated to whole levels
        self._border[rows] = (
            torch.stack(
                [
                    self._frames[s, : w * h * 3].view(h, w, 3).double().mean(dim=(0, 1))
                    for s, (w, h) in zip(slots, sizes, strict=True)
                ]
            )
            .trunc()
            .float()
        )
        kernels = self._template(rows, wh)
        if self._kernels is None:
            self._kernels = tuple(
                torch.zeros((self.num_slots, self.entries, *k.shape[1:]), dtype=k.dtype, device=dev)
                for k in kernels
            )
            self._graph = None
        for buffer, kernel in zip(self._kernels, kernels, strict=True):
            buffer[rows] = kernel[:, None].expand(-1, self.entries, *kernel.shape[1:])
        for slot in slots:
            self._busy[slot] = True
        self._after_init(slots)
        if self.device.type == "cuda":
            # the frames' host memory (staging rows, the decoders' ring) is reused once we return
            torch.cuda.current_stream(self.device).synchronize()

    @torch.inference_mode()
    def update(self, slots: Sequence[int], frames: Sequence[Frame]) -> np.ndarray:
        start = time.perf_counter()
        self._check_slots(slots, frames)
        self._check_busy(slots)
        sizes = []
        for slot, frame in zip(slots, frames, strict=True):
            with naming_slot(slot):
                height, width = _frame_hw(frame)
                initial = tuple(int(v) for v in self._table_np[slot, _WIDTH:])
                if (width, height) != initial:
                    raise ValueError(
                        f"frame is {width}x{height} but the target was initialised on a "
                        f"{initial[0]}x{initial[1]} frame: the frames of a sequence must keep "
                        "one size"
                    )
                sizes.append((width, height))
        self._upload(slots, frames)
        table = self._table_np
        table[:, _UPDATE] = 0
        table[list(slots), _UPDATE] = 1
        table[list(slots), _WIDTH:] = sizes
        if self.cuda_graph and self._graph is None:
            self._graph = self._capture()
        cuda = self.device.type == "cuda"
        if cuda:  # device time from here: the frames' uploads are queued (and overlap the host)
            self._timing[0].record()
        self._table.copy_(self._table_host, non_blocking=True)
        if self._graph is not None:
            self._graph.replay()
        else:
            self._step()
        if cuda:
            # the one device->host copy of the step
            self._out_host.copy_(self._out, non_blocking=True)
            self._timing[1].record()
            self._timing[1].synchronize()
            self.busy_seconds += self._timing[0].elapsed_time(self._timing[1]) / 1e3
        else:
            self.busy_seconds += time.perf_counter() - start
        self.steps += 1
        rows = self._out_np[list(slots)]
        for slot, finite in zip(slots, rows[:, 4], strict=True):
            if finite != 1:
                error = FloatingPointError(NON_FINITE_OUTPUT)
                raise SlotError(slot, error) from error
        self._after_update(slots)
        return cxywh_to_xywh(rows[:, :4]).astype(np.float64)

    @torch.inference_mode()
    def place(self, slots: Sequence[int], boxes_xywh: np.ndarray) -> None:
        """Move the targets of busy ``slots`` to ``boxes_xywh`` (``[k, 4]``): their next update
        searches around these boxes (as ``SiamFCppTracker.update(frame, prior_xywh)``; e.g. to
        track each frame from a reference trajectory's previous box)."""
        self._check_busy(slots)
        states = []
        for slot, box in zip(slots, boxes_xywh, strict=True):
            with naming_slot(slot):
                states.append(np.concatenate(state_from_xywh(box)))
        rows = torch.tensor(list(slots), device=self.device)
        state = torch.from_numpy(np.stack(states)).to(self.device)
        self._center[rows], self._size[rows] = state[:, :2], state[:, 2:]

    @property
    def entries(self) -> int:
        """Templates searched per slot and step (``E``)."""
        return 1

    # ------------------------------------------------------------------ the step
    def _step(self) -> None:
        """Crop, search and post-process every slot; move the slots flagged in the table.

        Static shapes, no host synchronisation: this is what the CUDA graph holds.
        """
        x, scale = self._crop_step()
        score, boxes = self._search(x)
        self._postprocess_step(score, boxes, scale)

    def _crop_all(self) -> tuple[Tensor, Tensor]:
        """Search crops ``[S, 3, X, X]`` of every slot from its frame, and their scales ``[S]``."""
        scale = crop_scale(self._size, self.z_size, self._context)
        src = torch.round(self.x_size / scale)
        wh = self._table[:, _WIDTH:]
        x = crop_bilinear(self._frames, wh, self._center, src, self.x_size, self._border)
        return x, scale

    def _postprocess(self, score: Tensor, boxes: Tensor, scale: Tensor) -> None:
        """The reference post-processing on ``[S, N]``; moves flagged slots, writes the output."""
        center, size, _ = track_step(
            score,
            boxes,
            self._center,
            self._size,
            scale,
            window=self._window,
            image_wh=self._limit,
            min_wh=self._min_wh,
            x_size=self.x_size,
            test_lr=self.test_lr,
            penalty_k=self.penalty_k,
            window_influence=self.window_influence,
        )
        finite = torch.isfinite(score).all(-1) & torch.isfinite(boxes).flatten(1).all(-1)
        moving = self._table[:, _UPDATE, None] != 0
        self._center.copy_(torch.where(moving, center, self._center))
        self._size.copy_(torch.where(moving, size, self._size))
        self._out.copy_(torch.cat([self._center, self._size, finite[:, None].float()], dim=1))

    @torch.inference_mode()
    def profile(self, frames: Sequence[Frame] = (), repeats: int = 20) -> dict[str, float]:
        """Milliseconds per step of each phase on the device: ``upload`` of ``frames`` (one per
        slot from 0, if given), ``crop``, ``network``, ``postprocess`` (run one after the other)
        and the ``step`` as :meth:`update` runs it (the graph's replay with ``cuda_graph``), over
        ``repeats`` steps on the frames of the last update. No slot moves."""
        if self._kernels is None or self._frames is None:
            raise RuntimeError("profile needs a step to replay: call init and update first")
        self._table[:, _UPDATE].zero_()
        cuda = self.device.type == "cuda"

        def timed(run) -> float:
            run()  # warm
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(True)
                start.record()
                for _ in range(repeats):
                    run()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / repeats
            begin = time.perf_counter()
            for _ in range(repeats):
                run()
            return (time.perf_counter() - begin) * 1e3 / repeats

        x, scale = self._crop_step()
        score, boxes = self._search(x)
        phases = {}
        if frames:
            phases["upload"] = timed(lambda: self._upload(range(len(frames)), frames))
        return phases | {
            "crop": timed(self._crop_step),
            "network": timed(lambda: self._search(x)),
            "postprocess": timed(lambda: self._postprocess_step(score, boxes, scale)),
            "step": timed(self._graph.replay if self._graph is not None else self._step),
        }

    def _search(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """One network call for the crops ``x [S, 3, X, X]`` against every slot's ``E``
        templates; the score ``[S, N]`` and boxes ``[S, N, 4]`` (float32) of each slot."""
        entries = self.entries
        if entries > 1:
            x = x.repeat_interleave(entries, dim=0)
        kernels = tuple(k.flatten(0, 1) for k in self._kernels)
        score, boxes = self.model.search(self._net_input(x), kernels)[:2]
        check_num_cells(score.shape[-1], self._window.shape[0], self.score_size)
        score = score.float().view(self.num_slots, entries, -1)
        boxes = boxes.float().view(self.num_slots, entries, -1, 4)
        return self._fuse(score, boxes)

    def _fuse(self, score: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """Score ``[S, N]`` and boxes ``[S, N, 4]`` from the per-template ``[S, E, ...]``."""
        return score[:, 0], boxes[:, 0]

    def _capture(self) -> torch.cuda.CUDAGraph:
        """CUDA graph of :meth:`_step` (warmed up first, which with no slot flagged to move
        changes no state)."""
        self._table[:, _UPDATE].zero_()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):  # cuDNN algorithm selection and lazy initialisation
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step()
        return graph

    # ------------------------------------------------------------------ pieces
    def _template(self, rows: Tensor, wh: Tensor) -> tuple[Tensor, ...]:
        """Template kernels (``[k, ...]`` each) of the slots ``rows`` at their current state,
        from the frames in their buffer rows (sizes ``wh [k, 2]``)."""
        size = self._size[rows]
        src = torch.round(self.z_size / crop_scale(size, self.z_size, self._context))
        z = crop_bilinear(
            self._frames[rows], wh, self._center[rows], src, self.z_size, self._border[rows]
        )
        return tuple(self.model.template(self._net_input(z)))

    def _net_input(self, crops: Tensor) -> Tensor:
        return crops.to(self.dtype).contiguous(memory_format=self.memory_format)

    def _upload(self, slots: Sequence[int], frames: Sequence[Frame]) -> None:
        """Copy each frame into its slot's row of the frame buffer (grown to the largest)."""
        needed = max(int(np.prod(f.shape)) for f in frames)
        if self._frames is None or needed > self._frames.shape[1]:
            self._frames = torch.zeros(
                self.num_slots, needed, dtype=torch.uint8, device=self.device
            )
            if self.pinned_frames:
                self._staging = torch.empty(self.num_slots, needed, dtype=torch.uint8).pin_memory()
            self._graph = None  # the graph reads the old buffer
        for slot, frame in zip(slots, frames, strict=True):
            if isinstance(frame, Tensor):
                source = frame.reshape(-1)
            else:
                source = torch.from_numpy(np.ascontiguousarray(frame)).view(-1)
            target = self._frames[slot, : source.numel()]
            if self.pinned_frames and source.device.type == "cpu" and not source.is_pinned():
                staged = self._staging[slot, : source.numel()]
                staged.copy_(source)
                source = staged
            target.copy_(source, non_blocking=True)

    def _check_busy(self, slots: Sequence[int]) -> None:
        for slot in slots:
            if not 0 <= slot < self.num_slots or not self._busy[slot]:
                raise RuntimeError(f"slot {slot} has no target: call init before update")

    def _after_init(self, slots: Sequence[int]) -> None:
        """Hook after :meth:`init` (the single-template engine does nothing)."""

    def _after_update(self, slots: Sequence[int]) -> None:
        """Hook after :meth:`update` (the single-template engine does nothing)."""


class MultiTemplateDeviceEngine(DeviceEngine):
    """:class:`DeviceEngine` with the multi-template tracker's memory and score fusion.

    Takes every argument of :class:`DeviceEngine` plus those of
    :class:`~siamfcpp.tracking.memory.SiamFCppMultiTempTracker` (``mem_step``, ``mem_len``,
    ``mem_coef``, ``mem_sink_idx``, ``memory_update``, same meaning). Each slot's kernel memory
    is a ``[E, ...]`` row of the kernel buffers: ``E = mem_len`` with ``memory_update`` (every
    entry searched, one network call of ``S * E`` crops), else 1, as the memory then only ever
    holds copies of the first template (the fusion sees ``mem_len`` equal scores). Memorising a
    template (every ``mem_step`` updates of a slot) is one crop + ``template`` call for the slots
    due, after the step.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        mem_step: int,
        mem_len: int,
        mem_coef: float,
        mem_sink_idx: int,
        memory_update: bool,
        **engine_kwargs,
    ) -> None:
        check_memory_parameters(mem_step, mem_len, mem_coef, mem_sink_idx)
        self.mem_step, self.mem_len, self.mem_coef = mem_step, mem_len, mem_coef
        self.mem_sink_idx = mem_sink_idx
        self.memory_update = memory_update and mem_len > 1
        super().__init__(model, **engine_kwargs)
        entry_of = range(mem_len) if self.memory_update else [0] * mem_len
        self._entry_of = torch.tensor(list(entry_of), device=self.device)
        self._frame_count = [0] * self.num_slots

    @property
    def entries(self) -> int:
        return self.mem_len if self.memory_update else 1

    def _fuse(self, score: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        return fuse_scores(score[:, self._entry_of], self.mem_coef), boxes[:, 0]

    def _after_init(self, slots: Sequence[int]) -> None:
        for slot in slots:
            self._frame_count[slot] = 0

    def _after_update(self, slots: Sequence[int]) -> None:
        due = []
        for slot in slots:
            self._frame_count[slot] += 1
            if self.memory_update and self._frame_count[slot] % self.mem_step == 0:
                due.append(slot)
        if not due:
            return
        rows = torch.tensor(due, device=self.device)
        kernels = self._template(rows, self._table[rows, _WIDTH:])
        sink = self.mem_sink_idx
        for buffer, kernel in zip(self._kernels, kernels, strict=True):
            memory = buffer[rows]  # drop the sink entry, append the new template
            buffer[rows] = torch.cat([memory[:, :sink], memory[:, sink + 1 :], kernel[:, None]], 1)
