"""The batched device engine (siamfcpp.tracking.device_engine) against the original's boxes and
the reference tracker, on the CPU (``-m gpu``: the same on CUDA, CUDA graphs and float16).

Measured on the CPU (float32, parity-recipe weights), both fixture sequences in one 2-slot engine
(frames of 320x240 and 480x272 side by side), every frame tracked from the original's previous
box ("one step", as ``tests/test_tracker_parity.py``): AlexNet within 0.0073 px, GoogLeNet within
4e-5 px of the reference tracker; free-running GoogLeNet within 4e-5 px. The difference is the
crop (OpenCV's float bilinear rounds a few pixels by one grey level differently), amplified by the
random-weight AlexNet. Checked against the original's boxes (which the reference tracker matches to
0.01 px): 0.05 px. Free-running AlexNet is not compared on every frame (chaotic with random
weights, see test_tracker_parity.py); batched against one slot it is checked as in
test_engine.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from siamfcpp.data.sources.synthetic import generate_sequence
from siamfcpp.evaluation.pipeline import evaluate
from siamfcpp.evaluation.protocols import OnePassJob, run
from siamfcpp.geometry import get_subwindow
from siamfcpp.io.decode import NvJpegDecoder, gpu_jpeg_decoding
from siamfcpp.model.checkpoints import load_checkpoint
from siamfcpp.model.inference import build_inference_network
from siamfcpp.tracking.crop import crop_bilinear
from siamfcpp.tracking.device_engine import DeviceEngine, MultiTemplateDeviceEngine
from siamfcpp.tracking.engine import SlotError, build_engine
from tests.conftest import supervised_job, write_png_sequence
from tests.parity_weights import FIXTURE_MODELS, TRACKER_FIXTURE, write_parity_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE_PX = 0.05  # one step, and free-running GoogLeNet, against the original
# float16 network, one step: a stated bound, not parity. Most frames move by
# float16 rounding (H200, AlexNet: 0.01-0.2 px), but where the reference's best two candidates
# score within float16's rounding of each other (the random parity weights make such near ties
# common) the other one can win: AlexNet float16 jumped 10.4 and 25.7 px on such frames.
HALF_TOLERANCE_PX = 2.0  # on at least HALF_SHARE of the frames
HALF_SHARE = 0.9
HALF_MEDIAN_PX = 0.1
NVJPEG_MEDIAN_PX = 5.0  # nvJPEG frames, one step (see the test)
EARLY_TOLERANCE_PX = 1e-3  # batched vs one slot, first three updates (see test_engine.py)
BATCH_TOLERANCE_PX = 0.5  # batched vs one slot, every frame
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _engine(
    compose_config,
    tmp_path,
    *,
    model="alexnet",
    tracker="siamfcpp_fast",
    slots=2,
    device="cpu",
    preset=None,
    **options,
):
    backbone_preset = FIXTURE_MODELS[model][1]
    overrides = [f"tracker.{k}={v}" for k, v in options.items()]
    cfg = compose_config(
        "evaluate", f"experiment={preset or backbone_preset}", f"tracker={tracker}", *overrides
    )
    network = instantiate(cfg.model)
    load_checkpoint(network, write_parity_checkpoint(model, tmp_path))
    return build_engine(cfg.tracker, network, torch.device(device), slots)


def _fixture_sequences():
    data = np.load(TRACKER_FIXTURE)
    seqs = []
    for k in (0, 1):
        n = int(data[f"seq{k}_n"])
        frames = [cv2.imdecode(data[f"seq{k}_frame{t:03d}"], cv2.IMREAD_COLOR) for t in range(n)]
        seqs.append((frames, data[f"seq{k}_gt"]))
    return seqs, data


def _track_fixture(
    engine, reference_boxes, one_step: bool, num_frames: int = 40, frames=None
) -> np.ndarray:
    """Both fixture sequences side by side in slots 0 and 1 (their first ``num_frames``; the
    frames decoded by OpenCV unless given); per frame the deviation ``[T - 1]`` (max over
    coordinates and sequences) from ``reference_boxes[k]``."""
    seqs, _ = _fixture_sequences()
    (frames0, gt0), (frames1, gt1) = seqs
    if frames is not None:
        frames0, frames1 = frames
    engine.init([0, 1], [frames0[0], frames1[0]], np.stack([gt0[0], gt1[0]]))
    deviation = []
    for t in range(1, num_frames):
        if one_step:
            engine.place([0, 1], np.stack([reference_boxes[0][t - 1], reference_boxes[1][t - 1]]))
        boxes = engine.update([0, 1], [frames0[t], frames1[t]])
        expected = np.stack([reference_boxes[0][t], reference_boxes[1][t]])
        deviation.append(np.abs(boxes - expected).max())
    return np.array(deviation)


def _assert_half_bound(deviation: np.ndarray, what: str) -> None:
    """The stated float16 bound (see HALF_TOLERANCE_PX) on per-frame deviations."""
    within = float(np.mean(deviation <= HALF_TOLERANCE_PX))
    print(
        f"{what}: median {np.median(deviation):.2e} px, {within:.0%} of frames within "
        f"{HALF_TOLERANCE_PX} px, max {deviation.max():.2e} px"
    )
    assert np.median(deviation) <= HALF_MEDIAN_PX, deviation
    assert within >= HALF_SHARE, deviation


# ------------------------------------------------------------------ crop


@pytest.mark.parametrize("out_size", [127, 303])
def test_batched_crop_matches_cv2_crop(out_size):
    """Six frames of different sizes in one buffer, each cropped around its own centre."""
    rng = np.random.default_rng(out_size)
    frames, centers, sizes, avgs, expected = [], [], [], [], []
    for _ in range(6):
        height, width = rng.integers(80, 300, 2)
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        center = rng.uniform(-40, [width + 40, height + 40]).astype(np.float32)
        src_size = int(rng.integers(20, 500))
        avg = frame.mean(axis=(0, 1))
        expected.append(get_subwindow(frame, center, out_size, src_size, avg).astype(int))
        frames.append(frame)
        centers.append(center)
        sizes.append(src_size)
        avgs.append(np.trunc(avg))
    buffer = torch.zeros(6, max(f.size for f in frames) + 30, dtype=torch.uint8)
    for row, frame in enumerate(frames):
        buffer[row, : frame.size] = torch.from_numpy(frame.reshape(-1))
    got = crop_bilinear(
        buffer,
        torch.tensor([[f.shape[1], f.shape[0]] for f in frames]),
        torch.from_numpy(np.stack(centers)),
        torch.tensor(sizes, dtype=torch.float32),
        out_size,
        torch.tensor(np.stack(avgs), dtype=torch.float32),
    )
    assert got.shape == (6, 3, out_size, out_size)
    for row in range(6):
        diff = np.abs(got[row].permute(1, 2, 0).numpy().astype(int) - expected[row])
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, row


# ------------------------------------------------------------------ parity


# GoogLeNet (one step + free running, ~75 s on 2 cores) is slow; tests/test_network_form.py checks
# the GoogLeNet engine against the reference network in the default run
@pytest.mark.parametrize("model", ["alexnet", pytest.param("googlenet", marks=pytest.mark.slow)])
def test_engine_matches_the_original(compose_config, tmp_path, model):
    """One step on every frame of both fixture sequences (two slots, frames of two sizes); for
    GoogLeNet also free running."""
    engine = _engine(compose_config, tmp_path, model=model)
    assert type(engine) is DeviceEngine
    _, data = _fixture_sequences()
    original = [data[f"{model}_seq{k}_boxes"] for k in (0, 1)]
    one_step = _track_fixture(engine, original, one_step=True)
    print(f"{model} one step vs the original: {one_step.max():.2e} px")
    assert one_step.max() <= TOLERANCE_PX, one_step
    if model == "googlenet":
        free = _track_fixture(engine, original, one_step=False)
        print(f"{model} free running vs the original: {free.max():.2e} px")
        assert free.max() <= TOLERANCE_PX, free


# torch.compile of the crop and post-processing takes ~40 s on 2 cores: -m slow
@pytest.mark.slow
def test_compiled_step_matches_the_original(compose_config, tmp_path):
    """``compile_step``: the compiled crop and post-processing keep the one-step parity."""
    engine = _engine(compose_config, tmp_path, compile_step="true")
    _, data = _fixture_sequences()
    original = [data[f"alexnet_seq{k}_boxes"] for k in (0, 1)]
    one_step = _track_fixture(engine, original, one_step=True, num_frames=12)
    print(f"alexnet compiled step, one step vs the original: {one_step.max():.2e} px")
    assert one_step.max() <= TOLERANCE_PX, one_step


def test_multi_template_engine_matches_the_original(compose_config, tmp_path):
    """The multi-template preset (memory as shipped: never updated) on the engine, one step."""
    engine = _engine(
        compose_config, tmp_path, tracker="multi_temp_fast", preset="siamfcpp_alexnet-multi_temp"
    )
    assert type(engine) is MultiTemplateDeviceEngine and engine.entries == 1
    multi = np.load(FIXTURES / "tracker_multi_temp_seed0.npz")
    deviation = _track_fixture(engine, [multi[f"alexnet_seq{k}_boxes"] for k in (0, 1)], True)
    assert deviation.max() <= TOLERANCE_PX, deviation


def _memory_update_deviation(
    compose_config, tmp_path, device="cpu", num_frames=10, **engine_options
):
    """``memory_update=true``, templates memorised every 2 frames into a 3-entry memory: the
    engine, one step from the reference tracker's boxes (the first ``num_frames`` frames of both
    fixture sequences), against them."""
    options = {"memory_update": "true", "mem_step": 2, "mem_len": 3, "mem_coef": 0.6}
    preset = "siamfcpp_alexnet-multi_temp"
    reference = _engine(
        compose_config, tmp_path, tracker="multi_temp", preset=preset, slots=1, **options
    )
    engine = _engine(
        compose_config,
        tmp_path,
        tracker="multi_temp_fast",
        preset=preset,
        device=device,
        **options,
        **engine_options,
    )
    assert engine.entries == 3
    seqs, _ = _fixture_sequences()
    boxes = []
    for frames, gt in seqs:
        reference.init([0], frames[:1], gt[:1])
        boxes.append([gt[0], *(reference.update([0], [f])[0] for f in frames[1:num_frames])])
    return _track_fixture(engine, boxes, one_step=True, num_frames=num_frames)


def test_memory_update_matches_the_reference_tracker(compose_config, tmp_path):
    # 8 frames (7 updates; ~2 s less than 10 on 2 cores): templates are memorised after updates
    # 2, 4 and 6, so updates 3-7 score against an updated memory and update 7 against one from
    # which the first memorised template has left again (sink index 1 of 3 entries)
    deviation = _memory_update_deviation(compose_config, tmp_path, num_frames=8)
    print(f"memory update, one step vs the reference tracker: {deviation.max():.2e} px")
    assert deviation.max() <= TOLERANCE_PX, deviation


# ------------------------------------------------------------------ batching and the run loop


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    """Fixture sequences (320x240, 480x272) and synthetic ones (320x240) of 4..9 frames."""
    root = tmp_path_factory.mktemp("device_engine")
    seqs = []
    fixture, _ = _fixture_sequences()
    for k, length in ((0, 9), (1, 6)):
        frames, gt = fixture[k]
        seqs.append(
            write_png_sequence(root / f"fixture{k}", f"fixture{k}", frames[:length], gt[:length])
        )
    for seed, length in ((3, 4), (4, 7), (5, 5)):
        frames, boxes = generate_sequence(seed=seed, num_frames=length)
        seqs.append(
            write_png_sequence(root / f"synthetic{seed}", f"synthetic{seed}", frames, boxes)
        )
    return seqs


def _one_pass(engine, seqs, decode_workers=0):
    jobs = [OnePassJob(s.name, s.frames, s.gt[0]) for s in seqs]
    return {job.name: job for job in run(engine, jobs, decode_workers=decode_workers)}


def _assert_batch_close(many, one):
    for name, job in one.items():
        deviation = np.abs(many[name].boxes - job.boxes).max(axis=1)
        assert deviation[:4].max() <= EARLY_TOLERANCE_PX, (name, deviation)
        assert deviation.max() <= BATCH_TOLERANCE_PX, (name, deviation)


def test_slots_enter_and_leave_batch_equals_one_slot(compose_config, sequences, tmp_path):
    """5 sequences of 9, 6, 4, 7, 5 frames on 2 slots (decoded by 2 worker processes): each slot
    takes the next sequence when its own ends, and every box equals the one-slot engine's."""
    one = _one_pass(_engine(compose_config, tmp_path, slots=1), sequences)
    engine = _engine(compose_config, tmp_path, slots=2)
    jobs = [OnePassJob(s.name, s.frames, s.gt[0]) for s in sequences]
    finished = list(run(engine, jobs, decode_workers=2))
    # fixture1 ends after step 5, fixture0 after 8, then synthetic3 (steps 6-9), synthetic5
    # (10-14) and synthetic4 (9-15)
    order = [job.name for job in finished]
    assert order == ["fixture1", "fixture0", "synthetic3", "synthetic5", "synthetic4"]
    assert engine.steps == 15  # 16 steps, the first one only initialises
    _assert_batch_close({job.name: job for job in finished}, one)


def test_one_slot_engine_tracks_like_the_reference(compose_config, sequences, tmp_path):
    """Free running, one slot: the reference tracker's boxes up to the crop's rounding, which the
    random-weight AlexNet amplifies from frame to frame (as batching does, test_engine.py)."""
    one = _one_pass(_engine(compose_config, tmp_path, slots=1), sequences)
    reference = _one_pass(_engine(compose_config, tmp_path, tracker="siamfcpp", slots=1), sequences)
    for name, job in reference.items():
        deviation = np.abs(one[name].boxes - job.boxes).max(axis=1)
        assert deviation[:2].max() <= TOLERANCE_PX, (name, deviation)
        assert deviation.max() <= BATCH_TOLERANCE_PX, (name, deviation)


def test_vot_resets_batched_equal_one_at_a_time(compose_config, sequences, tmp_path):
    """The VOT reset protocol: failures and re-initialisations are per-slot events; 3 slots give
    the trajectories of one slot and of the reference tracker."""
    fails = {"fixture0": {2, 8}, "fixture1": {1}, "synthetic3": set(), "synthetic4": {5}}
    seqs = [s for s in sequences if s.name in fails]

    def trajectories(engine, decode_workers=0):
        jobs = [supervised_job(s, fails[s.name], 3) for s in seqs]
        return {j.name: j for j in run(engine, jobs, decode_workers=decode_workers)}

    reference = trajectories(_engine(compose_config, tmp_path, tracker="siamfcpp", slots=1))
    one = trajectories(_engine(compose_config, tmp_path, slots=1))
    many = trajectories(_engine(compose_config, tmp_path, slots=3), decode_workers=2)
    for name, job in reference.items():
        for other in (one[name], many[name]):
            np.testing.assert_array_equal(other.trajectory.status, job.trajectory.status)
            for got, expected in zip(other.trajectory.regions, job.trajectory.regions, strict=True):
                np.testing.assert_allclose(got, expected, atol=BATCH_TOLERANCE_PX)
    assert one["fixture0"].trajectory.status.tolist() == [1, -1, 2, 0, 0, 1, -1, -1, 2]


# Each step runs the network on all 64 slots (~4.5 s on 2 idle cores): the default run keeps the
# crash's regression test with 3 frames (2 steps); the 6-frame original (5 steps) runs with -m slow.
@pytest.mark.parametrize("num_frames", [3, pytest.param(6, marks=pytest.mark.slow)])
def test_evaluate_batch_sequences_64_siamfcpp_fast(compose_config, tmp_path, num_frames):
    """The issue's crash (``evaluate.py batch_sequences=64 tracker=siamfcpp_fast``: host tensors
    handed to the device tracker) through the pipeline: 64 slots for 3 sequences, frames decoded
    by worker processes; the results are the one-at-a-time reference's."""
    checkpoint = write_parity_checkpoint("alexnet", tmp_path)
    common = [
        f"benchmark.root={tmp_path / 'data'}",
        "benchmark.num_sequences=3",
        f"benchmark.num_frames={num_frames}",
        f"checkpoint={checkpoint}",
        "tracker_name=t",
    ]
    reference = evaluate(
        compose_config("evaluate", *common, f"output_dir={tmp_path / 'one'}", "tracker=siamfcpp")
    )
    batched = evaluate(
        compose_config(
            "evaluate",
            *common,
            f"output_dir={tmp_path / 'many'}",
            "tracker=siamfcpp_fast",
            "batch_sequences=64",
        )
    )
    assert batched["timing"]["decode_workers"] >= 1
    assert batched["timing"]["frames"] == 3 * num_frames
    assert 0 < batched["timing"]["device_busy_share"] <= 1
    for seq_dir in sorted((tmp_path / "one" / "t").iterdir()):
        name = seq_dir.name
        one = np.loadtxt(seq_dir / f"{name}_001.txt", delimiter=",")
        many = np.loadtxt(tmp_path / "many" / "t" / name / f"{name}_001.txt", delimiter=",")
        np.testing.assert_allclose(many, one, atol=BATCH_TOLERANCE_PX)
    assert batched["metrics"]["AO"] == pytest.approx(reference["metrics"]["AO"], abs=1e-2)


# ------------------------------------------------------------------ errors


def test_engine_rejects_bad_options(compose_config, tmp_path):
    with pytest.raises(InstantiationException, match="precision must be"):
        _engine(compose_config, tmp_path, precision="float8")
    with pytest.raises(InstantiationException, match="bfloat16 does not keep box parity"):
        _engine(compose_config, tmp_path, precision="bfloat16")
    with pytest.raises(InstantiationException, match="needs a CUDA device"):
        _engine(compose_config, tmp_path, cuda_graph="true")


def test_engine_takes_a_network_built_for_its_precision(compose_config):
    """An inference form already built (it declares its ``dtype``) is used as built, not
    converted; a precision it was not built for is an error."""
    cfg = compose_config("evaluate", "tracker=siamfcpp_fast")
    reference = instantiate(cfg.model).eval()
    network = build_inference_network(reference, dtype="float16")
    with pytest.raises(InstantiationException, match="built for torch.float16 but tracker.prec"):
        build_engine(cfg.tracker, network, torch.device("cpu"), 1)
    network = build_inference_network(reference)
    assert build_engine(cfg.tracker, network, torch.device("cpu"), 1).model is network


def test_engine_names_the_slot_of_bad_input(compose_config, tmp_path):
    engine = _engine(compose_config, tmp_path)
    (frames, gt), _ = _fixture_sequences()[0]
    with pytest.raises(RuntimeError, match="slot 1 has no target"):
        engine.update([1], [frames[1]])
    with pytest.raises(SlotError, match="lies outside the 320x240 frame") as err:
        engine.init([0, 1], [frames[0], frames[0]], np.stack([gt[0], [400, 10, 20, 20]]))
    assert err.value.slot == 1
    engine.init([1], [frames[0]], gt[:1])
    with pytest.raises(SlotError, match="uint8") as err:
        engine.update([1], [frames[1].astype(np.float32)])
    assert err.value.slot == 1
    # a sequence whose frames change size (issue 16, item 14), as the reference tracker refuses
    with pytest.raises(SlotError, match="frame is 160x120 but .* a 320x240 frame") as err:
        engine.update([1], [np.ascontiguousarray(frames[1][::2, ::2])])
    assert err.value.slot == 1


def test_non_finite_network_output_names_the_frame(compose_config, sequences, tmp_path):
    engine = _engine(compose_config, tmp_path, slots=2)
    with torch.no_grad():
        engine.model.offset_bias.fill_(float("nan"))
    jobs = [OnePassJob(s.name, s.frames, s.gt[0]) for s in sequences[2:4]]
    with pytest.raises(FloatingPointError, match=r"synthetic3.0001\.png: network output is not"):
        list(run(engine, jobs))


# ------------------------------------------------------------------ CUDA


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("alexnet", {}),
        ("alexnet", {"cuda_graph": "true", "channels_last": "true"}),
        ("alexnet", {"precision": "float16"}),
        ("alexnet", {"precision": "float16", "cuda_graph": "true"}),
        ("alexnet", {"cuda_graph": "true", "channels_last": "true", "compile_step": "true"}),
        ("googlenet", {"cuda_graph": "true"}),
        ("googlenet", {"cuda_graph": "true", "compile_step": "true"}),
        ("googlenet", {"precision": "float16", "cuda_graph": "true"}),
    ],
)
def test_cuda_engine_one_step_matches_the_original(compose_config, tmp_path, model, options):
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    engine = _engine(compose_config, tmp_path, model=model, device="cuda", **options)
    _, data = _fixture_sequences()
    original = [data[f"{model}_seq{k}_boxes"] for k in (0, 1)]
    deviation = _track_fixture(engine, original, one_step=True)
    print(f"{model} {options} on CUDA, one step vs the original: {deviation.max():.2e} px")
    if options.get("precision") == "float16":
        _assert_half_bound(deviation, f"{model} float16 one step")
    else:
        assert deviation.max() <= TOLERANCE_PX, deviation
    if model == "googlenet" and "precision" not in options:
        free = _track_fixture(engine, original, one_step=False)
        print(f"{model} {options} on CUDA, free running: {free.max():.2e} px")
        assert free.max() <= TOLERANCE_PX, free


@pytest.mark.gpu
@cuda
def test_cuda_graph_batched_equals_one_slot(compose_config, sequences, tmp_path):
    """CUDA graph engines of 1 and 3 slots (frames of two sizes: the graph is re-captured when
    the frame buffer grows), the one-pass and the VOT protocol, pinned process decoding."""
    torch.backends.cudnn.allow_tf32 = False
    one = _one_pass(_engine(compose_config, tmp_path, slots=1, device="cuda"), sequences)
    engine = _engine(compose_config, tmp_path, slots=3, device="cuda", cuda_graph="true")
    many = _one_pass(engine, sequences, decode_workers=2)
    _assert_batch_close(many, one)
    cpu = _one_pass(_engine(compose_config, tmp_path, slots=1), sequences)
    for name, job in cpu.items():  # other kernels: the CPU's rounding, amplified frame to frame
        deviation = np.abs(one[name].boxes - job.boxes).max(axis=1)
        assert deviation[:3].max() <= TOLERANCE_PX, (name, deviation)
        assert deviation.max() <= BATCH_TOLERANCE_PX, (name, deviation)


@pytest.mark.gpu
@cuda
def test_cuda_graph_memory_update(compose_config, tmp_path):
    torch.backends.cudnn.allow_tf32 = False
    deviation = _memory_update_deviation(compose_config, tmp_path, "cuda", cuda_graph="true")
    print(f"memory update on CUDA (graph), one step vs the reference: {deviation.max():.2e} px")
    assert deviation.max() <= TOLERANCE_PX, deviation


@pytest.mark.gpu
@cuda
@pytest.mark.skipif(gpu_jpeg_decoding() is None, reason="needs torchvision (nvJPEG)")
def test_nvjpeg_frames_within_the_stated_bound(compose_config, tmp_path):
    """``gpu_decode=true``: the fixture's JPEG frames decoded by nvJPEG differ from OpenCV's
    (libjpeg-turbo) by at most 4 grey levels on average (H200, torchvision 0.26: 3.86; a channel
    or layout mix-up would be tens). Not parity: the parity-weight AlexNet, which float16 rounding
    already moves by 0.04 px (median), follows those pixels by a median of 2.2 px one step (H200;
    49% of frames within 2 px, max 80 px); checked: a median within NVJPEG_MEDIAN_PX."""
    torch.backends.cudnn.allow_tf32 = False
    _, data = _fixture_sequences()
    decoder = NvJpegDecoder(torch.device("cuda"))
    frames, worst = [], 0.0
    for k in (0, 1):
        paths = []
        for t in range(int(data[f"seq{k}_n"])):
            paths.append(tmp_path / f"seq{k}_{t:03d}.jpg")
            paths[-1].write_bytes(data[f"seq{k}_frame{t:03d}"].tobytes())
        frames.append([decoder.result(ticket) for ticket in decoder.submit(paths)])
        for path, frame in zip(paths, frames[-1], strict=True):
            diff = np.abs(frame.cpu().numpy().astype(int) - cv2.imread(str(path)).astype(int))
            worst = max(worst, float(diff.mean()))
    print(f"nvJPEG vs OpenCV: mean absolute difference up to {worst:.3f} grey levels per frame")
    assert worst <= 4.0
    engine = _engine(compose_config, tmp_path, model="alexnet", device="cuda", cuda_graph="true")
    original = [data[f"alexnet_seq{k}_boxes"] for k in (0, 1)]
    deviation = _track_fixture(engine, original, one_step=True, frames=frames)
    print(
        f"alexnet, nvJPEG frames, one step vs the original: median {np.median(deviation):.2e} "
        f"px, max {deviation.max():.2e} px"
    )
    assert np.median(deviation) <= NVJPEG_MEDIAN_PX, deviation
