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


# the original's other test configs (experiments/siamfcpp/test/{lasot,otb,UAV123,trackingnet})
# and VOT2019: backbone, benchmark, test_lr, window_influence, penalty_k, x_size, score_size
OTHER_BENCHMARKS = {
    "siamfcpp_googlenet-lasot": ("googlenet", "LaSOT", 0.52, 0.21, 0.04, 303, 19),
    "siamfcpp_googlenet-lasot-x399": ("googlenet", "LaSOT", 0.52, 0.21, 0.04, 399, 31),
    "siamfcpp_alexnet-otb": (
        "alexnet",
        "OTB",
        0.5249642198880932,
        0.23153228172839774,
        0.05413758904760692,
        303,
        17,
    ),
    "siamfcpp_googlenet-otb": (
        "googlenet",
        "OTB",
        0.5384467870937999,
        0.23689856952364602,
        0.04326035639699788,
        303,
        19,
    ),
    "siamfcpp_alexnet-uav123": (
        "alexnet",
        "UAV123",
        0.5249642198880932,
        0.23153228172839774,
        0.05413758904760692,
        303,
        17,
    ),
    "siamfcpp_googlenet-uav123": (
        "googlenet",
        "UAV123",
        0.5222592132697174,
        0.2414722810296582,
        0.0730171190610408,
        303,
        19,
    ),
    "siamfcpp_googlenet-trackingnet": ("googlenet", "TrackingNet", 0.52, 0.21, 0.04, 303, 19),
    "siamfcpp_googlenet-trackingnet-fulldata": (
        "googlenet",
        "TrackingNet",
        0.52,
        0.21,
        0.04,
        303,
        19,
    ),
    "siamfcpp_alexnet-vot2019": ("alexnet", "VOT", 0.58, 0.21, 0.08, 303, 17),
    "siamfcpp_googlenet-vot2019": (
        "googlenet",
        "VOT",
        0.5093639624865886,
        0.2444928917567117,
        0.06721247775471334,
        303,
        19,
    ),
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


@pytest.mark.parametrize("preset", list(OTHER_BENCHMARKS))
def test_presets_of_the_originals_other_test_configs(preset):
    backbone, bench, lr, wi, pk, x_size, score_size = OTHER_BENCHMARKS[preset]
    cfg = _compose(f"experiment={preset}")
    assert cfg.hydra.runtime.choices.backbone == backbone
    assert cfg.benchmark._target_.endswith(f".{bench}Benchmark")
    assert cfg.tracker._target_.endswith(".SiamFCppTracker")
    assert (cfg.tracker.test_lr, cfg.tracker.window_influence, cfg.tracker.penalty_k) == (
        lr,
        wi,
        pk,
    )
    assert cfg.tracker.x_size == cfg.model.head.x_size == x_size
    assert cfg.tracker.score_size == score_size
    if preset.endswith("vot2019"):
        assert cfg.benchmark.name == "VOT2019" and list(cfg.benchmark.eao_interval) == [46, 291]
    # the published numbers and the checkpoint file are in the preset's comments
    text = (CONF / "experiment" / f"{preset}.yaml").read_text()
    assert "Checkpoint file: siamfcpp-" in text and ("Published" in text or "No published" in text)


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
