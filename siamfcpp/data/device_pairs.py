"""Training pairs cropped on the training device: the fast data path (``data.crop_on=device``).

The reference path (:class:`siamfcpp.data.datamodule.PairDataset`) crops both frames with OpenCV
in a data-loader worker, builds the dense-box targets there and ships float32 tensors. Here a
worker only samples and decodes:

1. sample ``i`` draws its pair and crop geometry from ``numpy.random.default_rng((seed, i))``
   exactly as the reference does (same sampler, same :meth:`RandomCropPair.draw`), so the
   stream is the same pure function of ``(seed, i)``;
2. it reads the frames no finer than the crops need (:mod:`siamfcpp.data.patches`: header-only
   size checks, reduced JPEG decoding, or a prepared patch cache) and ships, per crop, the uint8
   frame region the crop reads, the crop's affine map and the padding colour;
3. :func:`collate_patch_pairs` pads the regions of a batch to one size;
4. on the device, :class:`PairAssembler` (the data module's ``on_after_batch_transfer``) resamples
   all crops in one gather (:func:`siamfcpp.warp.warp_crops`) and builds the targets batched
   (:func:`siamfcpp.model.targets.densebox_targets`), giving the reference's batch layout.

With full-resolution decoding (``max_reduction=1``) the crops equal the reference's but for a
pixel rounding the other way now and then (OpenCV's float rounding), and the targets are the
same numbers; ``tests/test_device_pairs.py`` measures both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info
from torch.utils.data._utils.collate import default_collate

from siamfcpp.data.augment import RandomCropPair
from siamfcpp.data.patches import DecodedFrame
from siamfcpp.data.sampling import FrameOpener, TrackPairSampler
from siamfcpp.data.sources.base import TrackSequence
from siamfcpp.model.targets import densebox_targets
from siamfcpp.warp import warp_crops

_PATCHES = ("z", "x")  # the template's and the search crop's keys


@dataclass(frozen=True)
class DecodingOpener:
    """Opens frames as :class:`DecodedFrame` handles (decoded when their patches are cut)."""

    max_reduction: int

    def __call__(self, sequence: TrackSequence, index: int) -> DecodedFrame:
        return DecodedFrame(sequence.frames[index], self.max_reduction)


class PatchPairDataset(Dataset):
    """Sample ``i`` of the infinite training stream as frame patches; ``len`` is one epoch.

    Each sample: ``z_patch`` / ``x_patch`` uint8 ``[h, w, 3]`` BGR frame regions,
    ``z_to_patch`` / ``x_to_patch`` float64 ``[4]`` frame -> patch maps, ``z_affine`` /
    ``x_affine`` float64 ``[3]`` crop -> frame maps ``(step, x1, y1)``, ``border`` float32
    ``[3]`` padding colour, ``box_x`` float64 ``[4]`` search object ``x1, y1, x2, y2`` in
    search-crop pixels, ``is_negative`` bool.

    Args:
        sampler: the pair sampler (as the reference's).
        crop: the random crop (its :meth:`~RandomCropPair.draw` only).
        open_frame: how frames are read (e.g. :class:`DecodingOpener`, or a patch cache).
        samples_per_epoch: length of an epoch.
        seed: seed of the sample stream.
    """

    def __init__(
        self,
        sampler: TrackPairSampler,
        crop: RandomCropPair,
        open_frame: FrameOpener,
        samples_per_epoch: int,
        seed: int,
    ) -> None:
        self.sampler = sampler
        self.crop = crop
        self.open_frame = open_frame
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if index < 0:
            raise IndexError(f"sample index must be >= 0, got {index}")
        rng = np.random.default_rng((self.seed, index))
        pair = self.sampler.sample(rng, self.open_frame)
        geometry = self.crop.draw(pair.box_z, pair.box_x, rng)
        windows = {"z": geometry.window_z, "x": geometry.window_x}
        if pair.image_x is pair.image_z:  # one frame, read once
            (patch_z, patch_x), mean = pair.image_z.patches([windows["z"], windows["x"]])
        else:
            (patch_z,), mean = pair.image_z.patches([windows["z"]])
            (patch_x,), _ = pair.image_x.patches([windows["x"]])
        sample: dict[str, Tensor] = {}
        for name, patch in (("z", patch_z), ("x", patch_x)):
            sample[f"{name}_patch"] = torch.from_numpy(patch.image)
            sample[f"{name}_to_patch"] = torch.from_numpy(patch.to_patch)
            sample[f"{name}_affine"] = torch.from_numpy(windows[name].affine_terms())
        # OpenCV truncates the border colour to integers (the reference pads so)
        sample["border"] = torch.from_numpy(np.trunc(mean).astype(np.float32))
        sample["box_x"] = torch.from_numpy(np.asarray(geometry.box_x_xyxy, dtype=np.float64))
        sample["is_negative"] = torch.tensor(pair.negative)
        return sample


def collate_patch_pairs(samples: list[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """Batch :class:`PatchPairDataset` samples: patches zero-padded to the largest of the batch
    (``z_patch`` / ``x_patch`` ``[B, H, W, 3]`` uint8) with their sizes (``z_extent`` /
    ``x_extent`` ``[B, 2]`` int64 ``(h, w)``), the rest stacked."""
    batch: dict[str, Tensor] = {}
    for name in _PATCHES:
        images = [sample[f"{name}_patch"] for sample in samples]
        sizes = torch.tensor([image.shape[:2] for image in images], dtype=torch.int64)
        height, width = (max(1, int(v)) for v in sizes.max(dim=0).values)
        padded = torch.zeros((len(images), height, width, 3), dtype=torch.uint8)
        if get_worker_info() is not None:
            padded.share_memory_()  # the loader would copy it into shared memory anyway
        for k, image in enumerate(images):
            padded[k, : image.shape[0], : image.shape[1]] = image
        batch[f"{name}_patch"] = padded
        batch[f"{name}_extent"] = sizes
    patch_keys = {f"{name}_patch" for name in _PATCHES}
    rest = [{k: v for k, v in s.items() if k not in patch_keys} for s in samples]
    batch.update(default_collate(rest))
    return batch


@dataclass(frozen=True)
class PairAssembler:
    """A collated patch batch (on the device) -> the reference's training batch.

    Returns ``im_z`` ``[B, 3, z_size, z_size]`` and ``im_x`` ``[B, 3, x_size, x_size]`` float32
    BGR 0..255 (channels-last memory layout), ``cls_gt`` / ``ctr_gt`` ``[B, N, 1]``, ``box_gt``
    ``[B, N, 4]`` and ``is_negative`` ``[B]``, all on the patches' device.
    """

    z_size: int
    x_size: int
    score_size: int
    total_stride: int

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        crops = {
            name: warp_crops(
                batch[f"{name}_patch"],
                batch[f"{name}_extent"],
                batch[f"{name}_affine"],
                batch[f"{name}_to_patch"],
                batch["border"],
                size,
            )
            for name, size in (("z", self.z_size), ("x", self.x_size))
        }
        targets = densebox_targets(
            batch["box_x"],
            batch["is_negative"],
            x_size=self.x_size,
            score_size=self.score_size,
            total_stride=self.total_stride,
        )
        negative = batch["is_negative"]
        return {"im_z": crops["z"], "im_x": crops["x"], **targets, "is_negative": negative}
