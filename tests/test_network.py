"""Network shapes, and forward outputs equal to the original implementation's.

``fixtures/forward_original.npz`` holds the outputs of the original video_analyst ``SiamTrack``
(CPU, float32) built from the VOT test configs of both backbones with the parity recipe weights
(``parity_weights``), for inputs drawn as ``default_rng(input_seed).random(shape) * 255``: first
``z [2, 3, 127, 127]``, then ``x [2, 3, 303, 303]``. Keys ``<backbone>_{score, boxes, cls, ctr}``
come from its track phase, ``<backbone>_train_{cls, ctr, boxes}`` from its train phase.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from siamfcpp.model.backbones.googlenet import GoogLeNet
from siamfcpp.model.checkpoints import load_checkpoint
from siamfcpp.model.layers import AVG_POOL_FORMS, score_map_centres
from tests.parity_weights import FIXTURES, write_parity_checkpoint

CONF = Path(__file__).resolve().parents[1] / "conf"
# score-map side at x_size 303 and template-kernel side at z_size 127
GEOMETRY = {"alexnet": (17, 4), "googlenet": (19, 3)}
# score-map side by search crop (3 head tower convs for AlexNet, 2 for GoogLeNet)
DERIVED_SCORE_SIZE = {
    "alexnet": {255: 11, 271: 13, 303: 17},
    "googlenet": {255: 13, 271: 15, 303: 19},
}


def build(backbone: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(CONF / "backbone" / f"{backbone}.yaml").model).eval()


@pytest.mark.parametrize("backbone", ["alexnet", "googlenet"])
def test_shapes(backbone: str) -> None:
    model = build(backbone)
    score_size, kernel_size = GEOMETRY[backbone]
    n = score_size**2
    with torch.no_grad():
        kernels = model.template(torch.rand(2, 3, 127, 127) * 255)
        score, boxes, cls, ctr = model.search(torch.rand(2, 3, 303, 303) * 255, kernels)
        train = model(torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 303, 303) * 255)
    assert [tuple(k.shape) for k in kernels] == [(2, 256, kernel_size, kernel_size)] * 2
    assert score.shape == cls.shape == ctr.shape == (2, n)
    assert boxes.shape == (2, n, 4)
    assert torch.allclose(score, cls * ctr)
    assert train["cls"].shape == train["ctr"].shape == (2, n, 1)
    assert train["boxes"].shape == (2, n, 4)


@pytest.mark.parametrize(("score_size", "x_size"), [(17, 303), (19, 303), (15, 289), (17, 289)])
def test_score_map_grid(score_size: int, x_size: int) -> None:
    """Cells row-major (x fastest), one stride apart, the map centred in the crop (up to the
    original's floor of half a pixel)."""
    centres = score_map_centres(score_size, x_size, 8).reshape(score_size, score_size, 2)
    assert centres.dtype == torch.float32
    assert torch.equal(centres[0, 1] - centres[0, 0], torch.tensor([8.0, 0.0]))
    assert torch.equal(centres[1, 0] - centres[0, 0], torch.tensor([0.0, 8.0]))
    assert torch.equal(centres[0, 0], centres[0, 0].round())
    first, last = centres[0, 0, 0].item(), centres[-1, -1, 0].item()
    assert 0 <= (x_size - 1) - (first + last) <= 1


@pytest.mark.parametrize("backbone", ["alexnet", "googlenet"])
@pytest.mark.parametrize("x_size", [255, 271, 303])
def test_config_derives_the_score_map_of_the_network(backbone: str, x_size: int) -> None:
    """``model.head.score_size`` (resolver ``siamfcpp.score_size``) follows ``x_size``: the
    network built from it produces exactly that map (its head refuses any other side)."""
    cfg = OmegaConf.load(CONF / "backbone" / f"{backbone}.yaml")
    cfg.model.head.x_size = x_size
    side = cfg.model.head.score_size
    assert side == DERIVED_SCORE_SIZE[backbone][x_size]
    model = instantiate(cfg.model).eval()
    with torch.no_grad():
        kernels = model.template(torch.rand(1, 3, 127, 127) * 255)
        score, boxes, _, _ = model.search(torch.rand(1, 3, x_size, x_size) * 255, kernels)
    assert score.shape == (1, side * side) and boxes.shape == (1, side * side, 4)


def test_score_map_not_derived_off_the_stride_grid() -> None:
    cfg = OmegaConf.load(CONF / "backbone" / "alexnet.yaml")
    cfg.model.head.x_size = 289  # AlexNet gives 16 there, GoogLeNet 17: no common formula
    with pytest.raises(InterpolationResolutionError, match="set model.head.score_size explicitly"):
        _ = cfg.model.head.score_size


def test_wrong_search_size_is_explained() -> None:
    model = build("alexnet")
    with torch.no_grad(), pytest.raises(ValueError, match="score_size"):
        model.search(torch.rand(1, 3, 255, 255) * 255, model.template(torch.rand(1, 3, 127, 127)))


@pytest.mark.parametrize("backbone", ["alexnet", "googlenet"])
def test_forward_matches_original(backbone: str, tmp_path: Path) -> None:
    ref = np.load(FIXTURES / "forward_original.npz")
    rng = np.random.default_rng(int(ref["input_seed"]))
    z = torch.from_numpy((rng.random((2, 3, 127, 127)) * 255).astype(np.float32))
    x = torch.from_numpy((rng.random((2, 3, 303, 303)) * 255).astype(np.float32))
    model = build(backbone)
    load_checkpoint(model, write_parity_checkpoint(backbone, tmp_path))
    with torch.no_grad():
        score, boxes, cls, ctr = model.search(x, model.template(z))
        train = model(z, x)
    ours = {
        "score": score[..., None],
        "boxes": boxes,
        "cls": cls[..., None],
        "ctr": ctr[..., None],
        "train_cls": train["cls"],
        "train_ctr": train["ctr"],
        "train_boxes": train["boxes"],
    }
    for name, value in ours.items():
        expected = ref[f"{backbone}_{name}"]
        error = np.abs(value.numpy() - expected).max()
        print(f"{backbone} {name}: max abs error {error:.2e}")
        # float32 reduction-order noise only: boxes are in pixels (up to ~400), scores in [0, 1]
        tolerance = 1e-3 if "boxes" in name else 1e-5
        assert error < tolerance, f"{backbone} {name} differs from the original by {error}"


@pytest.mark.parametrize("xcorr", ["unfold", "shift"])
def test_xcorr_forms_train_like_grouped(xcorr: str, tmp_path: Path) -> None:
    """model.xcorr changes how the training step computes, not what: the loss's gradients with
    the unfold / shift cross-correlation equal the original's grouped convolution's (in float64:
    in float32 the batch-norm backward of two samples amplifies rounding to a few percent)."""
    grads = {}
    for form in ("grouped", xcorr):
        cfg = OmegaConf.load(CONF / "backbone" / "alexnet.yaml").model
        cfg.xcorr = form
        model = instantiate(cfg).train()
        load_checkpoint(model, write_parity_checkpoint("alexnet", tmp_path))
        model.double()
        gen = torch.Generator().manual_seed(0)
        out = model(
            torch.rand(2, 3, 127, 127, generator=gen, dtype=torch.float64) * 255,
            torch.rand(2, 3, 303, 303, generator=gen, dtype=torch.float64) * 255,
        )
        (out["cls"].sum() + out["ctr"].sum() + out["boxes"].mean()).backward()
        grads[form] = {n: p.grad.clone() for n, p in model.named_parameters()}
    # biases right before a batch norm have a zero gradient in exact arithmetic: compare every
    # gradient against the largest one of the network
    largest = max(g.abs().max().item() for g in grads["grouped"].values())
    for name, expected in grads["grouped"].items():
        error = (grads[xcorr][name] - expected).abs().max().item() / largest
        assert error < 1e-9, f"{xcorr}: gradient of {name} differs by {error:.2e} (relative)"


def test_unknown_xcorr_is_refused() -> None:
    cfg = OmegaConf.load(CONF / "backbone" / "alexnet.yaml").model
    cfg.xcorr = "fft"
    with pytest.raises(InstantiationException, match="xcorr must be one of"):
        instantiate(cfg)


@pytest.mark.parametrize("shape", [(2, 3, 9, 7), (1, 4, 1, 1), (1, 2, 2, 5)])
def test_avg_pool_forms_agree(shape: tuple[int, ...]) -> None:
    """Every form of Inception's 3x3 average pool gives avg_pool2d's outputs and gradients (in
    float64, so that a wrong tap or border would show), and keeps channels-last layout."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(shape, generator=gen, dtype=torch.float64)
    expected = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
    (expected_grad,) = torch.autograd.grad(expected, x, grad_out)
    for name, form in AVG_POOL_FORMS.items():
        out = form(x)
        (grad,) = torch.autograd.grad(out, x, grad_out)
        assert (out - expected).abs().max() < 1e-12, name
        assert (grad - expected_grad).abs().max() < 1e-12, name
        channels_last = x.detach().contiguous(memory_format=torch.channels_last)
        assert form(channels_last).is_contiguous(memory_format=torch.channels_last), name


def test_avg_pool_forms_train_like_pool() -> None:
    """The backbone's avg_pool (module.avg_pool in training) changes how GoogLeNet computes, not
    what: outputs and parameter gradients in training mode equal the original pool's (float64)."""
    results = {}
    for form in ("pool", "conv"):
        torch.manual_seed(0)
        backbone = GoogLeNet(crop_pad=4, avg_pool=form).double().train()
        z = torch.rand(2, 3, 127, 127, generator=torch.Generator().manual_seed(1)) * 255
        out = backbone(z.double())
        (out.square().mean()).backward()
        results[form] = out.detach(), {n: p.grad.clone() for n, p in backbone.named_parameters()}
    out, grads = results["conv"]
    expected_out, expected_grads = results["pool"]
    assert (out - expected_out).abs().max() < 1e-9
    largest = max(g.abs().max().item() for g in expected_grads.values())
    for name, expected in expected_grads.items():
        error = (grads[name] - expected).abs().max().item() / largest
        assert error < 1e-9, f"gradient of {name} differs by {error:.2e} (relative)"


def test_unknown_avg_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="avg_pool must be one of"):
        GoogLeNet(crop_pad=4, avg_pool="max")
