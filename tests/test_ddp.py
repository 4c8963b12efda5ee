"""``train.py trainer=ddp``: two CPU processes (gloo) train as one GPU run of the same global batch.

The recipe does not depend on the number of replicas (the original's ``*-dist_trn`` configs
differ from the single-process ones only in the trainer): ``data.batch_size`` and
``data.samples_per_epoch`` are global, each of ``R`` replicas loads ``batch_size / R`` pairs of
every step's global batch, the learning rate is the same and DDP averages the gradients.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from siamfcpp.data.datamodule import EpochSampler
from tests.cli import run_script
from tests.test_train_cli import compose_train, read_metrics

# 1 epoch of 2 steps of 4 pairs (2 per replica); no warm-up epoch so that one epoch is a schedule
TINY = (
    "data.samples_per_epoch=8",
    "data.batch_size=4",
    "data.num_workers=0",
    "logger=csv",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=1",
    "module.lr_schedule.warmup_epochs=0",
    "callbacks.pair_images=null",
    "callbacks.model_checkpoint.every_n_epochs=1",
)
DDP = ("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true")


def _fingerprints(batch: dict[str, torch.Tensor]) -> list[float]:
    """One number per pair of a batch: tells the training samples apart."""
    pixels = (batch["im_x"].double().sum(dim=(1, 2, 3)), batch["im_z"].double().sum(dim=(1, 2, 3)))
    return (pixels[0] + 1e-3 * pixels[1]).tolist()


class DDPProbe(pl.Callback):
    """Test-only callback (``+callbacks.probe._target_=tests.test_ddp.DDPProbe``): each rank
    writes ``rank<r>.json`` under ``folder`` with its sampler's indices and the pairs it trained
    on per step, and every checkpoint write is logged with the rank that made it."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.record: dict[str, object] = {"sampler": None, "indices": [], "steps": []}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        checkpoint_io = trainer.strategy.checkpoint_io
        save = checkpoint_io.save_checkpoint
        log = self.folder / "checkpoint_writes.txt"

        def logged_save(checkpoint, path, storage_options=None):
            with open(log, "a") as f:
                f.write(f"{trainer.global_rank} {Path(path).name}\n")
            save(checkpoint, path, storage_options)

        checkpoint_io.save_checkpoint = logged_save

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = trainer.train_dataloader.sampler
        self.record["sampler"] = type(sampler).__name__
        self.record["indices"].append(list(sampler))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.record["steps"].append(_fingerprints(batch))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self.folder / f"rank{trainer.global_rank}.json"
        weights = {name: p.double().sum().item() for name, p in pl_module.named_parameters()}
        path.write_text(
            json.dumps({**self.record, "world_size": trainer.world_size, "weights": weights})
        )


def _probe(folder: Path) -> tuple[str, ...]:
    target = "+callbacks.probe._target_=tests.test_ddp.DDPProbe"
    return target, f"+callbacks.probe.folder={folder}"


def test_epoch_sampler_splits_every_step_of_the_single_process_epoch():
    """Replica r of 2 takes every other index: per step, the two replicas' batches of B / 2 are
    disjoint and together the single process's batch of B; the epoch's uneven tail is dropped
    as the single process's incomplete last batch is."""

    class Stream(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 10

    batch, epoch = 4, 3
    single = EpochSampler(Stream(), num_replicas=1, rank=0)
    single.set_epoch(epoch)
    single_batches = [list(single)[k : k + batch] for k in range(0, 10 - 10 % batch, batch)]
    replicas = [EpochSampler(Stream(), num_replicas=2, rank=r) for r in range(2)]
    parts = []
    for sampler in replicas:
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == len(sampler) == 5
        parts.append([indices[k : k + batch // 2] for k in range(0, 4, batch // 2)])
    assert set(parts[0][0]).isdisjoint(parts[1][0])
    for step, expected in enumerate(single_batches):
        assert sorted(parts[0][step] + parts[1][step]) == expected
    assert single_batches == [[30, 31, 32, 33], [34, 35, 36, 37]]


# the backbone frozen in epoch 0 and released in epoch 1 (the recipes' staged unfreezing)
RELEASE = 'module.freeze_schedule=[{epoch: 1, pattern: "^backbone\\.", frozen: false}]'


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> tuple[Path, Path]:
    """One epoch of ``train.py trainer=ddp`` on 2 CPU processes, backbone frozen (``RELEASE``):
    its run folder and probe folder. Shared by the two tests below (one DDP run less, ~15 s on 2
    cores): the first checks the run, the second resumes from it into epoch 1 (backbone
    released: every parameter gets gradients there)."""
    root = tmp_path_factory.mktemp("ddp")
    run, probe = root / "run", root / "probe"
    command = (*TINY, *DDP, RELEASE, *_probe(probe))
    run_script("train.py", *command, f"hydra.run.dir={run}", cwd=root)
    return run, probe


def test_two_cpu_processes_train_the_global_batch_and_checkpoint_once(ddp_run):
    run, probe = ddp_run

    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # Lightning kept the data module's sampler (no DistributedSampler wrapped around it)
    assert {r["sampler"] for r in ranks} == {"EpochSampler"}
    (indices0,), (indices1,) = ranks[0]["indices"], ranks[1]["indices"]
    assert set(indices0).isdisjoint(indices1) and sorted(indices0 + indices1) == list(range(8))

    # every step, the replicas trained on the halves of the single-process batch of that step
    datamodule = instantiate(compose_train(*TINY).data)
    datamodule.setup("fit")
    stream = datamodule.train_set
    for step in range(2):
        expected = sorted(
            _fingerprints({k: v[None] for k, v in stream[i].items()})[0]
            for i in range(4 * step, 4 * step + 4)
        )
        seen = sorted(ranks[0]["steps"][step] + ranks[1]["steps"][step])
        assert seen == pytest.approx(expected, rel=1e-12)

    # the checkpoints, written by rank 0 only, once each
    writes = (probe / "checkpoint_writes.txt").read_text().split("\n")[:-1]
    assert sorted(writes) == ["0 epoch=0.ckpt", "0 last.ckpt"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch=0.ckpt", "last.ckpt"]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 2  # steps of the global batch, not per-replica batches

    # the single-process schedule: same steps per epoch, same learning rate per step
    schedule = instantiate(compose_train(*TINY).module.lr_schedule)
    rows = [row for row in read_metrics(run) if row.get("train/lr_other")]
    rates = {int(row["step"]): float(row["train/lr_other"]) for row in rows}
    assert rates == pytest.approx({k: schedule(0, k, 2) for k in range(2)}, rel=1e-6)


def test_rerunning_the_ddp_command_resumes_and_releases_frozen_layers(ddp_run, tmp_path):
    """Checkpoint from rank 0, resumed by both ranks: a run of one more epoch started from the
    first run's (``ddp_run``) ``last.ckpt`` (``ckpt_path=``; the first run's folder refuses other
    settings) continues it (global steps count on, not restart). The backbone is frozen in epoch
    0 and released in epoch 1 (the recipes' staged unfreezing: DDP must reduce gradients of
    parameters that had none before): the replicas stay identical."""
    run, longer, probe = ddp_run[0], tmp_path / "longer", tmp_path / "probe"
    command = (*TINY, *DDP, RELEASE, *_probe(probe))
    run_script(
        "train.py",
        *command,
        "trainer.max_epochs=2",
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        f"hydra.run.dir={longer}",
        cwd=tmp_path,
    )
    checkpoints = run / "checkpoints"
    ckpt = torch.load(longer / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4 and ckpt["epoch"] == 1

    pl.seed_everything(0, workers=True)  # the initial weights, as train.py draws them
    instantiate(compose_train(*TINY).data)
    initial = instantiate(compose_train(*TINY).module).state_dict()
    first = torch.load(checkpoints / "epoch=0.ckpt", map_location="cpu", weights_only=False)
    backbone, head = "model.backbone.conv1.conv.weight", "model.head.cls_logits.conv.weight"
    for state, released in ((first["state_dict"], False), (ckpt["state_dict"], True)):
        assert torch.equal(state[backbone], initial[backbone]) != released
        assert not torch.equal(state[head], initial[head])
    ranks = [json.loads((probe / f"rank{r}.json").read_text())["weights"] for r in range(2)]
    assert ranks[0] == ranks[1]


def _serial_replicas(cfg, replicas: int, steps: int) -> dict[str, torch.Tensor]:
    """The weights after ``steps`` steps of ``cfg``'s first epoch, computed in this process as
    ``replicas`` DDP replicas compute them: replica ``r`` forwards its share of the step's global
    batch (batch-norm statistics and loss normalisers of that share), the gradients are
    averaged, one SGD step at the scheduled rate; the batch-norm buffers are rank 0's."""
    pl.seed_everything(cfg.seed, workers=True)  # as train.py: the same initial weights
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    datamodule.setup("fit")
    model = module.model.train()
    optimizer = module.configure_optimizers()
    schedule = instantiate(cfg.module.lr_schedule)
    batch = cfg.data.batch_size
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = schedule(0, step, steps) * group["lr_scale"]
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        grads = [torch.zeros_like(p) for p in model.parameters()]
        for rank in reversed(range(replicas)):  # rank 0 last: its running statistics stay
            with torch.no_grad():
                for name, b in model.named_buffers():
                    b.copy_(buffers[name])
            indices = range(step * batch + rank, (step + 1) * batch, replicas)
            pairs = torch.utils.data.default_collate([datamodule.train_set[i] for i in indices])
            pairs = datamodule.on_after_batch_transfer(pairs, 0)
            loss = module.loss(model(pairs["im_z"], pairs["im_x"]), pairs)["total"]
            replica_grads = torch.autograd.grad(loss, list(model.parameters()))
            for total, grad in zip(grads, replica_grads, strict=True):
                total += grad
        for param, grad in zip(model.parameters(), grads, strict=True):
            param.grad = grad / replicas
        optimizer.step()
    return {f"model.{name}": value for name, value in model.state_dict().items()}


@pytest.mark.slow
def test_two_processes_compute_what_their_replicas_compute_serially(tmp_path):
    """DDP changes nothing but the split: the 2-process run's weights are those of the serial
    computation above (measured: bit-identical with one thread per process, as Lightning runs
    CPU ranks). Against a 1-process run of the same global batch they differ, as in the
    original's DDP: batch-norm statistics and loss normalisers are per replica (sync_batchnorm
    false; see conf/trainer/ddp.yaml)."""
    run = tmp_path / "run"
    run_script("train.py", *TINY, *DDP, f"hydra.run.dir={run}", cwd=tmp_path)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reduction order of the ranks' CPU kernels
    try:
        expected = _serial_replicas(compose_train(*TINY), replicas=2, steps=2)
    finally:
        torch.set_num_threads(threads)
    for name, value in expected.items():
        torch.testing.assert_close(ckpt["state_dict"][name], value, rtol=1e-5, atol=1e-6, msg=name)
