"""The run folder of an entry point: created with a clear error, tied to the settings of its
results, holding the merged config.

Evaluation skips sequences whose results exist and training resumes from the folder's
``last.ckpt``, so a folder must only ever hold results of one set of settings. The first run
writes ``fingerprint.json`` (:func:`siamfcpp.io.fingerprint.run_settings` and their hash); a
later run into the same folder continues only with the same settings. Otherwise it stops, naming
the keys that differ and the two ways out: another ``output_dir`` / ``hydra.run.dir``, or the
entry point's explicit restart (``overwrite=true`` for evaluate / demo, ``resume=false`` for
train), which empties the folder first. A folder that holds files but no fingerprint (made by
hand or by an older version) is never emptied nor mixed into: its settings are unknown.

Hydra writes ``.hydra/`` and ``<job>.log`` into its run folder before the run starts; those are
not results and are kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from siamfcpp.io.files import atomic_write_json, atomic_write_text, write_error
from siamfcpp.io.fingerprint import differences, fingerprint, run_settings

CONFIG_FILE = "config.yaml"
FINGERPRINT_FILE = "fingerprint.json"


class RunFolderError(ValueError):
    """An output folder that holds results of other (or unknown) settings."""


def _hydra_file(path: Path) -> bool:
    """Hydra's own files in its run folder (written before the run starts)."""
    return path.name == ".hydra" or (path.is_file() and path.suffix == ".log")


def _results(path: Path) -> list[Path]:
    """Entries of a run folder that are not Hydra's own files."""
    return sorted(p for p in path.iterdir() if not _hydra_file(p))


def _clear(path: Path) -> None:
    """Remove a run folder's results (everything but Hydra's own files)."""
    for entry in _results(path):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def remove_if_empty(path: Path) -> None:
    """Remove run folder ``path`` if it holds no result: nothing but Hydra's files, the config
    and the fingerprint (a run that failed before writing anything). The working directory and
    the folders above it are kept."""
    path = Path(path)
    if not path.is_dir() or Path.cwd().resolve().is_relative_to(path.resolve()):
        return
    if all(p.name in (CONFIG_FILE, FINGERPRINT_FILE) for p in _results(path)):
        shutil.rmtree(path, ignore_errors=True)


def read_fingerprint(path: Path) -> dict[str, Any] | None:
    """The ``fingerprint.json`` of run folder ``path`` (None if there is none)."""
    file = Path(path) / FINGERPRINT_FILE
    if not file.is_file():
        return None
    try:
        record = json.loads(file.read_text())
        settings = record["settings"]
    except (ValueError, KeyError, TypeError) as err:
        raise RunFolderError(
            f"{file} is not a fingerprint written by siamfcpp ({err}): choose another "
            "output_dir or delete the folder"
        ) from err
    return record | {"settings": settings}


def _check(path: Path, settings: dict[str, Any], restart: bool, restart_hint: str) -> bool:
    """Whether the folder must be emptied before the run; raise if it must not be used."""
    stored = read_fingerprint(path)
    if stored is None:
        found = _results(path)
        if found:
            names = ", ".join(p.name for p in found[:3])
            raise RunFolderError(
                f"output_dir={path} already holds files ({names}) but no {FINGERPRINT_FILE}, so "
                "the settings of its results are unknown (a folder made by hand or by an older "
                "siamfcpp): choose another output_dir (hydra.run.dir=...) or empty it"
            )
        return False
    task = stored["settings"].get("task", "run")
    if task != settings["task"]:  # never emptied by another entry point
        raise RunFolderError(
            f"output_dir={path} holds the results of a {task} run, not of {settings['task']}: "
            "choose another output_dir (hydra.run.dir=...)"
        )
    if restart:
        return True
    if stored["settings"] != settings:
        raise RunFolderError(
            f"output_dir={path} holds results of {task}.py with other settings: "
            f"{differences(stored['settings'], settings)}; choose another output_dir "
            f"(hydra.run.dir=...) or pass {restart_hint} to delete its results and start afresh"
        )
    return False


def prepare_run_dir(
    output_dir: str | Path,
    cfg: DictConfig,
    *,
    task: str,
    restart: bool = False,
    restart_hint: str = "overwrite=true",
    write: bool = True,
) -> Path:
    """Create ``output_dir``, check that its results have the settings of ``cfg`` (module doc),
    record them in ``fingerprint.json`` and write the resolved ``cfg`` to ``config.yaml``.

    Args:
        output_dir: the run folder.
        cfg: the entry point's composed config (its ``fingerprint_ignore`` lists the keys that do
            not change the numbers).
        task: the entry point (``evaluate``, ``train``, ``demo``): part of the settings.
        restart: the user asked to start afresh: the folder's results are deleted (only if it has
            a fingerprint).
        restart_hint: the override that sets ``restart``, for the error message.
        write: False in the processes of a multi-process run other than the first: they check
            the folder but leave creating, emptying and writing it to the first.

    Raises:
        RunFolderError: the folder holds results of other or unknown settings (one line naming
            the differing keys and the ways out).
        OSError: the folder cannot be created or written (naming it and the fix).
    """
    path = Path(output_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # e.g. a file stands there, no permission on a parent
        raise write_error(path, err) from err
    settings = run_settings(cfg, task)
    if _check(path, settings, restart, restart_hint) and write:
        _clear(path)
    if write:
        record = {"fingerprint": fingerprint(settings), "settings": settings}
        atomic_write_json(path / FINGERPRINT_FILE, record)
        atomic_write_text(path / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
    return path


def sweep_trial() -> int | None:
    """The job number inside a Hydra multirun (sweep), else None."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return int(hydra_cfg.job.num) if hydra_cfg.mode == RunMode.MULTIRUN else None


def sweep_tags() -> list[str]:
    """Logger tags of a run: ``["sweep", "trial-<k>"]`` inside a Hydra multirun, else ``[]``."""
    trial = sweep_trial()
    return [] if trial is None else ["sweep", f"trial-{trial}"]
