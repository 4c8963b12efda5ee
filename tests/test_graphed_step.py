"""module.cuda_graph: the network's forward + backward replayed as CUDA graphs computes the steps
that eager training computes, including after the freeze schedule changes which parameters
train (a new capture); refused where it cannot run."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from pytorch_lightning.utilities import move_data_to_device

CONF = Path(__file__).resolve().parents[1] / "conf"


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            config_name="train",
            overrides=["data.num_workers=0", "data.pin_memory=false", *overrides],
        )


def test_cuda_graph_is_refused_off_cuda_and_with_compile():
    module = instantiate(_cfg("module.cuda_graph=true").module)
    with pytest.raises(ValueError, match="module.cuda_graph=true needs a CUDA device"):
        module.on_fit_start()
    with pytest.raises(InstantiationException, match="cuda_graph=true and module.compile are"):
        instantiate(_cfg("module.cuda_graph=true", "module.compile=default").module)


def test_auto_replays_graphs_where_they_can_run():
    """``module.cuda_graph=auto`` (the default): on for one CUDA process without compile; off
    on the CPU, with ``module.compile`` and under DDP, where ``true`` is refused."""
    from siamfcpp.training.graphed import GraphedForward

    def started(*overrides: str, device: str, world_size: int = 1):
        module = instantiate(_cfg(*overrides).module)
        module._device = torch.device(device, 0)  # what Lightning sets when it moves the module
        module._trainer = SimpleNamespace(world_size=world_size)
        module.on_fit_start()
        return module.graphed

    assert started(device="cpu") is None
    assert isinstance(started(device="cuda"), GraphedForward)
    assert started("module.compile=default", device="cuda") is None
    assert started(device="cuda", world_size=2) is None
    with pytest.raises(ValueError, match="runs in one process"):
        started("module.cuda_graph=true", device="cuda", world_size=2)
    with pytest.raises(InstantiationException, match="must be true, false or auto"):
        instantiate(_cfg("module.cuda_graph=sometimes").module)


def test_capture_bookkeeping_with_a_stand_in_for_cuda_graphs(monkeypatch):
    """GraphedForward's own logic, off CUDA: ``make_graphed_callables`` is replaced by a stand-in
    that does what the real one does to a module (runs it a few times on the batch, moving the
    batch-norm statistics, and sets its forward). Captured once per key, re-captured when the
    trainable parameters change; statistics and the module's forward restored after capture."""
    from siamfcpp.training.graphed import GraphedForward

    captures = []

    def stand_in(model, sample_args):
        captures.append(tuple(p.requires_grad for p in model.parameters()))
        for _ in range(3):  # the real one's warm-up iterations
            model(*sample_args)
        original = model.forward
        model.forward = lambda *args: original(*args)
        return model

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", stand_in)
    cfg = _cfg("data.batch_size=2")
    model = instantiate(cfg.model).train()
    z, x = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
    graphed = GraphedForward(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    graphed(z, x)
    after_one_step = {k: v.clone() for k, v in model.state_dict().items()}
    graphed(z, x)
    assert len(captures) == 1 and "forward" not in vars(model)
    # one step moved the statistics once: what an eager step does from the same start
    model.load_state_dict(before)
    model(z, x)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(after_one_step[name], value, msg=name)
    model.backbone.conv1.requires_grad_(False)
    graphed(z, x)
    assert len(captures) == 2 and not all(captures[1])
    graphed(z[:1], x[:1])  # another batch shape: another capture
    assert len(captures) == 3


def _train(cuda_graph: bool, steps: int, freeze_after: int) -> tuple[list[float], dict]:
    cfg = _cfg(
        "backbone=googlenet",
        "data.batch_size=4",
        f"data.samples_per_epoch={4 * steps}",
        f"module.cuda_graph={str(cuda_graph).lower()}",
    )
    data = instantiate(cfg.data)
    torch.manual_seed(0)
    module = instantiate(cfg.module).to("cuda")
    module.on_fit_start()
    optimizer = torch.optim.SGD(module.model.parameters(), lr=1e-3, momentum=0.9)
    losses = []
    for step, batch in enumerate(islice(data.train_dataloader(), steps)):
        if step == freeze_after:  # as a freeze-schedule stage would: the graphs are re-captured
            module.model.backbone.Conv2d_1a_3x3.requires_grad_(False)
        batch = data.on_after_batch_transfer(move_data_to_device(batch, torch.device("cuda")), 0)
        loss = module.step_losses(batch)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert "forward" not in vars(module.model)  # the module's own forward is left as it was
    return losses, {k: v.detach().cpu() for k, v in module.model.state_dict().items()}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graphed_steps_equal_eager_steps():
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    eager_losses, eager_state = _train(False, steps=6, freeze_after=3)
    graphed_losses, graphed_state = _train(True, steps=6, freeze_after=3)
    print(f"losses eager {eager_losses}\n       graphed {graphed_losses}")
    torch.testing.assert_close(graphed_losses, eager_losses, rtol=1e-4, atol=0)
    for name, expected in eager_state.items():  # weights and batch-norm running statistics
        torch.testing.assert_close(graphed_state[name], expected, rtol=1e-3, atol=1e-5, msg=name)
