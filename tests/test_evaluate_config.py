"""The evaluation config tree: defaults and the model-zoo presets (values of MODEL_ZOO.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import compose_config

CONF = Path(__file__).resolve().parents[1] / "conf"

# preset: backbone, tracker class, benchmark, test_lr, window_influence, penalty_k, memory
ZOO = {
    "siamfcpp_alexnet": ("alexnet", "SiamFCppTracker", "vot", 0.52, 0.21, 0.04, None),
    "siamfcpp_alexnet-new": ("alexnet", "SiamFCppTracker", "vot", 0.58, 0.21, 0.08, None),
    "siamfcpp_alexnet-multi_temp": (
        "alexnet",
        "SiamFCppMultiTempTracker",
        "vot",
        0.52,
        0.21,
        0.04,
        (5, 5, 0.5),
    ),
    "siamfcpp_googlenet": (
        "googlenet",
        "SiamFCppTracker",
        "vot",
        0.5093639624865886,
        0.2444928917567117,
        0.06721247775471334,
        None,
    ),
    "siamfcpp_googlenet-new": ("googlenet", "SiamFCppTracker", "vot", 0.52, 0.21, 0.04, None),
    "siamfcpp_googlenet-multi_temp": (
        "googlenet",
        "SiamFCppMultiTempTracker",
        "vot",
        0.52,
        0.21,
        0.04,
        (5, 4, 0.4),
    ),
    "siamfcpp_alexnet_got": ("alexnet", "SiamFCppTracker", "got10k", 0.52, 0.21, 0.04, None),
    "siamfcpp_googlenet_got": ("googlenet", "SiamFCppTracker", "got10k", 0.52, 0.21, 0.04, None),
}


def _compose(*overrides: str):
    return compose_config("evaluate", *overrides, return_hydra_config=True)


def test_defaults():
    cfg = _compose()
    assert cfg.benchmark._target_.endswith("SyntheticBenchmark")
    assert cfg.tracker._target_.endswith("SiamFCppTracker")
    assert cfg.checkpoint is None and cfg.device == "cpu"
    assert cfg.hydra.run.dir.startswith("outputs/evaluate/")


def test_every_model_zoo_preset_exists():
    # (the *-trn presets next to them are training recipes, tested with train.py)
    assert set(ZOO) <= {p.stem for p in (CONF / "experiment").glob("*.yaml")}


@pytest.mark.parametrize("preset", list(ZOO))
def test_preset_values(preset):
    backbone, tracker_cls, bench, lr, wi, pk, memory = ZOO[preset]
    cfg = _compose(f"experiment={preset}")
    assert cfg.hydra.runtime.choices.backbone == backbone
    assert cfg.tracker._target_.endswith(tracker_cls)
    assert bench in cfg.benchmark._target_.lower()
    assert (cfg.tracker.test_lr, cfg.tracker.window_influence, cfg.tracker.penalty_k) == (
        lr,
        wi,
        pk,
    )
    assert cfg.tracker.x_size == 303 and cfg.tracker.z_size == 127
    assert cfg.tracker.score_size == (17 if backbone == "alexnet" else 19)
    if memory:
        t = cfg.tracker
        assert (t.mem_step, t.mem_len, t.mem_coef, t.mem_sink_idx) == (*memory, 1)
        assert t.memory_update is False


def test_command_line_benchmark_wins_over_the_preset():
    cfg = _compose("experiment=siamfcpp_googlenet", "benchmark=got10k", "benchmark.subset=test")
    assert cfg.benchmark._target_.endswith("GOT10kBenchmark") and cfg.benchmark.subset == "test"
    assert cfg.tracker.test_lr == ZOO["siamfcpp_googlenet"][3]


def test_optimized_metric_is_returned_for_sweeps():
    from omegaconf import OmegaConf

    from siamfcpp.apps.sweeps import objective

    result = {"metrics": {"AO": 0.5, "FPS": 10.0}}
    assert objective(OmegaConf.create({"optimized_metric": "AO"}), result) == 0.5
    assert objective(OmegaConf.create({"optimized_metric": None}), result) is None
    with pytest.raises(KeyError, match="EAO"):
        objective(OmegaConf.create({"optimized_metric": "EAO"}), result)
