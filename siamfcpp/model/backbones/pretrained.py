"""ImageNet initialisation of a backbone from a weights file (the original training recipes start
from ImageNet-pretrained backbones: BN-AlexNet from the original's own ``.pkl``, Inception-v3 from
torchvision's file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from siamfcpp.model.checkpoints import CheckpointError, read_state_dict, verify_md5


def load_backbone_weights(
    backbone: nn.Module,
    path: str | Path,
    *,
    new_layer: Callable[[str], bool],
    expected: str,
) -> None:
    """Copy the tensors of ``path`` into ``backbone``.

    Every backbone tensor must be in the file with the same name and shape, except those of
    layers that SiamFC++ adds (``new_layer(key)``) and BN ``num_batches_tracked`` counters (older
    files predate them). Other tensors of the file (a classifier, dropped blocks) are ignored. A
    file name carrying ``md5_<hex>`` is verified first.

    Raises:
        CheckpointError: one line naming the file, the first bad key and ``expected`` (the file
        the user should pass).
    """
    path = Path(path)
    verify_md5(path)
    source = read_state_dict(path)
    wanted = {
        k: v
        for k, v in backbone.state_dict().items()
        if not new_layer(k) and (k in source or not k.endswith("num_batches_tracked"))
    }
    missing = sorted(k for k in wanted if k not in source)
    if missing:
        raise CheckpointError(
            f"{path}: {len(missing)} backbone keys missing (first: {missing[0]}); pass {expected}"
        )
    bad = [k for k, v in wanted.items() if tuple(source[k].shape) != tuple(v.shape)]
    if bad:
        raise CheckpointError(
            f"{path}: shape of {bad[0]} is {tuple(source[bad[0]].shape)}, the backbone expects "
            f"{tuple(wanted[bad[0]].shape)}; pass {expected}"
        )
    backbone.load_state_dict({k: source[k] for k in wanted}, strict=False)
