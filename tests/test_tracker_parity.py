"""Tracker parity with the original implementation on its own per-frame boxes.

Fixtures (numbers produced by the original video_analyst code, CPU, float32):

* ``fixtures/tracker_seed0.npz`` (see /work/shared/parity/README.md): two sequences, the boxes of
  the original ``SiamFCppTracker`` for four model-zoo configurations with recipe weights.
* ``fixtures/tracker_multi_temp_seed0.npz``: boxes of the original ``SiamFCppMultiTempTracker``
  (its memory update disabled, as shipped) on the same sequences and weights, with the presets'
  parameters (alexnet: mem_len 5, mem_coef 0.5; googlenet: mem_len 4, mem_coef 0.4; both
  test_lr 0.52, window_influence 0.21, penalty_k 0.04, mem_step 5, mem_sink_idx 1). Recipe:
  build the original model from the fixture's config with ``parity_weights`` weights, wrap its
  ``SiamTrack`` so that the track phase with precomputed search features (which raises in the
  original: ``search_img`` unset) runs the same xcorr + head, ``init(frame0, gt[0])``, then
  ``update`` on every later frame; float64 ``[T, 4]`` x, y, w, h per ``{model}_seq{K}_boxes``.

Two checks, both to 0.01 px on every frame:

* one step: each frame is tracked from the original's previous box (``update(frame,
  prior_xywh=ref[t - 1])``), so every frame's crop, network pass and post-processing is compared;
* free running (init, then ``update`` on every frame, as the fixture was made) for the GoogLeNet
  models. AlexNet models with random weights amplify float32 rounding noise chaotically: the
  original itself, rerun on another CPU or thread count, drifts from its own fixture by up to 32 px
  (seq 0) while its one-step boxes stay within 6e-4 px; a free-running 0.01 px check of AlexNet
  would test the host's floating-point reduction order, not the pipeline.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from siamfcpp.model.checkpoints import load_checkpoint
from tests.conftest import compose_config
from tests.parity_weights import build_original_state_dict, write_original_pkl

FIXTURES = Path(__file__).parent / "fixtures"
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
TOLERANCE_PX = 0.01

# fixture model -> (experiment preset, multi-template fixture?)
SINGLE = {
    "alexnet": "siamfcpp_alexnet-new",
    "googlenet": "siamfcpp_googlenet",
    "alexnet_got": "siamfcpp_alexnet_got",
    "googlenet_got": "siamfcpp_googlenet_got",
}
MULTI = {"alexnet": "siamfcpp_alexnet-multi_temp", "googlenet": "siamfcpp_googlenet-multi_temp"}
FREE_RUNNING = {"googlenet", "googlenet_got"}
# GoogLeNet (one step + free running, ~30 s on 2 cores) runs with -m slow: in the default run
# tests/test_evaluate_cli.py::test_cli_reproduces_original_boxes[googlenet] checks the same preset
# and weights free running against the same fixture boxes within 0.01 px on every frame, and the
# AlexNet models here check the one-step path (update(prior_xywh=...)) of the same tracker
SLOW = {"googlenet", "googlenet_got"}


@pytest.fixture(scope="module")
def fixture():
    return np.load(FIXTURES / "tracker_seed0.npz")


def _frames(data, k):
    n = int(data[f"seq{k}_n"])
    return [cv2.imdecode(data[f"seq{k}_frame{t:03d}"], cv2.IMREAD_COLOR) for t in range(n)]


def _tracker(preset, weights_model, tmp_path):
    cfg = compose_config("evaluate", f"experiment={preset}")
    model = instantiate(cfg.model)
    state = build_original_state_dict(weights_model)
    load_checkpoint(model, write_original_pkl(state, tmp_path, f"parity-{weights_model}"))
    return instantiate(cfg.tracker, model=model, device="cpu")


def _check(tracker, data, reference, free_running):
    deviations = []
    for k in (0, 1):
        frames, gt, ref = _frames(data, k), data[f"seq{k}_gt"], reference(k)
        tracker.init(frames[0], gt[0])
        one_step = [tracker.update(frames[t], prior_xywh=ref[t - 1]) for t in range(1, len(frames))]
        deviations.append(np.abs(np.array(one_step, np.float64) - ref[1:]).max(axis=1))
        if free_running:
            tracker.init(frames[0], gt[0])
            boxes = [tracker.update(frame) for frame in frames[1:]]
            deviations.append(np.abs(np.array(boxes, np.float64) - ref[1:]).max(axis=1))
    worst = max(d.max() for d in deviations)
    print(f"max box deviation from the original: {worst:.2e} px")
    for d in deviations:
        bad = np.flatnonzero(d > TOLERANCE_PX)
        assert bad.size == 0, f"frames {bad + 1} deviate by up to {d.max():.4f} px"


@pytest.mark.parametrize(
    "model",
    [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in SINGLE],
)
def test_single_template_tracker_matches_original(model, fixture, tmp_path):
    tracker = _tracker(SINGLE[model], model, tmp_path)
    assert type(tracker).__name__ == "SiamFCppTracker"
    _check(tracker, fixture, lambda k: fixture[f"{model}_seq{k}_boxes"], model in FREE_RUNNING)


@pytest.mark.parametrize("model", ["alexnet", pytest.param("googlenet", marks=pytest.mark.slow)])
def test_multi_template_tracker_matches_original(model, fixture, tmp_path):
    multi = np.load(FIXTURES / "tracker_multi_temp_seed0.npz")
    tracker = _tracker(MULTI[model], model, tmp_path)
    assert type(tracker).__name__ == "SiamFCppMultiTempTracker" and not tracker.memory_update
    _check(tracker, fixture, lambda k: multi[f"{model}_seq{k}_boxes"], model in FREE_RUNNING)
