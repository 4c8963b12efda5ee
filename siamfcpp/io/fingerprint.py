"""Fingerprints: the settings that make a run's numbers, so that results of different settings
never mix.

A run's *settings* are its resolved config, flattened to dotted keys, less the keys that change
only where or how fast it runs (the config's ``fingerprint_ignore`` list: ``output_dir``,
``logger``, ``device``, ``devices``, ``batch_sequences``, ...; ``hydra`` is never part of it),
plus the entry point (``task``) and the versions of the code that computes the numbers. A value
that names an existing file (``checkpoint``, ``ckpt_path``, ``model.backbone.pretrained``) counts
by its content: ``md5:<hex>``, so a changed file under the same name is a different setting and
the same file elsewhere is not. The fingerprint is a short hash of the settings.

:mod:`siamfcpp.io.run_dir` stores them in each run folder; the resolver
``${siamfcpp.study_fingerprint:}`` puts the fingerprint of a sweep's fixed settings (the swept
parameters left out) into Optuna study names (``conf/hparams_search/``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from siamfcpp.io.files import file_md5

#: config key listing the keys (dotted) left out of the fingerprint
IGNORE_KEY = "fingerprint_ignore"
#: how many differing keys an error message lists
SHOWN_DIFFERENCES = 4


def code_versions() -> dict[str, str]:
    """Versions of the code that computes the numbers."""
    try:
        own = metadata.version("siamfcpp")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        own = "unknown"
    return {
        "siamfcpp": own,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


@lru_cache(maxsize=64)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    """:func:`file_md5`, once per file version (a sweep fingerprints the same checkpoint for
    every trial)."""
    return file_md5(Path(path))


def _file_content(value: Any) -> Any:
    """``md5:<hex>`` for a string naming an existing file, else ``value``."""
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    try:
        if not path.is_file():
            return value
        info = path.stat()
    except OSError:  # a name too long or otherwise not a path
        return value
    return "md5:" + _md5(str(path.resolve()), info.st_size, info.st_mtime_ns)


def _flatten(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = _file_content(node)


def _drop(cfg: DictConfig, keys: Iterable[str]) -> None:
    """Delete the dotted ``keys`` of ``cfg`` (in place; absent ones are skipped)."""
    for key in keys:
        parent_key, _, leaf = str(key).rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if isinstance(parent, DictConfig) and leaf in parent:
            with open_dict(parent):
                del parent[leaf]


def _settle(cfg: DictConfig, keys: Iterable[str]) -> None:
    """Replace each of the dotted ``keys`` of ``cfg`` by its resolved value (in place), so that
    kept keys interpolating into an ignored one (``${paths.data_dir}``) still resolve once it is
    left out; a key that does not resolve here (``${hydra:...}`` outside a run) is deleted."""
    for key in keys:
        try:
            value = OmegaConf.select(cfg, str(key), default=None)
            if isinstance(value, DictConfig | ListConfig):
                value = OmegaConf.to_container(value, resolve=True)
        except Exception:  # noqa: BLE001 (any resolver's failure: the key is ignored anyway)
            _drop(cfg, [key])
            continue
        if value is not None:
            OmegaConf.update(cfg, str(key), value, merge=False, force_add=True)


def _ignored(key: str, ignore: set[str]) -> bool:
    """Whether dotted ``key`` is one of ``ignore`` or lies under one."""
    parts = key.split(".")
    return any(".".join(parts[:k]) in ignore for k in range(1, len(parts) + 1))


def run_settings(cfg: DictConfig, task: str, also_ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The settings of a run of ``task`` with config ``cfg`` (see the module docstring):
    ``{dotted key: value}``, JSON-serialisable, sorted by key.

    ``also_ignore`` adds keys to the config's ``fingerprint_ignore`` (a sweep's parameters).
    """
    ignore = {str(k) for k in [*(cfg.get(IGNORE_KEY) or []), *also_ignore]}
    trimmed = copy.deepcopy(cfg)  # whole, so that interpolations into kept keys resolve
    OmegaConf.set_readonly(trimmed, False)
    OmegaConf.set_struct(trimmed, False)
    _drop(trimmed, ["hydra", IGNORE_KEY])
    _settle(trimmed, sorted(ignore))
    flat: dict[str, Any] = {}
    _flatten(OmegaConf.to_container(trimmed, resolve=True), "", flat)
    flat = {k: v for k, v in flat.items() if k and not _ignored(k, ignore)}
    flat["task"] = task
    flat.update({f"versions.{name}": version for name, version in code_versions().items()})
    return json.loads(json.dumps(dict(sorted(flat.items())), default=str))


def fingerprint(settings: Mapping[str, Any]) -> str:
    """Short hash (12 hex digits) of ``settings``."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The keys whose values differ, as ``key (old -> new)``, the first few of them."""
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, None) != new.get(k, None))
    absent = "(absent)"
    parts = [
        f"{k} ({_shown(old[k]) if k in old else absent} -> "
        f"{_shown(new[k]) if k in new else absent})"
        for k in keys[:SHOWN_DIFFERENCES]
    ]
    if len(keys) > SHOWN_DIFFERENCES:
        parts.append(f"and {len(keys) - SHOWN_DIFFERENCES} more")
    return ", ".join(parts)


def study_fingerprint(*, _root_: DictConfig) -> str:
    """Resolver ``${siamfcpp.study_fingerprint:}``: the fingerprint of a sweep's settings less
    the swept parameters (``hydra.sweeper.params``), plus its objective (``optimized_metric``,
    ``hydra.sweeper.direction``), so that a study continues only with the same network,
    checkpoint, benchmark or data, fixed hyper-parameters and objective."""
    params = OmegaConf.select(_root_, "hydra.sweeper.params") or {}
    task = OmegaConf.select(_root_, "hydra.job.name") or "run"
    settings = run_settings(_root_, task, also_ignore=list(params))
    settings["objective"] = [
        OmegaConf.select(_root_, "optimized_metric"),
        OmegaConf.select(_root_, "hydra.sweeper.direction"),
    ]
    return fingerprint(settings)


def register_resolver() -> None:
    """Register ``siamfcpp.study_fingerprint`` (idempotent)."""
    if not OmegaConf.has_resolver("siamfcpp.study_fingerprint"):
        OmegaConf.register_new_resolver("siamfcpp.study_fingerprint", study_fingerprint)
