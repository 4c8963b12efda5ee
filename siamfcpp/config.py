"""OmegaConf resolvers of the Hydra configs (registered when :mod:`siamfcpp` is imported).

``${siamfcpp.score_size:z_size,x_size,total_stride,conv_bn}`` is the side of the score map the
network produces for template crops of ``z_size`` and search crops of ``x_size``. Both backbones
are fully convolutional with stride ``total_stride``, so when ``x_size - z_size`` is a multiple
of it the correlation map has ``(x_size - z_size) / total_stride + 1`` cells, and each 3x3 head
tower conv (one per ``conv_bn`` flag) takes one from every border. Deriving it keeps one source
of truth: ``model.head.x_size`` (or ``data.crop.x_size`` in training) sets the geometry and the
head, targets and tracker follow, for any backbone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf


class ConfigValueError(ValueError):
    """A config value outside its allowed range.

    ``key`` is relative to the config node the object is built from (``test_lr`` of the tracker
    node); the entry points name the node in front (``tracker.test_lr``, see
    :mod:`siamfcpp.apps.cli`).
    """

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(self.message())

    def message(self, prefix: str = "") -> str:
        key = f"{prefix}.{self.key}" if prefix else self.key
        return f"{key}={self.value!r} is not allowed: {self.expected}"


def score_size(z_size: int, x_size: int, total_stride: int, conv_bn: Sequence[bool]) -> int:
    """Score-map side of the network for ``z_size`` / ``x_size`` crops (see the module doc)."""
    if (x_size - z_size) % total_stride:
        # then the side depends on each backbone's rounding (AlexNet and GoogLeNet differ)
        raise ValueError(
            f"x_size {x_size} - z_size {z_size} is not a multiple of the stride {total_stride}: "
            "the score-map side is not derived for such crops; set model.head.score_size "
            "explicitly (the GoogLeNet training recipe's 289 gives 17)"
        )
    side = (x_size - z_size) // total_stride + 1 - 2 * len(conv_bn)
    if side < 1:
        raise ValueError(f"x_size {x_size} is too small for a score map (z_size {z_size})")
    return side


def register_resolvers() -> None:
    """Register the resolvers (idempotent)."""
    if not OmegaConf.has_resolver("siamfcpp.score_size"):
        OmegaConf.register_new_resolver("siamfcpp.score_size", score_size)
