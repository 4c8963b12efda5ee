"""Training pipeline behind ``train.py``: config -> data, network, LightningModule, Trainer -> fit.

Composed by Hydra from ``conf/train.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.data``,
``cfg.module``, ``cfg.trainer``, ``cfg.logger`` (null: none), ``cfg.callbacks`` (Lightning
callbacks by name, one of them the ``ModelCheckpoint``) and the top-level keys ``seed``,
``ckpt_path``, ``resume``, ``output_dir``.

Interruption: checkpoints are written atomically (:class:`AtomicCheckpointIO`), and running the
same command again (same ``output_dir``, i.e. the same ``hydra.run.dir``) resumes from
``<output_dir>/checkpoints/last.ckpt`` (:func:`last_checkpoint`); a rerun with settings that
change the numbers (learning rate, seed, epochs, data, ...) stops instead, naming them
(:mod:`siamfcpp.io.run_dir`). Every random draw of a run is a function of the seed, the epoch and
the sample index (the data module's sample stream, the seeded network initialisation), so
resuming from an end-of-epoch checkpoint reproduces the uninterrupted run's weights. A run
stopped by SIGTERM exits with status 143 (Lightning would end it as finished, status 0), by
SIGINT with 1.
"""

from __future__ import annotations

import io
import logging
import signal
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from siamfcpp.io.files import atomic_write_bytes
from siamfcpp.io.run_dir import prepare_run_dir, sweep_tags, sweep_trial
from siamfcpp.training.callbacks import LossProgressBar

log = logging.getLogger(__name__)

#: entries of every Lightning checkpoint that a resumed fit needs
TRAINING_STATE = frozenset({"state_dict", "epoch", "global_step", "optimizer_states", "loops"})

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


def check_training_checkpoint(path: Path) -> None:
    """Raise naming ``path`` unless it is a complete Lightning checkpoint of ``train.py``.

    Read without executing code (``weights_only``) and memory-mapped, so the check costs little;
    a model-zoo ``.pkl`` (network weights only) is refused with the commands that take it.
    """
    check_complete(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch raises many types for foreign files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"ckpt_path={path} is not a readable training checkpoint ({reason})"
        ) from err
    if not (isinstance(content, dict) and TRAINING_STATE <= content.keys()):
        raise ValueError(
            f"ckpt_path={path} holds network weights only (a model-zoo .pkl?), not a train.py "
            "checkpoint (weights, optimizer state, epoch) to resume: evaluate it with evaluate.py "
            "checkpoint=PATH; train.py starts from ImageNet weights with "
            "model.backbone.pretrained=PATH"
        )


def explicit_checkpoint(cfg: DictConfig, output_dir: Path) -> str | None:
    """``cfg.ckpt_path``, checked: an existing, complete train.py checkpoint outside the run
    folder (whose own ``last.ckpt`` a rerun resumes anyway, and whose files change)."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        return None
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path}: no such file (give a .ckpt written by train.py, e.g. "
            "<run>/checkpoints/last.ckpt)"
        )
    if path.resolve().is_relative_to(Path(output_dir).expanduser().resolve()):
        raise ValueError(
            f"ckpt_path={ckpt_path} lies in this run's output_dir: leave ckpt_path out to resume "
            "the run from its last.ckpt, or start from that checkpoint in another output_dir"
        )
    check_training_checkpoint(path)
    return str(path)


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    """The run folder's own ``last.ckpt`` (an interrupted run of the same command), if any."""
    last = checkpoint_dir / f"{pl.callbacks.ModelCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
    if not last.is_file():
        return None
    check_complete(last)
    log.warning(
        "RESUMING from %s (this run folder was trained before; resume=false starts afresh)", last
    )
    return str(last)


def experiment_name(cfg: DictConfig) -> str:
    """The training recipe (``recipe=``) if one is selected, else ``cfg.run_name``."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("recipe")
        if choice and choice != "null":
            return str(choice)
    return str(cfg.run_name)


def build_logger(cfg: DictConfig) -> Logger | bool:
    """The configured logger (False for none). A wandb run gets the resolved config, the
    experiment as group and ``train`` (+ sweep / trial) tags; inside a sweep each trial is its
    own run, named ``<run_name>-<trial>``."""
    if not cfg.get("logger"):
        return False
    if not str(cfg.logger.get("_target_", "")).endswith("WandbLogger"):
        return instantiate(cfg.logger)
    trial = sweep_trial()
    logger = instantiate(
        cfg.logger,
        name=cfg.logger.name if trial is None else f"{cfg.logger.name}-{trial}",
        group=experiment_name(cfg),
        tags=["train", *sweep_tags()],
        job_type="train",
    )
    logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return logger


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

    The run folder must hold this config's results or none (:func:`prepare_run_dir`);
    ``resume=false`` empties it first. In a multi-process (DDP) run only the first process
    prepares it.

    Returns:
        ``last_checkpoint`` (path of ``last.ckpt``), ``resumed_from`` (the checkpoint the run
        started from, or None) and ``metrics``: the trainer's last logged values as floats.

    Raises:
        SystemExit: status ``128 + SIGTERM`` when a SIGTERM stopped training before the end
            (Lightning ends such a run as if finished); rerunning the command resumes it.
    """
    ckpt_path = explicit_checkpoint(cfg, Path(cfg.output_dir))
    output_dir = prepare_run_dir(
        cfg.output_dir,
        cfg,
        task="train",
        restart=not cfg.resume,
        restart_hint="resume=false",
        write=rank_zero_only.rank == 0,
    )
    quiet_third_party()

    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # the seed is in config.yaml
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    # the callbacks of the config (cfg.callbacks: name -> _target_ node, conf/callbacks/)
    callbacks: list[pl.Callback] = [instantiate(node) for node in cfg.callbacks.values() if node]
    checkpoint = _model_checkpoint(callbacks)
    ckpt_path = ckpt_path or last_checkpoint(Path(checkpoint.dirpath))
    logger = build_logger(cfg)
    if cfg.trainer.get("enable_progress_bar", True):  # +trainer.enable_progress_bar=false
        # the losses shown as often as they are logged (Lightning's default: every 50 steps)
        every = cfg.trainer.get("log_every_n_steps", 50)
        callbacks.append(LossProgressBar(metrics_every_n_steps=every))
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],
    )

    log.info("training, outputs in %s", output_dir)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException as err:
        log.error(
            "stopped by SIGTERM in epoch %d of %d: rerun the same command to resume from %s",
            trainer.current_epoch,
            trainer.max_epochs,
            Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}.ckpt",
        )
        raise SystemExit(128 + signal.SIGTERM) from err
    finally:
        if isinstance(logger, WandbLogger):
            import wandb

            wandb.finish()  # the next trial of a sweep starts its own run
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    last = Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}.ckpt"
    log.info("last checkpoint: %s", last)
    return {"last_checkpoint": str(last), "resumed_from": ckpt_path, "metrics": metrics}
