"""Shared fixtures: the project's Hydra configs, composed as the entry points compose them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import siamfcpp  # noqa: F401  (registers the configs' resolvers)
from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.protocols import SupervisedJob

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_config(
    config_name: str, *overrides: str, return_hydra_config: bool = False
) -> DictConfig:
    """``conf/<config_name>.yaml`` with command-line style ``overrides`` (``key=value``,
    ``group=option``), as ``python <entry point>.py`` composes it (no Hydra run context; with
    ``return_hydra_config`` the ``hydra`` node is included)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            config_name, overrides=list(overrides), return_hydra_config=return_hydra_config
        )


@pytest.fixture(name="compose_config", scope="session")
def compose_config_fixture() -> Callable[..., DictConfig]:
    """:func:`compose_config` as a fixture."""
    return compose_config


def write_png_sequence(directory: Path, name: str, frames, gt) -> SequenceData:
    """``frames`` written as ``directory/0000.png ...``: a sequence for the run loops' tests."""
    directory.mkdir(parents=True)
    paths = []
    for t, frame in enumerate(frames):
        paths.append(directory / f"{t:04d}.png")
        cv2.imwrite(str(paths[-1]), frame)
    return SequenceData(name=name, frames=paths, gt=np.asarray(gt, np.float64))


def supervised_job(seq: SequenceData, fails: set[int], reinit_delay: int) -> SupervisedJob:
    """The VOT reset protocol on ``seq`` with annotations that fail every box on the frames
    ``fails`` (a region outside the image) and pass every box with a pixel in the image elsewhere
    (the whole image)."""
    height, width = cv2.imread(str(seq.frames[0])).shape[:2]
    image, outside = np.array([0.0, 0, width, height]), np.array([-100.0, -100, 10, 10])
    regions = [outside if t in fails else image for t in range(len(seq.frames))]
    return SupervisedJob(seq.name, seq.frames, seq.gt, regions, (width, height), reinit_delay)
