"""Network speed: search and template halves of the reference network and of each inference form
(``siamfcpp.model.inference``), and the training step, per backbone x batch.

Search rows: ms per search step with the template kernels given (CUDA: the step replayed as a
CUDA graph where capture works, timed with CUDA events; CPU: wall clock; warm-up excluded,
median of repeats), crops/s, the reference network's GFLOP per crop (``torch.utils.flop_counter``)
and the throughput that implies (useful TFLOP/s, share of the peak given by ``--peak-half`` for
float16 / bfloat16 rows and ``--peak-fp32`` for float32 rows; PyTorch's default TF32 convolutions
stay on), and the largest deviation of the form's outputs from the reference network in float32
(TF32 off) on the same random crops: scores (absolute) and boxes (pixels). Random weights,
scaled as the parity recipe so that features, scores and boxes look like a trained network's.

"best" composes the per-option winners of the measured half-precision forms (layout, xcorr,
stem, fused ReLU); "best-compiled" is it with ``torch.compile`` (``--compile-mode``) and the
``shift`` cross-correlation, whose taps the compiler fuses into one kernel. Training rows:
forward + loss + backward + SGD step of the reference network at the recipe crops (random
targets), per precision / layout / compile / ``model.xcorr``. ``--profile`` prints the top CUDA
kernels of one search step of the reference and of the fastest form, and of one training step
(float32 and the fastest eager form). Rows that would start after
``--budget-s`` are listed as skipped, never dropped.

    python benchmarks/network_speed.py --device cuda --out network.json --profile   # H200 < 5 min
    python benchmarks/network_speed.py --device cuda --forms ref --train-forms none \\
        --compile-mode max-autotune-no-cudagraphs --budget-s 1200  # autotuned compile (minutes)
    python benchmarks/network_speed.py --device cpu --backbones alexnet --batches 1 \\
        --forms ref f32-grouped --repeats 1 --warmup 0 --train-batch 2 --train-forms fp32  # smoke
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from _common import TRAIN_GEOMETRY, compose_cfg, device_name, emit, write_json
from hydra.utils import instantiate
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from siamfcpp.model.inference import DTYPES, build_inference_network
from siamfcpp.model.layers import xcorr_form
from siamfcpp.model.targets import make_densebox_targets
from siamfcpp.training.graphed import GraphedForward

Z_SIZE = 127


@dataclass(frozen=True)
class Form:
    """How the network runs: the reference module or an inference form, and its options."""

    reference: bool = False
    dtype: str = "float32"
    channels_last: bool = False
    xcorr: str = "grouped"
    stem: str = "conv"
    fuse_relu: bool = False
    compile_mode: str | None = None

    def describe(self) -> str:
        parts = ["reference" if self.reference else "inference", self.dtype]
        parts += ["channels-last"] if self.channels_last else []
        parts += [] if self.reference else [f"xcorr {self.xcorr}"]
        parts += ["space-to-depth stem"] if self.stem != "conv" else []
        parts += ["cuDNN conv+ReLU"] if self.fuse_relu else []
        parts += [f"compiled ({self.compile_mode})"] if self.compile_mode else []
        return ", ".join(parts)


F16, CL = "float16", True
SEARCH_FORMS = {
    "ref": Form(reference=True),
    "ref-cl": Form(reference=True, channels_last=CL),
    "ref-f16-cl": Form(reference=True, dtype=F16, channels_last=CL),  # today's fast tracker
    "f32-grouped": Form(),
    "f32-unfold": Form(xcorr="unfold"),
    "f32-shift": Form(xcorr="shift"),
    "f32-cl-grouped": Form(channels_last=CL),
    "f32-cl-shift": Form(channels_last=CL, xcorr="shift"),
    "f16-grouped": Form(dtype=F16),
    "f16-cl-grouped": Form(dtype=F16, channels_last=CL),
    "f16-cl-unfold": Form(dtype=F16, channels_last=CL, xcorr="unfold"),
    "f16-cl-shift": Form(dtype=F16, channels_last=CL, xcorr="shift"),
    "bf16-cl-grouped": Form(dtype="bfloat16", channels_last=CL),
    "f16-cl-s2d": Form(dtype=F16, channels_last=CL, stem="space_to_depth"),
    "f16-cl-fused-relu": Form(dtype=F16, channels_last=CL, fuse_relu=True),
}
# forms that exist only on CUDA
ONLY_CUDA = ("f16-cl-fused-relu",)
DERIVED_FORMS = ("best", "best-compiled")


@dataclass(frozen=True)
class TrainForm:
    """How the training step runs: autocast dtype, memory format, compilation or the network's
    forward + backward as CUDA graphs (``module.cuda_graph``'s ``GraphedForward``; loss and SGD
    stay eager), ``model.xcorr`` and ``model.backbone.avg_pool`` (GoogLeNet only)."""

    amp: torch.dtype | None = None
    channels_last: bool = False
    compiled: bool = False
    graphed: bool = False
    xcorr: str = "grouped"
    avg_pool: str = "pool"


BF16 = torch.bfloat16
TRAIN_FORMS = {
    "fp32": TrainForm(),
    "bf16": TrainForm(amp=BF16),
    "bf16-cl": TrainForm(amp=BF16, channels_last=CL),
    "bf16-cl-unfold": TrainForm(amp=BF16, channels_last=CL, xcorr="unfold"),
    "bf16-cl-shift": TrainForm(amp=BF16, channels_last=CL, xcorr="shift"),
    "bf16-cl-avgconv": TrainForm(amp=BF16, channels_last=CL, avg_pool="conv"),
    "bf16-cl-graphed": TrainForm(amp=BF16, channels_last=CL, graphed=True),
    "bf16-cl-avgconv-graphed": TrainForm(amp=BF16, channels_last=CL, avg_pool="conv", graphed=True),
    "bf16-cl-compiled": TrainForm(amp=BF16, channels_last=CL, compiled=True),
    "bf16-cl-shift-compiled": TrainForm(amp=BF16, channels_last=CL, compiled=True, xcorr="shift"),
}


class Rows(list):
    """Table rows, each also printed to stderr as it is measured (a run cut short keeps them)."""

    def append(self, row: list) -> None:
        print("row: " + " | ".join(str(v) for v in row), file=sys.stderr, flush=True)
        super().append(row)


class Budget:
    """Wall-clock budget of the whole run: rows that would start after it are skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> bool:
        return time.perf_counter() < self.deadline


# ---------------------------------------------------------------------------------- timing
def time_step(
    step: Callable[[], object],
    device: str,
    *,
    warmup: int,
    repeats: int,
    repeat_ms: float,
    graph: bool,
) -> tuple[float, bool]:
    """Median ms per ``step()`` and whether it ran as a CUDA graph replay."""
    if not device.startswith("cuda"):
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        step()
        first_ms = (time.perf_counter() - start) * 1000
        iters = max(1, math.ceil(repeat_ms / max(first_ms, 1e-3)))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(iters):
                step()
            times.append((time.perf_counter() - start) * 1000 / iters)
        return statistics.median(times), False
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up (cuDNN autotuning, compilation) off the default stream
        for _ in range(max(warmup, 1)):
            step()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    run, cuda_graph = step, None
    if graph:
        try:
            cuda_graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(cuda_graph):
                step()
            run = cuda_graph.replay
        except RuntimeError as error:
            print(f"CUDA graph capture failed ({error}); timing eager steps", file=sys.stderr)
            cuda_graph, run = None, step
            torch.cuda.synchronize()
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def timed(iters: int) -> float:
        begin.record()
        for _ in range(iters):
            run()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) / iters

    iters = max(1, min(500, math.ceil(repeat_ms / max(timed(1), 1e-3))))
    median = statistics.median(timed(iters) for _ in range(repeats))
    return median, cuda_graph is not None


def flops(fn: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


@contextmanager
def full_fp32():
    """TF32 off: the float32 reference outputs the deviations are measured against."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# ---------------------------------------------------------------------------------- networks
def parity_scaled_weights(model: nn.Module, seed: int) -> None:
    """Random weights scaled as the parity recipe (tests/parity_weights.py): He-normal convs,
    3-channel convs for 0..255 pixels, small adjust / output convs, batch norm with non-trivial
    statistics, box offsets ``exp(0.05 o + 1.5)``."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape) -> Tensor:
        return torch.randn(shape, generator=gen)

    small = ("adjust", "cls_logits", "ctr_logits", "box_offsets")
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                std = math.sqrt(2 / fan_in) / (128 if module.in_channels == 3 else 1)
                std = 0.5 / math.sqrt(fan_in) if any(s in name for s in small) else std
                module.weight.copy_(normal(module.weight.shape) * std)
                if module.bias is not None:
                    module.bias.copy_(normal(module.bias.shape) * 0.01)
            elif isinstance(module, nn.BatchNorm2d):
                n = normal((4, module.num_features))
                module.running_mean.copy_(0.1 * n[0])
                module.running_var.copy_(1 + 0.1 * n[1].abs())
                module.weight.copy_(1 + 0.1 * n[2])
                module.bias.copy_(0.1 * n[3])
        model.head.offset_scale.fill_(0.05)
        model.head.offset_bias.fill_(1.5)


def build_reference(backbone: str, x_size: int, device: str) -> nn.Module:
    cfg = compose_cfg("evaluate", [f"backbone={backbone}", f"model.head.x_size={x_size}"])
    model = instantiate(cfg.model)
    parity_scaled_weights(model, seed=0)
    return model.to(device).eval()


def build_form(reference: nn.Module, form: Form) -> nn.Module:
    if form.reference:
        memory_format = torch.channels_last if form.channels_last else torch.contiguous_format
        return copy.deepcopy(reference).to(dtype=DTYPES[form.dtype], memory_format=memory_format)
    return build_inference_network(
        reference,
        xcorr=form.xcorr,
        dtype=form.dtype,
        channels_last=form.channels_last,
        stem=form.stem,
        fuse_relu=form.fuse_relu,
        compile_mode=form.compile_mode,
    )


def as_input(image: Tensor, form: Form) -> Tensor:
    """The reference module takes its input as is; the inference form converts it itself."""
    if not form.reference:
        return image
    fmt = torch.channels_last if form.channels_last else torch.contiguous_format
    return image.to(dtype=DTYPES[form.dtype], memory_format=fmt)


def compose_best(times: dict[str, float]) -> Form | None:
    """The fastest measured half-precision form, with each extra option (stem, fused ReLU)
    switched on when its row beat the same form without it."""
    half = {n: t for n, t in times.items() if n in SEARCH_FORMS and SEARCH_FORMS[n].dtype == F16}
    half = {n: t for n, t in half.items() if not SEARCH_FORMS[n].reference}
    if not half:
        return None
    best = SEARCH_FORMS[min(half, key=half.get)]
    by_form = {SEARCH_FORMS[n]: t for n, t in half.items()}
    for option, off in (("stem", "conv"), ("fuse_relu", False)):
        for form, t in by_form.items():
            partner = by_form.get(replace(form, **{option: off}))
            if getattr(form, option) != off and partner is not None:
                best = replace(best, **{option: getattr(form, option) if t < partner else off})
    return best


# ---------------------------------------------------------------------------------- tables
class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = args.device
        self.budget = Budget(args.budget_s)
        self.search_rows = Rows()
        self.template_rows = Rows()
        self.train_rows = Rows()
        self.best: dict[tuple[str, int], tuple[str, Form, float]] = {}
        self.contexts: dict[tuple[str, int], dict] = {}
        self.train_setups: dict[str, dict] = {}

    def peak(self, dtype: str) -> float:
        return self.args.peak_fp32 if dtype == "float32" else self.args.peak_half

    def timing(self, step, graph: bool) -> tuple[float, bool]:
        a = self.args
        return time_step(
            step,
            self.device,
            warmup=a.warmup,
            repeats=a.repeats,
            repeat_ms=a.repeat_ms,
            graph=graph,
        )

    def search_row(self, backbone, batch, name, form, ctx) -> None:
        head = [backbone, batch, name, form.describe()]
        self.free()  # the previous row's network and CUDA graph
        if not self.budget.left():
            self.search_rows.append([*head, "skipped (time budget)", *[""] * 7])
            return
        try:
            net = build_form(ctx["model"], form)
            with torch.no_grad():
                kernels = net.template(as_input(ctx["z"], form))
                x = ctx["x"]
                out = net.search(as_input(x, form), kernels)
                score_dev = (out[0].float() - ctx["ref"][0]).abs().max().item()
                box_dev = (out[1].float() - ctx["ref"][1]).abs().max().item()
                ms, graphed = self.timing(lambda: net.search(as_input(x, form), kernels), True)
        except Exception as error:  # a form the device cannot run: say so in its row
            traceback.print_exc()
            msg = f"error: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
            self.search_rows.append([*head, msg, *[""] * 7])
            return
        gflop = ctx["gflop"]
        tflops = gflop * batch / ms
        self.search_rows.append(
            [
                *head,
                f"{ms:.3f}",
                f"{batch / ms * 1000:,.0f}",
                f"{gflop:.2f}",
                f"{tflops:.1f}",
                f"{tflops / self.peak(form.dtype):.1%}",
                "yes" if graphed else "no",
                f"{score_dev:.1e}",
                f"{box_dev:.2e}",
            ]
        )
        ctx["times"][name] = ms
        current = self.best.get((backbone, batch))
        if not form.reference and (current is None or ms < current[2]):
            self.best[backbone, batch] = (name, form, ms)

    def template_row(self, backbone, batch, name, form, ctx) -> None:
        head = [backbone, batch, name, form.describe()]
        self.free()
        if not self.budget.left():
            self.template_rows.append([*head, "skipped (time budget)", "", "", ""])
            return
        net = build_form(ctx["model"], replace(form, compile_mode=None))
        z = ctx["z"]
        with torch.no_grad():
            ms, graphed = self.timing(lambda: net.template(as_input(z, form)), True)
        self.template_rows.append(
            [
                *head,
                f"{ms:.3f}",
                f"{batch / ms * 1000:,.0f}",
                f"{ctx['template_gflop']:.2f}",
                "yes" if graphed else "no",
            ]
        )

    def free(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def context(self, backbone: str, batch: int, model: nn.Module) -> dict:
        gen = torch.Generator().manual_seed(batch)
        x_size = self.args.x_size
        z = (torch.rand(batch, 3, Z_SIZE, Z_SIZE, generator=gen) * 255).to(self.device)
        x = (torch.rand(batch, 3, x_size, x_size, generator=gen) * 255).to(self.device)
        with torch.no_grad(), full_fp32():
            ref = model.search(x, model.template(z))
            kernels1 = model.template(z[:1])
            gflop = flops(lambda: model.search(x[:1], kernels1)) / 1e9
            template_gflop = flops(lambda: model.template(z[:1])) / 1e9
        return {
            "model": model,
            "z": z,
            "x": x,
            "ref": ref,
            "gflop": gflop,
            "template_gflop": template_gflop,
            "times": {},
        }

    def search_forms(self) -> list[str]:
        names = [n for n in self.args.forms if n in SEARCH_FORMS]
        return [n for n in names if self.device.startswith("cuda") or n not in ONLY_CUDA]

    def run_search(self) -> None:
        contexts = {}
        for backbone in self.args.backbones:
            model = build_reference(backbone, self.args.x_size, self.device)
            for batch in self.args.batches:
                ctx = contexts[backbone, batch] = self.context(backbone, batch, model)
                for name in self.search_forms():
                    self.search_row(backbone, batch, name, SEARCH_FORMS[name], ctx)
                best = compose_best(ctx["times"]) if "best" in self.args.forms else None
                if best is not None:
                    self.search_row(backbone, batch, "best", best, ctx)
                    ctx["best"] = best
        for (backbone, batch), ctx in contexts.items():  # templates: reference and best
            self.template_row(backbone, batch, "ref", SEARCH_FORMS["ref"], ctx)
            if (backbone, batch) in self.best:
                name, form, _ = self.best[backbone, batch]
                self.template_row(backbone, batch, name, form, ctx)
        self.contexts = contexts

    def run_compiled(self) -> None:
        """Compiled rows last: compilation is the slow part of the run."""
        if "best-compiled" not in self.args.forms:
            return
        for (backbone, batch), ctx in self.contexts.items():
            base = ctx.get("best", Form(dtype=F16, channels_last=CL))
            form = replace(
                base, xcorr="shift", fuse_relu=False, compile_mode=self.args.compile_mode
            )
            self.search_row(backbone, batch, "best-compiled", form, ctx)

    # ------------------------------------------------------------------------------ training
    def train_setup(self, backbone: str) -> dict:
        cfg = compose_cfg(
            "train", [f"backbone={backbone}", "logger=none", *TRAIN_GEOMETRY[backbone]]
        )
        torch.manual_seed(0)
        module = instantiate(cfg.module)
        x_size, score_size = cfg.data.crop.x_size, cfg.model.head.score_size
        rng = np.random.default_rng(0)
        batch = self.args.train_batch
        targets = []
        for i in range(batch):
            cx, cy = x_size / 2 + rng.uniform(-20, 20, 2)
            w, h = rng.uniform(30, 160, 2)
            targets.append(
                make_densebox_targets(
                    np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]),
                    x_size=x_size,
                    score_size=score_size,
                    total_stride=cfg.model.head.total_stride,
                    negative=i % 4 == 3,
                )
            )
        data = {
            k: torch.from_numpy(np.stack([t[k] for t in targets])).to(self.device)
            for k in targets[0]
        }
        gen = torch.Generator().manual_seed(1)
        data["im_z"] = (torch.rand(batch, 3, Z_SIZE, Z_SIZE, generator=gen) * 255).to(self.device)
        data["im_x"] = (torch.rand(batch, 3, x_size, x_size, generator=gen) * 255).to(self.device)
        model = copy.deepcopy(module.model).to(self.device).train()
        count = min(2, batch)
        pairs = {k: v[:count] for k, v in data.items()}

        def forward_backward() -> None:
            module.loss(model(pairs["im_z"], pairs["im_x"]), pairs)["total"].backward()

        # forward + backward of the reference step, per pair
        gflop = flops(forward_backward) / 1e9 / count
        return {"module": module, "data": data, "x_size": x_size, "gflop": gflop}

    def train_step(self, name: str, setup: dict) -> Callable[[], None]:
        """One training step (forward + loss + backward + SGD) of form ``name`` on the batch."""
        form = TRAIN_FORMS[name]
        fmt = torch.channels_last if form.channels_last else torch.contiguous_format
        model = copy.deepcopy(setup["module"].model).to(self.device, memory_format=fmt).train()
        model.xcorr = xcorr_form(form.xcorr)
        if form.avg_pool != "pool":
            model.backbone.set_avg_pool(form.avg_pool)
        loss_fn = setup["module"].loss
        data = dict(setup["data"])
        data["im_z"] = data["im_z"].contiguous(memory_format=fmt)
        data["im_x"] = data["im_x"].contiguous(memory_format=fmt)
        forward = torch.compile(model) if form.compiled else model
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9, weight_decay=5e-5)
        kind = self.device.split(":")[0]
        amp = form.amp

        if form.graphed:  # module.cuda_graph's capture, on the first step
            forward = GraphedForward(model)

        def step() -> None:
            with torch.autocast(kind, dtype=amp or torch.float32, enabled=amp is not None):
                loss = loss_fn(forward(data["im_z"], data["im_x"]), data)["total"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    def train_row(self, backbone: str, name: str, setup: dict) -> None:
        form = TRAIN_FORMS[name]
        batch = self.args.train_batch
        head = [backbone, f"{Z_SIZE}/{setup['x_size']}", name, batch]
        self.free()
        if not self.budget.left():
            self.train_rows.append([*head, "skipped (time budget)", *[""] * 5])
            return
        try:
            ms, _ = self.timing(self.train_step(name, setup), graph=False)
        except Exception as error:
            traceback.print_exc()
            msg = f"error: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
            self.train_rows.append([*head, msg, *[""] * 5])
            return
        setup.setdefault("ms", {})[name] = ms
        gflop = setup["gflop"]
        base = setup["ms"].get("fp32")
        tflops = gflop * batch / ms
        peak = self.args.peak_fp32 if form.amp is None else self.args.peak_half
        self.train_rows.append(
            [
                *head,
                f"{ms:.2f}",
                f"{batch / ms * 1000:,.0f}",
                f"{gflop:.1f}",
                f"{tflops:.1f}",
                f"{tflops / peak:.1%}",
                f"{base / ms:.2f}x" if base else "",
            ]
        )

    def run_training(self, compiled: bool) -> None:
        names = [n for n in self.args.train_forms if n in TRAIN_FORMS]
        names = [n for n in names if TRAIN_FORMS[n].compiled == compiled]
        if not names:
            return
        for backbone in self.args.backbones:
            if backbone not in self.train_setups:
                self.train_setups[backbone] = self.train_setup(backbone)
            setup = self.train_setups[backbone]
            pools = hasattr(setup["module"].model.backbone, "set_avg_pool")
            for name in names:
                if pools or TRAIN_FORMS[name].avg_pool == "pool":
                    self.train_row(backbone, name, setup)

    # ------------------------------------------------------------------------------ profile
    def profile(self) -> None:
        """Top kernels of one search step (reference and fastest form, largest batch) and of one
        training step (fp32 and the fastest uncompiled training form), per backbone."""
        from torch.profiler import ProfilerActivity, profile

        cuda = self.device.startswith("cuda")
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        sort = "self_device_time_total" if cuda else "self_cpu_time_total"
        batch = max(self.args.batches)

        def show(title: str, run: Callable[[], object]) -> None:
            for _ in range(2):
                run()
            with profile(activities=activities) as prof:
                run()
                if cuda:
                    torch.cuda.synchronize()
            print(f"\n#### Profile: {title}\n")
            print(prof.key_averages().table(sort_by=sort, row_limit=12, max_name_column_width=70))

        for backbone in self.args.backbones:
            ctx = self.contexts.get((backbone, batch))
            chosen = [("ref", SEARCH_FORMS["ref"])] if ctx else []
            if (backbone, batch) in self.best:
                chosen.append(self.best[backbone, batch][:2])
            for name, form in chosen:
                net = build_form(ctx["model"], form)
                with torch.no_grad():
                    kernels = net.template(as_input(ctx["z"], form))
                    x = as_input(ctx["x"], form)
                    show(
                        f"{backbone} search, batch {batch}, {name} ({form.describe()})",
                        lambda net=net, x=x, kernels=kernels: net.search(x, kernels),
                    )
            times = self.train_setups.get(backbone, {}).get("ms", {})
            eager = {n: t for n, t in times.items() if not TRAIN_FORMS[n].compiled}
            if not eager:
                continue
            setup = self.train_setups[backbone]
            for name in dict.fromkeys(["fp32", min(eager, key=eager.get)]):
                if name in eager:
                    self.free()
                    show(
                        f"{backbone} training step, batch {self.args.train_batch}, {name}",
                        self.train_step(name, setup),
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", nargs="+", default=["alexnet", "googlenet"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--x-size", type=int, default=303, help="search crop side")
    parser.add_argument(
        "--forms",
        nargs="+",
        default=[*SEARCH_FORMS, *DERIVED_FORMS],
        help=f"search forms: {', '.join([*SEARCH_FORMS, *DERIVED_FORMS])}",
    )
    parser.add_argument(
        "--compile-mode",
        default="default",
        help="torch.compile mode of best-compiled (max-autotune-no-cudagraphs "
        "autotunes every conv: minutes)",
    )
    parser.add_argument(
        "--train-forms",
        nargs="+",
        default=list(TRAIN_FORMS),
        help=f"{', '.join(TRAIN_FORMS)} or none",
    )
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    parser.add_argument("--repeat-ms", type=float, default=25.0, help="length of one repeat")
    parser.add_argument(
        "--peak-half",
        type=float,
        default=790.0,
        help="TFLOP/s peak for float16/bfloat16 rows (H200 dense)",
    )
    parser.add_argument(
        "--peak-fp32",
        type=float,
        default=67.0,
        help="TFLOP/s peak for float32 rows (H200, non-tensor-core)",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=250.0,
        help="rows that would start later are listed as skipped",
    )
    parser.add_argument("--profile", action="store_true", help="top kernels before / after")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    unknown = set(args.forms) - {*SEARCH_FORMS, *DERIVED_FORMS}
    if unknown or not set(args.train_forms) <= {*TRAIN_FORMS, "none"}:
        parser.error(
            f"unknown form in --forms / --train-forms: {sorted(unknown) or args.train_forms}"
        )
    torch.backends.cudnn.benchmark = True

    runner = Runner(args)
    runner.run_search()
    runner.run_training(compiled=False)
    runner.run_compiled()
    runner.run_training(compiled=True)

    name = device_name(args.device)
    peaks = f"peak {args.peak_half:g} TFLOP/s half, {args.peak_fp32:g} float32"
    search_header = [
        "backbone",
        "batch",
        "form",
        "settings",
        "ms / step",
        "crops/s",
        "GFLOP / crop",
        "TFLOP/s",
        f"% of peak ({args.peak_half:g} half / {args.peak_fp32:g} fp32)",
        "CUDA graph",
        "max score dev",
        "max box dev (px)",
    ]
    template_header = [
        "backbone",
        "batch",
        "form",
        "settings",
        "ms / step",
        "crops/s",
        "GFLOP / crop",
        "CUDA graph",
    ]
    train_header = [
        "backbone",
        "crops z/x",
        "form",
        "batch",
        "ms / step",
        "pairs/s",
        "GFLOP / pair (fwd+bwd)",
        "TFLOP/s",
        f"% of peak ({peaks})",
        "vs fp32",
    ]
    tables = [
        (
            "search",
            f"Search step on {name}, x {args.x_size} ({peaks})",
            search_header,
            runner.search_rows,
        ),
        ("template", f"Template step on {name}, z {Z_SIZE}", template_header, runner.template_rows),
        (
            "training",
            f"Training step on {name} (forward + loss + backward + SGD)",
            train_header,
            runner.train_rows,
        ),
    ]
    records = []
    for key, title, header, rows in tables:
        if rows:
            emit(title, header, rows, None, {})
            print()
            records += [{"table": key, **dict(zip(header, row, strict=True))} for row in rows]
    if args.profile:
        runner.profile()
    meta = {
        "device": name,
        "torch": torch.__version__,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "peak_half_tflops": args.peak_half,
        "peak_fp32_tflops": args.peak_fp32,
        "x_size": args.x_size,
        "compile_mode": args.compile_mode,
        "repeats": args.repeats,
    }
    if args.out:
        write_json(args.out, meta, records)


if __name__ == "__main__":
    main()
