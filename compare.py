"""Compare trackers: the metrics, per-sequence results and curves of several runs side by side.

    python compare.py runs=[outputs/evaluate/A,outputs/evaluate/B]
    python compare.py runs=[RUN,RAW_RESULTS] names=[ours,original] benchmark=vot2018 \
        benchmark.root=DIR

See ``conf/compare.yaml`` for the options; the work is done in
:mod:`siamfcpp.evaluation.compare`.
"""

from __future__ import annotations

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from siamfcpp.apps.cli import entry_point
from siamfcpp.evaluation.compare import compare


@hydra.main(version_base="1.3", config_path="conf", config_name="compare")
@entry_point
def main(cfg: DictConfig) -> None:
    benchmark = instantiate(cfg.benchmark) if cfg.get("benchmark") else None
    compare(list(cfg.runs), cfg.output_dir, benchmark, cfg.names)


if __name__ == "__main__":
    main()
