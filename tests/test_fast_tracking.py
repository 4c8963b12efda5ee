"""Fast path (siamfcpp.tracking.fast) against the reference tracker, run on the CPU here.

Measured (CPU, float32, parity-recipe weights, one step from the original's boxes on all 39
frames of both fixture sequences): AlexNet within 0.0073 px, GoogLeNet within 4e-5 px of the
reference tracker. The difference comes from the crop (OpenCV's float bilinear rounds a few
pixels differently, <= 1 grey level) amplified by the random-weight AlexNet. Checked: 0.05 px.
GPU (``-m gpu``, H100, 40 frames one-step): float32 (also with CUDA graph + channels_last) within
0.05 px and float16 within 2 px (reduced precision network: a stated bound, not parity) passed;
bfloat16 + CUDA graph gave 39 px, so the tracker refuses bfloat16 (the float16 + CUDA graph case
that replaced it has not run on a GPU yet).
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from siamfcpp.geometry import get_subwindow
from siamfcpp.model.checkpoints import load_checkpoint
from siamfcpp.tracking.fast import FastSiamFCppTracker, crop_bilinear
from tests.conftest import compose_config
from tests.parity_weights import TRACKER_FIXTURE, write_parity_checkpoint

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
FLOAT32_TOLERANCE_PX = 0.05
HALF_TOLERANCE_PX = 2.0
NUM_FRAMES = 8


def _trackers(tmp_path, device="cpu", **fast_overrides):
    trackers = []
    for option in ("siamfcpp", "siamfcpp_fast"):
        extra = [f"tracker.{k}={v}" for k, v in fast_overrides.items()] if "fast" in option else []
        cfg = compose_config(
            "evaluate", "experiment=siamfcpp_alexnet-new", f"tracker={option}", *extra
        )
        model = instantiate(cfg.model)
        load_checkpoint(model, write_parity_checkpoint("alexnet", tmp_path))
        trackers.append(instantiate(cfg.tracker, model=model, device=device))
    return trackers


def _one_step_deviation(reference, fast, num_frames=NUM_FRAMES):
    data = np.load(TRACKER_FIXTURE)
    worst = 0.0
    for k in (0, 1):
        frames = [
            cv2.imdecode(data[f"seq{k}_frame{t:03d}"], cv2.IMREAD_COLOR) for t in range(num_frames)
        ]
        prior = data[f"alexnet_seq{k}_boxes"]
        boxes = []
        for tracker in (reference, fast):
            tracker.init(frames[0], data[f"seq{k}_gt"][0])
            boxes.append([tracker.update(f, prior_xywh=prior[t]) for t, f in enumerate(frames[1:])])
        worst = max(worst, float(np.abs(np.subtract(*boxes)).max()))
    return worst


@pytest.mark.parametrize("out_size", [127, 303])
def test_device_crop_matches_cv2_crop(out_size):
    rng = np.random.default_rng(out_size)
    for _ in range(6):
        height, width = rng.integers(80, 300, 2)
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        center = rng.uniform(-40, [width + 40, height + 40]).astype(np.float32)
        src_size = int(rng.integers(20, 500))
        avg = frame.mean(axis=(0, 1))
        expected = get_subwindow(frame, center, out_size, src_size, avg).astype(int)
        got = crop_bilinear(
            torch.from_numpy(frame),
            torch.from_numpy(center),
            torch.tensor(float(src_size)),
            out_size,
            torch.tensor(avg).trunc().float(),
        )
        diff = np.abs(got.permute(1, 2, 0).numpy().astype(int) - expected)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_fast_tracker_matches_reference_on_cpu(tmp_path):
    reference, fast = _trackers(tmp_path)
    assert isinstance(fast, FastSiamFCppTracker)
    worst = _one_step_deviation(reference, fast)
    print(f"fast vs reference, one step: {worst:.2e} px")
    assert worst <= FLOAT32_TOLERANCE_PX


def test_fast_tracker_rejects_bad_options(tmp_path):
    with pytest.raises(InstantiationException, match="precision must be"):
        _trackers(tmp_path, precision="float8")
    with pytest.raises(InstantiationException, match="bfloat16 does not keep box parity"):
        _trackers(tmp_path, precision="bfloat16")
    with pytest.raises(InstantiationException, match="needs a CUDA device"):
        _trackers(tmp_path, cuda_graph=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    ("options", "tolerance"),
    [
        ({}, FLOAT32_TOLERANCE_PX),
        ({"cuda_graph": True, "channels_last": True}, FLOAT32_TOLERANCE_PX),
        ({"precision": "float16"}, HALF_TOLERANCE_PX),
        ({"precision": "float16", "cuda_graph": True}, HALF_TOLERANCE_PX),
    ],
)
def test_fast_tracker_on_cuda(tmp_path, options, tolerance):
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    reference, _ = _trackers(tmp_path)
    _, fast = _trackers(tmp_path, device="cuda", **options)
    worst = _one_step_deviation(reference, fast, num_frames=40)
    print(f"fast {options} on CUDA vs CPU reference, one step: {worst:.2e} px")
    assert worst <= tolerance
