"""The run folder of an entry point: created with a clear error, holding the merged config."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from siamfcpp.io.files import atomic_write_text

CONFIG_FILE = "config.yaml"


def prepare_run_dir(output_dir: str | Path, cfg: DictConfig) -> Path:
    """Create ``output_dir`` and write the resolved ``cfg`` to ``<output_dir>/config.yaml``."""
    path = Path(output_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise NotADirectoryError(
            f"output_dir={path} cannot be a run folder ({error}); choose another output_dir or "
            "hydra.run.dir"
        ) from error
    atomic_write_text(path / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
    return path
