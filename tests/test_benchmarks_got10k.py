"""GOT-10k benchmark (toolkit report, result layout, submission archive) and the synthetic one."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from siamfcpp.data.sources.got10k import write_got10k_list
from siamfcpp.data.sources.synthetic import generate_sequence, sequence_name, write_got10k_split
from siamfcpp.evaluation.datasets.got10k import GOT10kBenchmark
from siamfcpp.evaluation.datasets.synthetic import SyntheticBenchmark
from siamfcpp.geometry import iou_xywh
from siamfcpp.tracking.engine import SequentialSlots


class StillTracker:
    created = 0

    def __init__(self):
        StillTracker.created += 1

    def init(self, frame, box_xywh):
        self.box = np.asarray(box_xywh, float)

    def update(self, frame):
        return self.box + 0.5  # drifts a little each frame so overlaps vary


STILL = SequentialSlots(StillTracker)  # an engine of the still tracker


def split_names(split: str, n: int) -> list[str]:
    """The sequences ``write_got10k_split`` writes: an explicit subset of the split."""
    return [sequence_name(split, k) for k in range(n)]


def test_val_metrics_match_an_independent_computation(tmp_path):
    write_got10k_split(tmp_path / "data", "val", 3, 20, (128, 96), seed=1)
    bench = GOT10kBenchmark(tmp_path / "data", subset="val", sequences=split_names("val", 3))
    StillTracker.created = 0
    result = bench.run(STILL, tmp_path / "out", "still")
    assert StillTracker.created == 3

    all_ious, rows = [], {}
    for k in range(3):
        name = f"Synthetic_Val_{k + 1:06d}"
        _, gt = generate_sequence((1, k), 20, (128, 96))
        record = tmp_path / "out" / "still" / name / f"{name}_001.txt"
        boxes = np.loadtxt(record, delimiter=",")
        assert boxes.shape == (20, 4)
        np.testing.assert_allclose(boxes[0], gt[0], atol=1e-3)  # row 0 is the init box
        times = np.loadtxt(tmp_path / "out" / "still" / name / f"{name}_time.txt")
        assert times.shape == (20,) and (times > 0).all()
        ious = iou_xywh(boxes[1:], gt[1:])  # boxes stay inside the image: no clipping needed
        all_ious.append(ious)
        rows[name] = ious
    ious = np.concatenate(all_ious)
    m = result["metrics"]
    # gt files carry 4 decimals, results 3: overlaps agree to ~1e-3
    assert m["AO"] == pytest.approx(ious.mean(), abs=2e-3)
    assert m["SR.50"] == pytest.approx((ious > 0.5).mean(), abs=0.02)
    assert m["SR.75"] == pytest.approx((ious > 0.75).mean(), abs=0.02)
    for row in result["sequences"]:
        assert row["AO"] == pytest.approx(rows[row["name"]].mean(), abs=2e-3)
        assert row["frames"] == 20
    assert (tmp_path / "out" / "reports" / "still" / "performance.json").is_file()

    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["metrics"] == pytest.approx(m)
    assert (tmp_path / "out" / "sequences.csv").read_text().startswith("name,frames,AO")


def test_rerun_tracks_only_unfinished_sequences(tmp_path):
    write_got10k_split(tmp_path / "data", "val", 3, 5, (64, 48), seed=2)
    bench = GOT10kBenchmark(tmp_path / "data", subset="val", sequences=split_names("val", 3))
    first = bench.run(STILL, tmp_path / "out", "still")
    (tmp_path / "out" / "still" / "Synthetic_Val_000002" / "Synthetic_Val_000002_001.txt").unlink()
    StillTracker.created = 0
    second = bench.run(STILL, tmp_path / "out", "still")
    assert StillTracker.created == 1
    assert second["metrics"]["AO"] == pytest.approx(first["metrics"]["AO"])


def test_test_split_writes_the_submission_archive(tmp_path):
    write_got10k_split(tmp_path / "data", "test", 2, 4, (64, 48), seed=3)
    bench = GOT10kBenchmark(tmp_path / "data", subset="test", sequences=split_names("test", 2))
    result = bench.run(STILL, tmp_path / "out", "still")
    assert set(result["metrics"]) == {"FPS"} and "evaluation server" in result["note"]
    with zipfile.ZipFile(result["submission"]) as zf:
        names = sorted(zf.namelist())
        first = zf.read("Synthetic_Test_000001/Synthetic_Test_000001_001.txt").decode()
    assert names == [
        f"Synthetic_Test_00000{k}/Synthetic_Test_00000{k}_{s}.txt"
        for k in (1, 2)
        for s in ("001", "time")
    ]
    assert len(first.splitlines()) == 4


def test_bad_root_and_subset(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark.root"):
        GOT10kBenchmark(tmp_path, subset="val").sequences()
    with pytest.raises(ValueError, match="subset"):
        GOT10kBenchmark(tmp_path, subset="train")


def test_synthetic_benchmark_caches_its_data(tmp_path):
    bench = SyntheticBenchmark(
        tmp_path, num_sequences=2, num_frames=6, frame_width=64, frame_height=48, seed=0
    )
    seqs = bench.sequences()
    assert [s.name for s in seqs] == ["Synthetic_Val_000001", "Synthetic_Val_000002"]
    stamp = (bench.cache_dir / "val" / "list.txt").stat().st_mtime_ns
    assert SyntheticBenchmark(tmp_path, 2, 6, 64, 48, 0).sequences()[1].frames == seqs[1].frames
    assert (bench.cache_dir / "val" / "list.txt").stat().st_mtime_ns == stamp
    result = bench.run(STILL, tmp_path / "out", "still")
    assert result["benchmark"] == "synthetic" and 0 < result["metrics"]["AO"] <= 1


# ------------------------------------------------------------------ checked before any tracking


def two_val_sequences(tmp_path):
    """Two sequences of GOT-10k val, under their official names."""
    root = tmp_path / "data"
    write_got10k_split(root, "val", 2, 4, (64, 48), seed=4)
    names = [f"GOT-10k_Val_{k:06d}" for k in (1, 2)]
    for old, new in zip(split_names("val", 2), names, strict=True):
        (root / "val" / old).rename(root / "val" / new)
    write_got10k_list(root / "val", names)
    return root, names


def test_incomplete_split_is_an_error_unless_a_subset_is_asked_for(tmp_path):
    root, names = two_val_sequences(tmp_path)
    StillTracker.created = 0
    with pytest.raises(FileNotFoundError, match=r"178 of the 180 got10k val sequences are missing"):
        GOT10kBenchmark(root, "val").run(STILL, tmp_path / "out", "still")
    assert StillTracker.created == 0
    result = GOT10kBenchmark(root, "val", sequences=names[:1]).run(STILL, tmp_path / "o", "still")
    assert result["selection"] == names[:1] and result["num_sequences"] == 1
    assert "Explicit subset (benchmark.sequences): 1 sequences of got10k val" in result["note"]
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["selection"] == names[:1]
    with pytest.raises(ValueError, match=r"benchmark.sequences: \['nope'\] not in got10k"):
        GOT10kBenchmark(root, "val", sequences=["nope"]).sequences()


def test_a_sequence_listed_twice_is_an_error(tmp_path):
    root, names = two_val_sequences(tmp_path)
    (root / "val" / "list.txt").write_text(f"{names[0]}\n{names[1]}\n{names[0]}\n")
    with pytest.raises(ValueError, match=f"sequence {names[0]} appears twice"):
        GOT10kBenchmark(root, "val", sequences=names).sequences()
    with pytest.raises(ValueError, match="appears twice"):
        GOT10kBenchmark(root, "val").sequences()


def test_list_txt_blank_lines_and_trailing_spaces_reach_neither_reader_nor_toolkit(tmp_path):
    root, names = two_val_sequences(tmp_path)
    (root / "val" / "list.txt").write_text(f"{names[0]}  \n\n{names[1]}\n\n")
    result = GOT10kBenchmark(root, "val", sequences=names).run(STILL, tmp_path / "out", "still")
    assert [row["name"] for row in result["sequences"]] == names


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("cover.label", "8\n8\n", r"cover\.label has 2 values for 4 frames"),
        ("absence.label", None, r"absence\.label is missing"),
        (
            "meta_info.ini",
            "[METAINFO]\nresolution (64, 48)\n",
            r"meta_info\.ini:2: .* 'key: value'",
        ),
        ("meta_info.ini", "[METAINFO]\nlength: 4\n", r"meta_info\.ini: no valid 'resolution"),
    ],
    ids=["short-cover", "no-absence", "odd-meta", "no-resolution"],
)
def test_label_quirks_the_toolkit_would_fail_on_stop_before_tracking(
    tmp_path, file, content, message
):
    root, names = two_val_sequences(tmp_path)
    path = root / "val" / names[1] / file
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    StillTracker.created = 0
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        GOT10kBenchmark(root, "val", sequences=names).run(STILL, tmp_path / "out", "still")
    assert StillTracker.created == 0


@pytest.mark.parametrize(
    ("stale", "message"),
    [
        ("boxes:1,1,2,2\n", r"_001\.txt has 1 boxes for 4 frames"),
        ("boxes:", r"_001\.txt is empty"),
        ("no-time", r"_time\.txt is missing"),
        ("time:0.1\n", r"_time\.txt has 1 times for 4 frames"),
        ("repetition", r"_002\.txt is a result of another run"),
    ],
    ids=["short", "empty", "no-time", "short-time", "repetition"],
)
def test_stale_result_files_stop_before_tracking(tmp_path, stale, message):
    root, names = two_val_sequences(tmp_path)
    bench = GOT10kBenchmark(root, "val", sequences=names[:1])
    bench.run(STILL, tmp_path / "out", "still")
    seq_dir = tmp_path / "out" / "still" / names[0]
    boxes, times = seq_dir / f"{names[0]}_001.txt", seq_dir / f"{names[0]}_time.txt"
    if stale == "no-time":
        times.unlink()
    elif stale == "repetition":
        (seq_dir / f"{names[0]}_002.txt").write_text(boxes.read_text())
    elif stale.startswith("time:"):
        times.write_text(stale.removeprefix("time:"))
    else:
        boxes.write_text(stale.removeprefix("boxes:"))
    StillTracker.created = 0
    both = GOT10kBenchmark(root, "val", sequences=names)  # the second one is not tracked yet
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        both.run(STILL, tmp_path / "out", "still")
    assert StillTracker.created == 0
