"""SiamFCppTracker / SiamFCppMultiTempTracker behaviour with a scripted stand-in network."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from siamfcpp.geometry import crop_scale, xywh_to_cxywh
from siamfcpp.tracking.memory import SiamFCppMultiTempTracker, TemplateMemory, fuse_scores
from siamfcpp.tracking.tracker import SiamFCppTracker
from tests.conftest import compose_config

SCORE_SIZE, STRIDE, X_SIZE = 17, 8, 303
OFFSET = (X_SIZE - 1 - (SCORE_SIZE - 1) * STRIDE) // 2  # crop pixel of score cell 0


class ScriptedNet(nn.Module):
    """Scores peak at cell ``peak`` (row, col); every candidate box has size ``box_wh`` crop px.

    Kernels are the template's mean pixel value, so templates from different crops differ.
    """

    def __init__(self, peak=(8, 8), box_wh=(40.0, 40.0), fill=None):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.peak, self.box_wh, self.fill = peak, box_wh, fill
        self.search_calls = 0

    def template(self, z):
        assert z.shape == (1, 3, 127, 127) and z.dtype == torch.float32
        return (z.mean().reshape(1),)

    def search(self, x, kernels):
        assert x.shape == (1, 3, X_SIZE, X_SIZE)
        self.search_calls += 1
        score = torch.full((SCORE_SIZE, SCORE_SIZE), 0.1)
        score[self.peak] = 0.9
        if self.fill is not None:
            score.fill_(self.fill)
        ys, xs = torch.meshgrid(torch.arange(SCORE_SIZE), torch.arange(SCORE_SIZE), indexing="ij")
        cx, cy = OFFSET + STRIDE * xs.float(), OFFSET + STRIDE * ys.float()
        w, h = self.box_wh
        boxes = torch.stack(
            [cx - (w - 1) / 2, cy - (h - 1) / 2, cx + (w - 1) / 2, cy + (h - 1) / 2]
        )
        score = score.reshape(1, -1) * (1 + 0 * kernels[0])
        return score, boxes.reshape(4, -1).T[None], score, score


HYPER = dict(
    z_size=127,
    x_size=X_SIZE,
    score_size=SCORE_SIZE,
    context_amount=0.5,
    test_lr=0.5,
    penalty_k=0.04,
    window_influence=0.0,
    windowing="cosine",
    min_w=10,
    min_h=10,
    network="reference",
    xcorr=None,
    compile=None,
    stem="conv",
    fuse_relu=False,
)
MEMORY = dict(mem_step=5, mem_len=4, mem_coef=0.4, mem_sink_idx=1)


def _frame(h=240, w=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_update_moves_to_the_score_peak():
    box = np.array([100.0, 80.0, 40.0, 30.0])
    scale = float(crop_scale(np.float32(box[2:]), 127, 0.5))
    net = ScriptedNet(peak=(6, 10), box_wh=(40 * scale, 30 * scale))  # same size: no size change
    tracker = SiamFCppTracker(net, device="cpu", **HYPER)
    tracker.init(_frame(), box)
    out = tracker.update(_frame(seed=1))

    center = xywh_to_cxywh(box)[:2]
    # peak cell (row 6, col 10) lies (+16, -16) crop px from the crop centre (151)
    expected = center + np.array([16.0, -16.0]) / scale
    np.testing.assert_allclose(xywh_to_cxywh(out.astype(np.float64))[:2], expected, atol=1e-3)
    np.testing.assert_allclose(out[2:], box[2:], atol=1e-3)
    assert out.dtype == np.float32 and out.shape == (4,)
    assert tracker.last_search_crop.shape == (X_SIZE, X_SIZE, 3)
    assert tracker.last_search_crop.dtype == np.uint8
    assert tracker.last_score_map.shape == (SCORE_SIZE, SCORE_SIZE)
    assert np.unravel_index(tracker.last_score_map.argmax(), tracker.last_score_map.shape) == (
        6,
        10,
    )
    assert tracker.template_crop.shape == (127, 127, 3)


def test_update_clamps_to_the_image_and_min_size():
    net = ScriptedNet(peak=(8, 16), box_wh=(1.0, 1.0))  # far right, tiny boxes
    tracker = SiamFCppTracker(net, device="cpu", **HYPER)
    tracker.init(_frame(), np.array([300.0, 100.0, 15.0, 12.0]))
    for seed in range(1, 20):
        out = tracker.update(_frame(seed=seed))
    assert tracker.center_xy[0] <= 320
    np.testing.assert_array_equal(out[2:], [10.0, 10.0])


def test_prior_box_recentres_the_search():
    tracker = SiamFCppTracker(ScriptedNet(), device="cpu", **HYPER)
    tracker.init(_frame(), np.array([100.0, 80.0, 40.0, 30.0]))
    tracker.update(_frame(seed=1), prior_xywh=np.array([10.0, 20.0, 40.0, 30.0]))
    center = xywh_to_cxywh(np.array([10.0, 20.0, 40.0, 30.0]))[:2]
    np.testing.assert_allclose(tracker.center_xy, center, atol=1e-4)  # peak at the centre cell


def test_bad_inputs_raise_clear_errors():
    tracker = SiamFCppTracker(ScriptedNet(), device="cpu", **HYPER)
    with pytest.raises(RuntimeError, match="init"):
        tracker.update(_frame())
    with pytest.raises(ValueError, match="uint8"):
        tracker.init(_frame().astype(np.float32), np.array([1.0, 1.0, 10.0, 10.0]))
    with pytest.raises(ValueError, match="H, W, 3"):
        tracker.init(_frame()[..., 0], np.array([1.0, 1.0, 10.0, 10.0]))
    for box in ([1.0, 1.0, 0.0, 10.0], [np.nan, 1.0, 10.0, 10.0], [1.0, 2.0, 3.0]):
        with pytest.raises(ValueError, match="w, h > 0"):
            tracker.init(_frame(), np.array(box))
    with pytest.raises(ValueError, match="windowing"):
        SiamFCppTracker(ScriptedNet(), device="cpu", **{**HYPER, "windowing": "hann"})


def test_network_output_problems_are_reported():
    tracker = SiamFCppTracker(ScriptedNet(fill=float("nan")), device="cpu", **HYPER)
    tracker.init(_frame(), np.array([100.0, 80.0, 40.0, 30.0]))
    with pytest.raises(FloatingPointError, match="not finite"):
        tracker.update(_frame())
    tracker = SiamFCppTracker(ScriptedNet(), device="cpu", **{**HYPER, "score_size": 19})
    tracker.init(_frame(), np.array([100.0, 80.0, 40.0, 30.0]))
    with pytest.raises(ValueError, match="score_size=19"):
        tracker.update(_frame())


def test_template_memory_push_keeps_the_sink_rule():
    memory = TemplateMemory("z0", length=4, sink_index=1)
    for name in ("a", "b", "c"):
        memory.push(name)
    assert memory.entries == ["z0", "a", "b", "c"]
    memory.push("d")
    assert memory.entries == ["z0", "b", "c", "d"] and len(memory) == 4
    with pytest.raises(ValueError, match="mem_sink_idx"):
        TemplateMemory("z0", length=2, sink_index=2)


def test_fuse_scores_weights_first_template_against_memory_mean():
    s = [np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)] + [
        np.array([0.5, 0.5], np.float32)
    ]
    expected = [0.6 + 0.4 * 0.25, 0.4 * 0.75]
    np.testing.assert_allclose(fuse_scores(np.stack(s), 0.4), expected)
    np.testing.assert_array_equal(fuse_scores(np.stack(s[:1]), 0.4), s[0])
    # batched (leading axes) and torch: the same numbers per row
    batch = torch.from_numpy(np.stack([np.stack(s), np.stack(s[::-1])]))
    fused = fuse_scores(batch, 0.4)
    assert fused.shape == (2, 2) and fused.dtype == torch.float32
    np.testing.assert_allclose(fused[0].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(fused[1].numpy(), fuse_scores(np.stack(s[::-1]), 0.4), rtol=1e-6)


def _run(tracker, n=12):
    tracker.init(_frame(), np.array([100.0, 80.0, 40.0, 30.0]))
    return np.array([tracker.update(_frame(seed=t)) for t in range(1, n)])


def test_multi_temp_without_update_uses_only_the_first_template():
    single = _run(SiamFCppTracker(ScriptedNet(peak=(7, 9)), device="cpu", **HYPER))
    net = ScriptedNet(peak=(7, 9))
    tracker = SiamFCppMultiTempTracker(net, device="cpu", memory_update=False, **MEMORY, **HYPER)
    multi = _run(tracker)
    np.testing.assert_allclose(multi, single, atol=1e-4)
    assert all(entry is tracker.memory.entries[0] for entry in tracker.memory.entries)
    assert net.search_calls == 11  # identical templates are scored once per frame


def test_multi_temp_with_update_memorises_every_mem_step_frames():
    net = ScriptedNet(peak=(7, 9))
    tracker = SiamFCppMultiTempTracker(net, device="cpu", memory_update=True, **MEMORY, **HYPER)
    tracker.init(_frame(), np.array([100.0, 80.0, 40.0, 30.0]))
    first = tracker.memory.entries[0]
    for t in range(1, 5):
        tracker.update(_frame(seed=t))
    assert all(entry is first for entry in tracker.memory.entries)
    tracker.update(_frame(seed=5))  # 5th frame: a new template enters at the end
    assert tracker.memory.entries[0] is first and tracker.memory.entries[-1] is not first
    assert len(tracker.memory) == 4
    calls = net.search_calls
    tracker.update(_frame(seed=6))
    assert net.search_calls - calls == 2  # two distinct templates now
    for t in range(7, 16):
        tracker.update(_frame(seed=t))
    distinct = {id(entry) for entry in tracker.memory.entries}
    assert len(distinct) == 4 and id(first) in distinct  # frames 5, 10, 15 + the first


def test_multi_temp_validates_memory_settings():
    with pytest.raises(ValueError, match="mem_step"):
        SiamFCppMultiTempTracker(
            ScriptedNet(), device="cpu", memory_update=True, **{**MEMORY, "mem_step": 0}, **HYPER
        )
    with pytest.raises(ValueError, match="mem_sink_idx"):
        SiamFCppMultiTempTracker(
            ScriptedNet(),
            device="cpu",
            memory_update=True,
            **{**MEMORY, "mem_sink_idx": 4},
            **HYPER,
        )


@pytest.mark.parametrize("tracker", ["siamfcpp", "multi_temp"])
@pytest.mark.parametrize("backbone", ["alexnet", "googlenet"])
def test_tracker_configs_instantiate_with_head_geometry(tracker, backbone):
    from hydra.utils import instantiate

    cfg = compose_config("evaluate", f"backbone={backbone}", f"tracker={tracker}")
    trk = instantiate(cfg.tracker, model=ScriptedNet(), device="cpu")
    assert (trk.x_size, trk.score_size) == (cfg.model.head.x_size, cfg.model.head.score_size)
    assert trk.window.shape == (cfg.model.head.score_size**2,)
    assert isinstance(trk, SiamFCppMultiTempTracker) == (tracker == "multi_temp")
    if tracker == "multi_temp":
        assert trk.memory_update is False and trk.mem_sink_idx == 1


def barely_trained_network() -> nn.Module:
    """AlexNet SiamFC++ whose box exponent passes 88 on every cell, as after ~20 training steps
    (where ``exp`` overflows float32): every weight is finite."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf" / "backbone" / "alexnet.yaml"
    torch.manual_seed(0)
    network = instantiate(OmegaConf.load(conf).model)
    with torch.no_grad():
        network.head.offset_bias.fill_(95.0)
    return network


def test_a_barely_trained_network_tracks_with_finite_boxes():
    """What overflows is the box decoding's ``exp`` (float32), not the weights: in eval mode the
    decoded offsets are bounded, so tracking goes on; training keeps the original decoding."""
    network = barely_trained_network()
    z, x = torch.zeros(1, 3, 127, 127), torch.zeros(1, 3, X_SIZE, X_SIZE)
    assert all(torch.isfinite(p).all() for p in network.parameters())
    assert not torch.isfinite(network.train()(z, x)["boxes"]).all()  # unchanged for training
    _, boxes, _, _ = network.eval().search(x, network.template(z))
    assert torch.isfinite(boxes).all()
    tracker = SiamFCppTracker(network, device="cpu", **HYPER)
    tracker.init(_frame(), np.array([100.0, 80.0, 40.0, 30.0]))
    for _ in range(3):
        assert np.isfinite(tracker.update(_frame())).all()
