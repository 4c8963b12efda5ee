"""What every entry point does with an error: one line for the errors this package words, and no
empty run folder left behind.

``train.py``, ``evaluate.py`` and ``demo.py`` decorate their Hydra task function with
:func:`entry_point`; ``export.py`` (no Hydra run) calls :func:`report` itself. An error is
*known* when this package raised it (its message names the file or key and the fix: the
innermost frame of its traceback is in ``siamfcpp/``), when it is a config error of OmegaConf
or Hydra, or when ``hydra.utils.instantiate`` wraps a known error of a constructor (then the
config node is named). A known error prints ``Error: <message>`` on one line and exits with
status 1; the full traceback goes to the run's log file, and to the terminal with
``HYDRA_FULL_ERROR=1``. Any other error keeps Hydra's report (it is a bug: the traceback
matters). Inside a multirun a known error fails its job with the one-line message, so that the
sweeper reports it and records the trial as failed.

A run that fails before it wrote a result removes its run folder (:func:`remove_if_empty`).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, HydraException, InstantiationException
from omegaconf import DictConfig
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from siamfcpp.config import ConfigValueError
from siamfcpp.io.run_dir import remove_if_empty, sweep_trial

T = TypeVar("T")

PACKAGE_DIR = Path(__file__).resolve().parents[1]


class RunError(CompactHydraException):
    """A known error of a multirun job; Hydra prints its message without a traceback."""


def _raised_here(err: BaseException) -> bool:
    """Whether the innermost frame of ``err``'s traceback is in this package."""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE_DIR)


def _full_key(err: InstantiationException) -> str | None:
    """The config node Hydra names in an instantiation error (``full_key: <key>``)."""
    for line in reversed(str(err).splitlines()):
        if line.startswith("full_key: "):
            return line.removeprefix("full_key: ").strip()
    return None


def one_line(err: BaseException) -> str | None:
    """The one-line message of a known error (see the module doc), else None."""
    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        cause = one_line(err.__cause__)
        if cause is None:
            return None
        key = _full_key(err)
        if isinstance(err.__cause__, ConfigValueError) and key:
            return err.__cause__.message(prefix=key)
        return f"{key}: {cause}" if key else cause
    resolver_error = err.__cause__ or err.__context__
    if isinstance(err, InterpolationResolutionError) and resolver_error is not None:
        # a resolver's own error (e.g. siamfcpp.score_size naming the key to change)
        return one_line(resolver_error) or str(err).splitlines()[0]
    if isinstance(err, OmegaConfBaseException):
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, HydraException) or _raised_here(err):
        text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        return " ".join(str(text).split()) or type(err).__name__
    return None


def _log_to_files(err: BaseException, message: str) -> None:
    """Write the error with its traceback to the log files (Hydra's ``<run>/<job>.log``)."""
    record = logging.LogRecord(
        __name__, logging.ERROR, __file__, 0, message, None, (type(err), err, err.__traceback__)
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def report(err: Exception, run_dirs: Iterable[Path] = ()) -> NoReturn:
    """End the run on ``err`` (called in an ``except`` block): remove the ``run_dirs`` that hold
    no result, then print a known error on one line and exit 1, or re-raise anything else."""
    for path in run_dirs:
        remove_if_empty(path)
    message = one_line(err)
    if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise err
    if sweep_trial() is not None:
        raise RunError(message) from err
    _log_to_files(err, message)
    print(f"Error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _run_dirs(cfg: DictConfig) -> list[Path]:
    """The run's output folder and Hydra's run folder (usually the same)."""
    dirs = []
    try:
        if cfg.get("output_dir"):
            dirs.append(Path(cfg.output_dir).expanduser())
    except OmegaConfBaseException:  # the error may be in output_dir itself
        pass
    if HydraConfig.initialized():
        dirs.append(Path(HydraConfig.get().runtime.output_dir))
    return dirs


def entry_point(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
    """Decorate a Hydra task function (below ``@hydra.main``) with :func:`report`."""

    @functools.wraps(task)
    def run(cfg: DictConfig) -> T:
        try:
            return task(cfg)
        except Exception as err:
            report(err, _run_dirs(cfg))

    return run
