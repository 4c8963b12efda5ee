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

import sys
from collections.abc import Mapping, Sequence

from omegaconf import OmegaConf


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


def rename_overrides(argv: Sequence[str], renames: Mapping[str, str]) -> list[str]:
    """Command-line overrides with deprecated spellings replaced, each with a note on stderr.

    ``renames`` maps an old spelling to the new one: a key prefix ending in ``.`` (e.g.
    ``checkpoint.`` -> ``callbacks.model_checkpoint.``) renames every key under it; any other
    entry (e.g. ``experiment=siamfcpp_alexnet-trn``) renames that exact override. Hydra's
    ``+`` / ``++`` / ``~`` markers are kept.
    """
    out = []
    for arg in argv:
        marker = arg[: len(arg) - len(arg.lstrip("+~"))]
        body = arg[len(marker) :]
        for old, new in renames.items():
            if body == old or (old.endswith(".") and body.startswith(old)):
                renamed = marker + new + body[len(old) :]
                print(f"note: `{arg}` is deprecated, use `{renamed}`", file=sys.stderr)
                arg = renamed
                break
        out.append(arg)
    return out
