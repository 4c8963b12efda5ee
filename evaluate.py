"""Evaluate a SiamFC++ tracker on a benchmark.

    python evaluate.py                                   # built-in synthetic benchmark, CPU
    python evaluate.py experiment=siamfcpp_alexnet_got checkpoint=PATH.pkl \
        benchmark.root=/data/GOT-10k benchmark.subset=val device=cuda

See ``conf/evaluate.yaml`` for the options; the work is done in
:mod:`siamfcpp.evaluation.pipeline`.
"""

from __future__ import annotations

import sys

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from siamfcpp.apps.cli import entry_point
from siamfcpp.apps.recorded import with_recorded_model
from siamfcpp.apps.sweeps import objective
from siamfcpp.evaluation.pipeline import evaluate
from siamfcpp.evaluation.wandb_report import log_evaluation


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@entry_point
def main(cfg: DictConfig) -> float | None:
    result = evaluate(cfg)
    if cfg.get("logger"):  # logger=wandb (siamfcpp/evaluation/wandb_report.py)
        log_evaluation(cfg, result, instantiate(cfg.benchmark).sequences())
    return objective(cfg, result)


if __name__ == "__main__":
    # checkpoint=F picks the backbone it holds unless backbone= / experiment= is given
    sys.argv = [sys.argv[0], *with_recorded_model(sys.argv[1:])]
    main()
