"""Frames decoded ahead of the tracker (siamfcpp.io.decode) and handed out by the run loop: the
pixels of ``read_frame``, each slot its own frame, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.protocols import OnePassJob, run
from siamfcpp.evaluation.trajectory import FAILURE, TRACKED
from siamfcpp.io import decode
from siamfcpp.io.decode import InlineDecoder, ProcessDecoder, open_decoder
from siamfcpp.io.frames import CorruptFrameError, frame_conversions, read_frame
from siamfcpp.tracking.engine import SequentialSlots
from tests.conftest import supervised_job


def _frame(t: int, seq: int, size: tuple[int, int]) -> np.ndarray:
    """Random pixels; pixel (0, 0) holds ``(t, seq, 0)`` for the scripted tracker."""
    rng = np.random.default_rng((t, seq))
    frame = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    frame[0, 0] = (t, seq, 0)
    return frame


def _write(folder: Path, seq: int, length: int, size: tuple[int, int], suffix=".png") -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in range(length):
        paths.append(folder / f"{t:08d}{suffix}")
        cv2.imwrite(str(paths[-1]), _frame(t, seq, size))
    return paths


def test_process_decoder_gives_read_frame_pixels_and_reuses_its_ring(tmp_path):
    paths = _write(tmp_path / "png", 0, 5, (64, 48))
    paths += _write(tmp_path / "jpg", 1, 4, (80, 40), suffix=".jpg")
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), _frame(0, 2, (32, 32))[..., 0])
    paths += [gray] * 3
    before = frame_conversions.copy()
    expected = [read_frame(p) for p in paths]
    with ProcessDecoder(workers=2, entries=3, pin_memory=False) as decoder:
        for begin in range(0, len(paths), 3):  # 12 frames through 3 entries
            tickets = decoder.submit(paths[begin : begin + 3])
            for k, ticket in enumerate(tickets):
                np.testing.assert_array_equal(decoder.result(ticket), expected[begin + k])
            for ticket in tickets:
                decoder.release(ticket)
        assert decoder.decoded == len(paths)
    # the workers' conversions are counted here (read_frame above counted 3 more)
    assert (frame_conversions - before)["grayscale"] == 6


def test_requests_beyond_the_ring_and_large_frames(tmp_path, monkeypatch):
    """Entries sized for a small first frame: larger frames come through the pipe, requests
    beyond the free entries are decoded in the caller; released unread requests free their
    entries once decoded."""
    monkeypatch.setattr(decode, "MIN_ENTRY_BYTES", 0)
    small = _write(tmp_path / "small", 0, 3, (16, 16))
    large = _write(tmp_path / "large", 1, 4, (64, 48))
    with ProcessDecoder(workers=2, entries=2, pin_memory=False) as decoder:
        tickets = decoder.submit(small + large)
        assert sum(t.entry is not None for t in tickets) == 2
        for ticket, path in zip(tickets, small + large, strict=True):
            np.testing.assert_array_equal(decoder.result(ticket), read_frame(path))
            decoder.release(ticket)
        unread = decoder.submit(small[:2])
        for ticket in unread:
            decoder.release(ticket)
        again = decoder.submit(large[:2])
        for ticket, path in zip(again, large[:2], strict=True):
            np.testing.assert_array_equal(decoder.result(ticket), read_frame(path))


def test_a_frame_whose_worker_has_not_finished_is_decoded_by_the_caller(tmp_path):
    """Asking for the last frame of a long chunk at once: the caller decodes it rather than wait
    for the whole chunk (a VOT re-initialisation frame behind the frames requested ahead); the
    worker then skips it or writes into an entry nobody reads; the entry is reused correctly."""
    paths = _write(tmp_path / "jpg", 0, 40, (320, 240), suffix=".jpg")
    with ProcessDecoder(workers=1, entries=41, pin_memory=False) as decoder:
        first = decoder.submit(paths[:1])  # starts the worker (this one decoded here)
        tickets = decoder.submit(paths[1:])  # one chunk of 39 for the one worker
        np.testing.assert_array_equal(decoder.result(tickets[-1]), read_frame(paths[-1]))
        assert decoder.stolen == 1
        kind = tickets[-1].pending.get()[tickets[-1].index][0]
        assert kind in ("taken", "ring")  # skipped, unless the worker was already there
        for ticket, path in zip(first + tickets[:-1], paths[:-1], strict=True):
            np.testing.assert_array_equal(decoder.result(ticket), read_frame(path))
        for ticket in first + tickets:
            decoder.release(ticket)
        again = decoder.submit(paths[:5])  # entries of the finished chunk, the stolen one too
        for ticket, path in zip(again, paths[:5], strict=True):
            np.testing.assert_array_equal(decoder.result(ticket), read_frame(path))
        assert decoder.decoded == 45


@pytest.mark.parametrize("workers", [0, 2])
def test_decode_errors_name_the_file(tmp_path, workers):
    good = _write(tmp_path, 0, 1, (16, 16))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not a jpeg")
    with open_decoder(workers, entries=4, pin_memory=False) as decoder:
        assert isinstance(decoder, ProcessDecoder if workers else InlineDecoder)
        first, missing, bad = decoder.submit([*good, tmp_path / "missing.jpg", corrupt])
        decoder.result(first)
        with pytest.raises(FileNotFoundError, match="missing.jpg is missing"):
            decoder.result(missing)
        with pytest.raises(CorruptFrameError, match="corrupt.jpg is corrupt"):
            decoder.result(bad)


class ScriptedTracker:
    """Reads the frame's own index and sequence from pixel (0, 0); its box says what it saw."""

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        assert frame[0, 0, 0] == round(box[0]) and frame[0, 0, 1] == round(box[1])

    def update(self, frame: np.ndarray) -> np.ndarray:
        return np.array([frame[0, 0, 0], frame[0, 0, 1], 1, 1], dtype=np.float64)


@pytest.mark.parametrize("workers", [0, 2])
def test_run_loop_hands_each_slot_its_own_frame(tmp_path, workers):
    """7 sequences of 3..11 frames and three sizes on 3 slots, one-pass and with VOT resets
    (frames decoded ahead and skipped): every frame tracked is that sequence's frame."""
    lengths = [11, 3, 7, 5, 9, 4, 6]
    seqs = [
        _write(tmp_path / f"s{k}", k, n, [(40, 30), (64, 48), (24, 20)][k % 3])
        for k, n in enumerate(lengths)
    ]
    engine = SequentialSlots(ScriptedTracker, num_slots=3)
    gt = {k: np.array([[t, k, 1, 1] for t in range(n)], float) for k, n in enumerate(lengths)}
    one_pass = [OnePassJob(f"s{k}", paths, gt[k][0]) for k, paths in enumerate(seqs)]
    for job in run(engine, one_pass, decode_workers=workers):
        np.testing.assert_array_equal(job.boxes, gt[int(job.name[1:])])

    fails = {0: {2, 9}, 2: {1}, 4: {3, 4}}
    failures = {0: 2, 2: 1, 4: 1}  # s4 fails on frame 3: frames 4..6 are skipped

    supervised = [
        supervised_job(SequenceData(f"s{k}", paths, gt[k]), fails.get(k, set()), reinit_delay=4)
        for k, paths in enumerate(seqs)
    ]
    for job in run(engine, supervised, decode_workers=workers):
        k = int(job.name[1:])
        tracked = job.trajectory.status == TRACKED
        regions = np.stack([job.trajectory.regions[t] for t in np.flatnonzero(tracked)])
        np.testing.assert_array_equal(regions, gt[k][tracked].astype(np.float32))
        assert np.count_nonzero(job.trajectory.status == FAILURE) == failures.get(k, 0)


def test_gpu_decode_needs_an_engine_on_the_gpu(tmp_path):
    paths = _write(tmp_path, 0, 3, (16, 16))
    engine = SequentialSlots(ScriptedTracker, num_slots=1)
    jobs = [OnePassJob("s0", paths, np.array([0, 0, 1, 1], float))]
    with pytest.raises(ValueError, match="gpu_decode=true needs an engine that takes frames"):
        list(run(engine, jobs, gpu_decode=True))
