"""Training pipeline behind ``train.py``: config -> data, network, LightningModule, Trainer -> fit.

Composed by Hydra from ``conf/train.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.data``,
``cfg.module``, ``cfg.trainer``, ``cfg.logger`` (null: none), ``cfg.checkpoint`` (the
``ModelCheckpoint`` callback), ``cfg.callbacks`` (more Lightning callbacks by name) and the
top-level keys ``seed``, ``ckpt_path``, ``output_dir``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import RichProgressBar

from siamfcpp.benchmarks.io import atomic_write_text

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit the configured module on the configured data.

    Returns:
        ``last_checkpoint`` (path of ``last.ckpt``) and ``metrics``: the trainer's last logged
        values as floats.
    """
    output_dir = Path(cfg.output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).expanduser().is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path}: no such file (give a .ckpt written by train.py, e.g. "
            "<run>/checkpoints/last.ckpt)"
        )

    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    checkpoint = instantiate(cfg.checkpoint)
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks: list[pl.Callback] = [checkpoint, RichProgressBar()]
    # extra callbacks from the config (cfg.callbacks: name -> _target_ node), e.g. wandb images
    callbacks += [instantiate(node) for node in (cfg.get("callbacks") or {}).values() if node]
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=logger, default_root_dir=str(output_dir)
    )

    log.info("training, outputs in %s", output_dir)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    last = Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}.ckpt"
    log.info("last checkpoint: %s", last)
    return {"last_checkpoint": str(last), "metrics": metrics}
