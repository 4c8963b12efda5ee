"""Training batches of template/search pairs with dense-box targets, as a LightningDataModule.

The sample stream is a pure function of ``(seed, i)``: sample ``i`` draws its pair, jitter and
crop from ``numpy.random.default_rng((seed, i))``. Epoch ``e`` uses samples
``e * samples_per_epoch ... (e + 1) * samples_per_epoch - 1`` (the original's
``nr_image_per_epoch``), split over distributed replicas, so a run is reproducible whatever the
number of workers or GPUs, and every epoch sees new pairs.

``crop_on`` picks where pairs are cropped: ``cpu`` (the reference, :class:`PairDataset`) or
``device`` (:mod:`siamfcpp.data.device_pairs`: workers ship uint8 frame patches, the training
device crops the batch and builds its targets in ``on_after_batch_transfer``). Both draw the
same samples from the same ``(seed, i)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from siamfcpp.config import config_int, config_number
from siamfcpp.data.augment import RandomCropPair
from siamfcpp.data.device_pairs import (
    DecodingOpener,
    PairAssembler,
    PatchPairDataset,
    collate_patch_pairs,
)
from siamfcpp.data.patch_cache import CacheOpener
from siamfcpp.data.sampling import MixtureEntry, PairFilter, TrackPairSampler
from siamfcpp.model.targets import make_densebox_targets


def _chw(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` BGR -> uint8 ``[3, H, W]`` (a quarter of float32's bytes to collate,
    page-lock and upload; :meth:`SiamPairDataModule.on_after_batch_transfer` makes it float)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class PairDataset(Dataset):
    """Sample ``i`` of the infinite training stream; ``len`` is one epoch.

    Each sample is a dict of tensors: ``im_z`` uint8 ``[3, z_size, z_size]`` and ``im_x``
    uint8 ``[3, x_size, x_size]`` (BGR), ``cls_gt`` / ``ctr_gt`` ``[N, 1]``, ``box_gt``
    ``[N, 4]`` (``N = score_size ** 2``), ``is_negative`` bool.
    """

    def __init__(
        self,
        sampler: TrackPairSampler,
        crop: RandomCropPair,
        score_size: int,
        total_stride: int,
        samples_per_epoch: int,
        seed: int,
    ) -> None:
        self.sampler = sampler
        self.crop = crop
        self.score_size = score_size
        self.total_stride = total_stride
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0:
            raise IndexError(f"sample index must be >= 0, got {index}")
        rng = np.random.default_rng((self.seed, index))
        pair = self.sampler.sample(rng)
        cropped = self.crop(pair.image_z, pair.box_z, pair.image_x, pair.box_x, rng)
        targets = make_densebox_targets(
            cropped.box_x_xyxy,
            x_size=self.crop.x_size,
            score_size=self.score_size,
            total_stride=self.total_stride,
            negative=pair.negative,
        )
        sample = {
            "im_z": _chw(cropped.image_z),
            "im_x": _chw(cropped.image_x),
            "is_negative": torch.tensor(pair.negative),
        }
        for key in ("cls_gt", "ctr_gt", "box_gt"):
            sample[key] = torch.from_numpy(np.asarray(targets[key], dtype=np.float32))
        return sample


#: where pairs are cropped (``crop_on``)
CROP_ON = ("cpu", "device")


class EpochSampler(DistributedSampler):
    """Stream indices of the current epoch for one replica (Lightning calls ``set_epoch``).

    A ``DistributedSampler`` so that Lightning keeps it as is under DDP instead of wrapping it.
    Replica ``r`` of ``R`` takes every ``R``-th index starting at ``r``; the tail that does not
    split evenly is dropped.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.samples_per_epoch = len(dataset)
        self.num_samples = self.samples_per_epoch // num_replicas
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        start = self.epoch * self.samples_per_epoch
        return iter(range(start + self.rank, start + self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


class SiamPairDataModule(pl.LightningDataModule):
    """Training pairs from a mixture of sources.

    Args:
        sources: the mixture, by name (one :class:`MixtureEntry` per data set).
        negative_pair_ratio: fraction of negative pairs.
        pair_filter: box area / aspect limits.
        crop: the random crop (its ``x_size`` is the search size of the targets).
        score_size: side of the score map the targets are made for.
        total_stride: backbone stride between score-map cells in search-crop pixels.
        samples_per_epoch: pairs per epoch over all replicas (original: ``nr_image_per_epoch``).
        batch_size: pairs per optimisation step over all replicas (original: ``minibatch``);
            each of ``R`` replicas loads ``batch_size // R``.
        num_workers: data-loader worker processes (per replica).
        pin_memory: page-locked batches for faster, asynchronous host-to-GPU copies (only
            when training on a CUDA device).
        seed: seed of the sample stream.
        crop_on: ``cpu`` (reference) or ``device`` (see the module doc).
        max_reduction: ``crop_on=device``: coarsest reduced JPEG decoding (1, 2, 4, 8) a crop
            may read from (1: full resolution, the reference's pixels).
        patch_cache: ``crop_on=device``: folder of a patch cache made by
            ``python -m siamfcpp.data.prepare`` to read instead of the frames, or None.
    """

    def __init__(
        self,
        sources: Mapping[str, MixtureEntry],
        negative_pair_ratio: float,
        pair_filter: PairFilter,
        crop: RandomCropPair,
        score_size: int,
        total_stride: int,
        samples_per_epoch: int,
        batch_size: int,
        num_workers: int,
        pin_memory: bool,
        seed: int,
        crop_on: str,
        max_reduction: int,
        patch_cache: str | None,
    ) -> None:
        super().__init__()
        config_number("negative_pair_ratio", negative_pair_ratio, 0, 1)
        batch_size = config_int("batch_size", batch_size, 1)
        samples_per_epoch = config_int(
            "samples_per_epoch",
            samples_per_epoch,
            batch_size,
            hint=" (batch_size, the pairs of one step)",
        )
        num_workers = config_int("num_workers", num_workers, 0)
        if crop_on not in CROP_ON:
            raise ValueError(f"data.crop_on must be one of {CROP_ON}, got {crop_on!r}")
        if patch_cache is not None and crop_on != "device":
            raise ValueError("data.patch_cache is read by the device crop: set data.crop_on=device")
        self.sources = dict(sources)
        self.negative_pair_ratio = negative_pair_ratio
        self.pair_filter = pair_filter
        self.crop = crop
        self.score_size = score_size
        self.total_stride = total_stride
        self.samples_per_epoch = samples_per_epoch
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.crop_on = crop_on
        self.max_reduction = max_reduction
        self.patch_cache = patch_cache
        self.assemble = PairAssembler(crop.z_size, crop.x_size, score_size, total_stride)
        self.train_set: PairDataset | PatchPairDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        # Indexes every source here, once, before the data-loader workers fork.
        sampler = TrackPairSampler(
            list(self.sources.values()), self.negative_pair_ratio, self.pair_filter
        )
        if self.crop_on == "device":
            opener = (
                CacheOpener(self.patch_cache, self.crop)
                if self.patch_cache is not None
                else DecodingOpener(self.max_reduction)
            )
            self.train_set = PatchPairDataset(
                sampler,
                self.crop,
                opener,
                samples_per_epoch=self.samples_per_epoch,
                seed=self.seed,
            )
            return
        self.train_set = PairDataset(
            sampler,
            self.crop,
            score_size=self.score_size,
            total_stride=self.total_stride,
            samples_per_epoch=self.samples_per_epoch,
            seed=self.seed,
        )

    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        num_replicas, rank = self._replicas()
        if self.batch_size % num_replicas:
            raise ValueError(
                f"batch_size {self.batch_size} does not split over {num_replicas} replicas"
            )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size // num_replicas,
            sampler=EpochSampler(self.train_set, num_replicas=num_replicas, rank=rank),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and self._on_cuda(),
            drop_last=True,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_patch_pairs if self.crop_on == "device" else None,
        )

    def _on_cuda(self) -> bool:
        """Whether batches go to a CUDA device: the trainer's, or any CUDA device without one."""
        if self.trainer is None:
            return torch.cuda.is_available()
        return self.trainer.strategy.root_device.type == "cuda"

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """The batch as the network takes it, where it now lies: ``crop_on=device`` crops it and
        builds its targets; ``cpu`` turns its uint8 crops into float32 (exact)."""
        if self.crop_on == "device":
            return self.assemble(batch)
        return {**batch, "im_z": batch["im_z"].float(), "im_x": batch["im_x"].float()}
