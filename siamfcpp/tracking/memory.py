"""Template memory and the multi-template SiamFC++ tracker (the original's score fusion).

The original ``SiamFCppMultiTempTracker`` fills a memory of ``mem_len`` templates with copies of
the first-frame template and fuses the per-template scores as
``(1 - mem_coef) * score[0] + mem_coef * mean(score[1:])``; boxes come from template 0. Its
memory update is disabled (commented out), so it only ever uses the first template:
``memory_update=False`` reproduces that exactly. ``memory_update=True`` runs the update it
describes: every ``mem_step`` frames the template at the current estimate enters the memory and
the entry at ``mem_sink_idx`` leaves it (index 0, the first-frame template, stays when the sink
index is >= 1).
"""

from __future__ import annotations

from typing import Generic, TypeVar

import numpy as np
import torch
from torch import nn

from siamfcpp.config import ConfigValueError, config_int, config_number
from siamfcpp.tracking.postprocess import Array, f32
from siamfcpp.tracking.tracker import Kernels, SiamFCppTracker

T = TypeVar("T")


class TemplateMemory(Generic[T]):
    """Fixed-length list of templates; a new one is appended after dropping the sink entry."""

    def __init__(self, first: T, length: int, sink_index: int) -> None:
        self.check(length, sink_index)
        self.entries: list[T] = [first] * length
        self.sink_index = sink_index

    @staticmethod
    def check(length: int, sink_index: int) -> None:
        """Raise :class:`~siamfcpp.config.ConfigValueError` unless ``length >= 1`` and
        ``0 <= sink_index < length`` (the tracker's ``mem_len`` / ``mem_sink_idx``)."""
        config_int("mem_len", length, 1)
        if not (isinstance(sink_index, int) and 0 <= sink_index < length):
            raise ConfigValueError(
                "mem_sink_idx", sink_index, f"an integer in [0, mem_len={length})"
            )

    def push(self, template: T) -> None:
        """Drop the entry at the sink index and append ``template`` (the newest is last)."""
        del self.entries[self.sink_index]
        self.entries.append(template)

    def __len__(self) -> int:
        return len(self.entries)


def check_memory_parameters(
    mem_step: int, mem_len: int, mem_coef: float, mem_sink_idx: int
) -> None:
    """Raise :class:`~siamfcpp.config.ConfigValueError` naming the first template-memory
    hyper-parameter (``conf/tracker/multi_temp*.yaml``) outside its allowed range."""
    config_int("mem_step", mem_step, 1)
    TemplateMemory.check(mem_len, mem_sink_idx)
    config_number("mem_coef", mem_coef, 0, 1)


def fuse_scores(scores: Array, mem_coef: float) -> Array:
    """``(1 - c) * scores[0] + c * mean(scores[1:])`` over the template axis, in float32.

    Args:
        scores: ``[..., L, N]`` float32 per-template scores (numpy or torch, any leading axes);
            template 0 is the initial one. ``L == 1`` returns it unchanged.
        mem_coef: weight ``c`` of the short-term memory.

    Returns:
        ``[..., N]`` float32.
    """
    if scores.shape[-2] == 1:
        return scores[..., 0, :]
    memory_mean = scores[..., 1:, :].mean(-2)
    return scores[..., 0, :] * f32(1 - mem_coef) + memory_mean * f32(mem_coef)


class SiamFCppMultiTempTracker(SiamFCppTracker):
    """SiamFC++ tracker scoring each search crop against a memory of templates.

    Takes every argument of :class:`SiamFCppTracker`, plus:

    Args:
        mem_step: a template is memorised every ``mem_step`` frames (``memory_update`` only).
        mem_len: number of templates in the memory, the first-frame one included.
        mem_coef: weight of the short-term memory's mean score against the first template's.
        mem_sink_idx: memory index that is dropped when a new template enters.
        memory_update: False reproduces the original (memory stays the first template);
            True memorises new templates as described above.
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
        **tracker_kwargs,
    ) -> None:
        check_memory_parameters(mem_step, mem_len, mem_coef, mem_sink_idx)
        super().__init__(model, **tracker_kwargs)
        self.mem_step = mem_step
        self.mem_len = mem_len
        self.mem_coef = mem_coef
        self.mem_sink_idx = mem_sink_idx
        self.memory_update = memory_update

    def _init_templates(self, kernels: Kernels) -> None:
        self.memory = TemplateMemory(kernels, self.mem_len, self.mem_sink_idx)
        self.frame_count = 0

    def _search_kernels(self) -> list[Kernels]:
        # Entries are shared objects until the memory is updated: score each distinct one once
        # (identical templates give bit-identical scores, so the fusion is unchanged).
        return list({id(kernels): kernels for kernels in self.memory.entries}.values())

    def _fuse(self, outputs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        by_entry = dict(zip(self._distinct_ids(), outputs, strict=True))
        scores = [by_entry[id(kernels)][0] for kernels in self.memory.entries]
        return fuse_scores(np.stack(scores), self.mem_coef), by_entry[id(self.memory.entries[0])][1]

    def _distinct_ids(self) -> list[int]:
        return list(dict.fromkeys(id(kernels) for kernels in self.memory.entries))

    def _after_update(self, frame: np.ndarray) -> None:
        self.frame_count += 1
        if self.memory_update and self.mem_len > 1 and self.frame_count % self.mem_step == 0:
            with torch.no_grad():
                z = self._to_tensor(self._crop(frame, self.z_size)[0])
                self.memory.push(self.model.template(z))
