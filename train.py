"""Train a SiamFC++ network.

    python train.py                                       # brief CPU run on synthetic data
    python train.py recipe=siamfcpp_alexnet-trn trainer=gpu paths.data_dir=/data
    python train.py ... ckpt_path=outputs/train/<run>/checkpoints/last.ckpt   # start from it
    python train.py ... hydra.run.dir=RUN   # interrupted? the same command resumes RUN's last.ckpt

See ``conf/train.yaml`` for the options; the work is done in :mod:`siamfcpp.training.pipeline`.
The checkpoints (``<run>/checkpoints/*.ckpt``) load in ``python evaluate.py checkpoint=<.ckpt>``.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from siamfcpp.apps.cli import entry_point
from siamfcpp.apps.sweeps import objective
from siamfcpp.config import rename_overrides
from siamfcpp.training.pipeline import DEPRECATED_OVERRIDES, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@entry_point
def main(cfg: DictConfig) -> float | None:
    return objective(cfg, train(cfg))  # the value of cfg.optimized_metric, for sweepers


if __name__ == "__main__":
    sys.argv = rename_overrides(sys.argv, DEPRECATED_OVERRIDES)
    main()
