"""Training pipeline behind ``train.py``: config -> data, network, LightningModule, Trainer -> fit.

Composed by Hydra from ``conf/train.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.data``,
``cfg.module``, ``cfg.trainer``, ``cfg.logger`` (null: none), ``cfg.callbacks`` (Lightning
callbacks by name, one of them the ``ModelCheckpoint``) and the top-level keys ``seed``,
``ckpt_path``, ``resume``, ``output_dir``.

Interruption: checkpoints are written atomically (:class:`AtomicCheckpointIO`), and running the
same command again (same ``output_dir``, i.e. the same ``hydra.run.dir``) resumes from
``<output_dir>/checkpoints/last.ckpt`` (:func:`resume_path`). Every random draw of a run is a
function of the seed, the epoch and the sample index (the data module's sample stream, the seeded
network initialisation), so resuming from an end-of-epoch checkpoint reproduces the uninterrupted
run's weights.
"""

from __future__ import annotations

import io
import logging
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from siamfcpp.io.files import atomic_write_bytes
from siamfcpp.io.run_dir import prepare_run_dir

log = logging.getLogger(__name__)

_RECIPES = ("siamfcpp_alexnet-trn", "siamfcpp_googlenet-trn", "siamfcpp_googlenet-trn-fulldata")
#: old spellings of train.py overrides that still work (:func:`siamfcpp.config.rename_overrides`)
DEPRECATED_OVERRIDES = {
    "checkpoint.": "callbacks.model_checkpoint.",
    **{f"experiment={recipe}": f"recipe={recipe}" for recipe in _RECIPES},
}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint writer that never leaves a half-written ``.ckpt``.

    Lightning 2.6 writes through an fsspec transaction whose temporary file lives in the system
    temp folder; when that is another file system than the run folder the final move is a copy,
    and a kill during it leaves a truncated ``last.ckpt``. Here the checkpoint is serialised in
    memory, written to a temporary sibling and moved into place with ``os.replace``.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())


def check_complete(path: Path) -> None:
    """Raise naming ``path`` unless it is a complete ``torch.save`` archive.

    ``torch.save`` writes a zip archive whose index sits at the very end, so a truncated file
    (e.g. left by an older, non-atomic writer) fails to open.
    """
    try:
        with zipfile.ZipFile(path):
            pass
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(
            f"{path} is not a complete checkpoint ({err}): delete it to resume from an earlier "
            "epoch=<k>.ckpt via ckpt_path=..., or start afresh with resume=false"
        ) from err


def resume_path(cfg: DictConfig, checkpoint_dir: Path) -> str | None:
    """The checkpoint ``fit`` starts from.

    An explicit ``ckpt_path`` wins; otherwise, with ``resume`` true, the run folder's own
    ``last.ckpt`` (an interrupted run of the same command); else None (start afresh).
    """
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None:
        path = Path(ckpt_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"ckpt_path={ckpt_path}: no such file (give a .ckpt written by train.py, e.g. "
                "<run>/checkpoints/last.ckpt)"
            )
        check_complete(path)
        return str(path)
    last = checkpoint_dir / f"{pl.callbacks.ModelCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
    if not last.is_file():
        return None
    if not cfg.resume:
        log.warning("resume=false: starting afresh, overwriting the checkpoints in %s", last.parent)
        return None
    check_complete(last)
    log.warning(
        "RESUMING from %s (this run folder was trained before; resume=false starts afresh)", last
    )
    return str(last)


def _model_checkpoint(callbacks: list[pl.Callback]) -> ModelCheckpoint:
    """The one ``ModelCheckpoint`` of the callbacks: resuming reads its folder's ``last.ckpt``."""
    found = [c for c in callbacks if isinstance(c, ModelCheckpoint)]
    if len(found) != 1:
        raise ValueError(
            f"train.py needs exactly one ModelCheckpoint callback, found {len(found)}: keep "
            "callbacks.model_checkpoint (conf/callbacks/default.yaml)"
        )
    return found[0]


class _DropTips(logging.Filter):
    """Lightning advertises its cloud products (``💡 Tip: ... litlogger / litmodels``) on every
    run; those lines say nothing about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_third_party() -> None:
    """Drop third-party lines that every training run would print: Lightning's tips and the
    deprecation torch raises inside Lightning's own code (nothing a user can act on)."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit the configured module on the configured data.

    Returns:
        ``last_checkpoint`` (path of ``last.ckpt``), ``resumed_from`` (the checkpoint the run
        started from, or None) and ``metrics``: the trainer's last logged values as floats.
    """
    output_dir = prepare_run_dir(cfg.output_dir, cfg)
    quiet_third_party()

    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    # the callbacks of the config (cfg.callbacks: name -> _target_ node, conf/callbacks/)
    callbacks: list[pl.Callback] = [instantiate(node) for node in cfg.callbacks.values() if node]
    checkpoint = _model_checkpoint(callbacks)
    ckpt_path = resume_path(cfg, Path(checkpoint.dirpath))
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks.append(RichProgressBar())
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],
    )

    log.info("training, outputs in %s", output_dir)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    last = Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}.ckpt"
    log.info("last checkpoint: %s", last)
    return {"last_checkpoint": str(last), "resumed_from": ckpt_path, "metrics": metrics}
