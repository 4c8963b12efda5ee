"""Training-data readers on tiny data sets written here in each data set's official layout."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamfcpp.data.sources.base import TrackSequence, load_frame
from siamfcpp.data.sources.coco import COCOSource
from siamfcpp.data.sources.got10k import GOT10kSource
from siamfcpp.data.sources.ilsvrc_det import ILSVRCDETSource
from siamfcpp.data.sources.ilsvrc_vid import ILSVRCVIDSource
from siamfcpp.data.sources.lasot import LaSOTSource
from siamfcpp.data.sources.synthetic_source import SyntheticSource
from siamfcpp.data.sources.trackingnet import TrackingNetSource
from siamfcpp.data.sources.youtube_bb import YouTubeBBSource


def _jpeg(path: Path, width: int = 32, height: int = 24, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((height, width, 3), value, dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def _lines(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows))


def _voc_xml(path: Path, objects: list[tuple[str | None, tuple[int, int, int, int]]]) -> None:
    """ILSVRC XML: ``objects`` as (trackid or None, (xmin, ymin, xmax, ymax))."""
    parts = ["<annotation><size><width>32</width><height>24</height></size>"]
    for trackid, (x1, y1, x2, y2) in objects:
        track = "" if trackid is None else f"<trackid>{trackid}</trackid>"
        parts.append(
            f"<object>{track}<name>n01</name><bndbox><xmax>{x2}</xmax><xmin>{x1}</xmin>"
            f"<ymax>{y2}</ymax><ymin>{y1}</ymin></bndbox><occluded>0</occluded></object>"
        )
    parts.append("</annotation>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts))


# ---------------------------------------------------------------- GOT-10k


def _got10k(root: Path, subset: str = "train") -> Path:
    name = f"GOT-10k_{subset.capitalize()}_000001"
    seq = root / subset / name
    for t in range(3):
        _jpeg(seq / f"{t + 1:08d}.jpg", value=10 * t)
    _lines(seq / "groundtruth.txt", [(1, 2, 10, 8), (2, 3, 11, 9), (3, 4, 12, 10)])
    _lines(seq / "absence.label", [(0,), (1,), (0,)])
    _lines(seq / "cut_by_image.label", [(0,), (0,), (1,)])
    _lines(seq / "cover.label", [(8,), (0,), (8,)])
    (seq / "meta_info.ini").write_text("[METAINFO]\nobject_class: cat\n")
    (root / subset / "list.txt").write_text(name + "\n")
    return seq


@pytest.mark.parametrize("subset", ["train", "val"])
def test_got10k_reads_boxes_and_marks_absent_frames_invisible(tmp_path, subset):
    seq_dir = _got10k(tmp_path, subset)
    source = GOT10kSource(tmp_path, subset)
    assert len(source) == 1
    seq = source[0]
    assert seq.name == seq_dir.name and not seq.static
    assert [Path(f).name for f in seq.frames] == ["00000001.jpg", "00000002.jpg", "00000003.jpg"]
    np.testing.assert_array_equal(seq.boxes[1], [2, 3, 11, 9])
    np.testing.assert_array_equal(seq.visible, [True, False, True])  # cut_by_image stays visible
    assert load_frame(seq.frames[2])[0, 0, 0] == pytest.approx(20, abs=2)


def test_got10k_errors_name_the_missing_file(tmp_path):
    seq_dir = _got10k(tmp_path)
    (seq_dir / "absence.label").unlink()
    with pytest.raises(FileNotFoundError, match="absence.label"):
        GOT10kSource(tmp_path, "train")[0]
    with pytest.raises(ValueError, match="subset"):
        GOT10kSource(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="GOT-10k val"):
        GOT10kSource(tmp_path, "val")


def test_got10k_malformed_groundtruth_is_named(tmp_path):
    seq_dir = _got10k(tmp_path)
    (seq_dir / "groundtruth.txt").write_text("1,2,3,4\n1,2,x,4\n1,2,3,4\n")
    with pytest.raises(ValueError, match="malformed GOT-10k groundtruth .*groundtruth.txt"):
        GOT10kSource(tmp_path, "train")[0]
    (seq_dir / "groundtruth.txt").write_text("")
    with pytest.raises(ValueError, match="groundtruth.txt: .*no data"):
        GOT10kSource(tmp_path, "train")[0]


def test_got10k_frame_count_mismatch_is_an_error(tmp_path):
    seq_dir = _got10k(tmp_path)
    (seq_dir / "00000003.jpg").unlink()
    with pytest.raises(ValueError, match="2 frames, 3 groundtruth"):
        GOT10kSource(tmp_path, "train")[0]


# ---------------------------------------------------------------- LaSOT


def _lasot(root: Path, name: str) -> Path:
    seq = root / name.rsplit("-", 1)[0] / name
    for t in range(3):
        _jpeg(seq / "img" / f"{t + 1:08d}.jpg")
    _lines(seq / "groundtruth.txt", [(1, 2, 10, 8), (0, 0, 0, 0), (3, 4, 12, 10)])
    _lines(seq / "full_occlusion.txt", [(0, 1, 0)])
    _lines(seq / "out_of_view.txt", [(0, 0, 1)])
    (seq / "nlp.txt").write_text("a thing\n")
    return seq


def test_lasot_reads_all_sequences_or_a_split(tmp_path):
    _lasot(tmp_path, "airplane-1")
    _lasot(tmp_path, "airplane-10")
    _lasot(tmp_path, "bear-2")
    source = LaSOTSource(tmp_path)
    assert len(source) == 3
    seq = source[source.names.index("bear-2")]
    assert len(seq) == 3 and Path(seq.frames[0]).parent.name == "img"
    np.testing.assert_array_equal(seq.boxes[2], [3, 4, 12, 10])
    np.testing.assert_array_equal(seq.visible, [True, False, False])

    split = tmp_path / "training_set.txt"
    split.write_text("airplane-10\nbear-2\n")
    trained = LaSOTSource(tmp_path, split_file=split)
    assert trained.names == ["airplane-10", "bear-2"]
    assert trained[0].name == "airplane-10"


def test_lasot_missing_flags_file_is_named(tmp_path):
    seq = _lasot(tmp_path, "cat-3")
    (seq / "out_of_view.txt").unlink()
    with pytest.raises(FileNotFoundError, match="out_of_view.txt"):
        LaSOTSource(tmp_path)[0]


# ---------------------------------------------------------------- ILSVRC VID


def _vid(root: Path) -> Path:
    video = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
    for t in range(3):
        _jpeg(root / "Data/VID/train" / video / f"{t:06d}.JPEG")
    anno = root / "Annotations/VID/train" / video
    _voc_xml(anno / "000000.xml", [("0", (1, 2, 10, 8)), ("2", (5, 5, 9, 9))])
    _voc_xml(anno / "000001.xml", [("0", (2, 2, 11, 8)), ("1", (0, 0, 3, 3))])
    _voc_xml(anno / "000002.xml", [("2", (6, 5, 10, 9)), ("0", (3, 2, 12, 8))])
    val = "ILSVRC2015_val_00000000"
    for t in range(2):
        _jpeg(root / "Data/VID/val" / val / f"{t:06d}.JPEG")
        _voc_xml(root / "Annotations/VID/val" / val / f"{t:06d}.xml", [("0", (1, 1, 4, 4))])
    return root / "Data/VID/train" / video


def test_vid_makes_one_sequence_per_track_with_two_or_more_frames(tmp_path):
    video_dir = _vid(tmp_path)
    source = ILSVRCVIDSource(tmp_path, ["train"])
    names = [source[i].name for i in range(len(source))]
    assert names == ["ILSVRC2015_train_00000000.0", "ILSVRC2015_train_00000000.2"]  # 1: 1 frame
    track2 = source[1]
    assert [Path(f).name for f in track2.frames] == ["000000.JPEG", "000002.JPEG"]
    assert Path(track2.frames[1]).parent == video_dir
    # inclusive corners: w = xmax - xmin + 1
    np.testing.assert_array_equal(track2.boxes, [[5, 5, 5, 5], [6, 5, 5, 5]])
    assert len(ILSVRCVIDSource(tmp_path, ["train", "val"])) == 3


def test_vid_reads_the_original_cache_and_reroots_its_paths(tmp_path):
    _vid(tmp_path)
    cache = tmp_path / "cache/vid/seq_dict.pkl"
    cache.parent.mkdir(parents=True)
    seq_dict = {
        "ILSVRC2015_val_00000000.0": [
            "/elsewhere/ILSVRC2015/Data/VID/val/ILSVRC2015_val_00000000",
            [0, 1],
            np.array([[1, 1, 4, 4], [1, 1, 4, 4]]),
        ]
    }
    cache.write_bytes(pickle.dumps(seq_dict))
    assert len(ILSVRCVIDSource(tmp_path, ["train"])) == 0
    seq = ILSVRCVIDSource(tmp_path, ["val"])[0]
    assert seq.frames[1] == tmp_path / "Data/VID/val/ILSVRC2015_val_00000000/000001.JPEG"
    assert load_frame(seq.frames[1]).shape == (24, 32, 3)


def test_vid_malformed_xml_is_named(tmp_path):
    _vid(tmp_path)
    bad = tmp_path / "Annotations/VID/val/ILSVRC2015_val_00000000/000001.xml"
    bad.write_text("<annotation><object>")
    with pytest.raises(ValueError, match="000001.xml"):
        len(ILSVRCVIDSource(tmp_path, ["val"]))


# ---------------------------------------------------------------- ILSVRC DET


def test_det_images_are_static_sequences_of_their_objects(tmp_path):
    image = _jpeg(tmp_path / "Data/DET/train/ILSVRC2013_train/n01/n01_1.JPEG")
    _voc_xml(
        tmp_path / "Annotations/DET/train/ILSVRC2013_train/n01/n01_1.xml",
        [(None, (1, 2, 10, 8)), (None, (0, 0, 31, 23))],
    )
    _jpeg(tmp_path / "Data/DET/train/ILSVRC2013_train/n02/n02_7.JPEG")
    _voc_xml(tmp_path / "Annotations/DET/train/ILSVRC2013_train/n02/n02_7.xml", [])
    # one level deep: not part of the original recipe's train set
    _jpeg(tmp_path / "Data/DET/train/ILSVRC2014_train_0000/ILSVRC2014_train_00000001.JPEG")
    source = ILSVRCDETSource(tmp_path, "train")
    assert len(source) == 2
    seq = source[0]
    assert seq.static and list(seq.frames) == [image, image]
    np.testing.assert_array_equal(seq.boxes, [[1, 2, 10, 7], [0, 0, 32, 24]])
    assert len(source[1]) == 0  # no objects: an empty sequence, a rejected draw when sampled


def test_det_missing_annotation_is_named(tmp_path):
    _jpeg(tmp_path / "Data/DET/val/ILSVRC2012_val_00000001.JPEG")
    (tmp_path / "Annotations/DET/val").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_val_00000001.xml"):
        ILSVRCDETSource(tmp_path, "val")[0]


# ---------------------------------------------------------------- COCO


def _coco(root: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _jpeg(root / "train2017" / name)
    poly = [[1, 1, 9, 1, 9, 9]]
    data = {
        "images": [
            {"id": 3, "file_name": "c.jpg", "height": 24, "width": 32},
            {"id": 1, "file_name": "a.jpg", "height": 24, "width": 32},
            {"id": 2, "file_name": "b.jpg", "height": 24, "width": 32},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "bbox": [1, 2, 8, 6], "iscrowd": 0, "segmentation": poly},
            {"id": 11, "image_id": 1, "bbox": [0, 0, 30, 20], "iscrowd": 1,
             "segmentation": {"counts": "xyz", "size": [24, 32]}},
            {"id": 12, "image_id": 2, "bbox": [4, 4, 2, 2], "iscrowd": 0,
             "segmentation": [[1, 1, 2, 2]]},  # no valid polygon: dropped, image b left empty
            {"id": 13, "image_id": 3, "bbox": [5, 6, 7, 8], "iscrowd": 0, "segmentation": poly},
        ],
    }  # fmt: skip
    (root / "annotations").mkdir(parents=True)
    (root / "annotations/instances_train2017.json").write_text(json.dumps(data))


def test_coco_keeps_crowd_boxes_and_drops_invalid_polygons(tmp_path):
    _coco(tmp_path)
    source = COCOSource(tmp_path, ["train2017"])
    assert len(source) == 2  # b.jpg has no valid instance
    first, second = source[0], source[1]
    assert first.static and Path(first.frames[0]).name == "a.jpg"
    np.testing.assert_array_equal(first.boxes, [[1, 2, 8, 6], [0, 0, 30, 20]])
    assert Path(second.frames[0]).name == "c.jpg"
    np.testing.assert_array_equal(second.boxes, [[5, 6, 7, 8]])


def test_coco_reads_the_original_cache(tmp_path):
    _coco(tmp_path)
    records = [
        {
            "file_name": "/elsewhere/coco/train2017/c.jpg",
            "height": 24,
            "width": 32,
            "image_id": 3,
            "annotations": [{"bbox": [1, 1, 5, 5], "iscrowd": 0, "category_id": 1}],
        }
    ]
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache/coco_bbox_train2017.pkl").write_bytes(pickle.dumps(records))
    source = COCOSource(tmp_path, ["train2017"])
    assert len(source) == 1
    assert source[0].frames[0] == tmp_path / "train2017/c.jpg"
    np.testing.assert_array_equal(source[0].boxes, [[1, 1, 5, 5]])


def test_coco_bad_json_is_named(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/instances_val2017.json").write_text("{not json")
    with pytest.raises(ValueError, match="instances_val2017.json"):
        len(COCOSource(tmp_path, ["val2017"]))
    with pytest.raises(FileNotFoundError, match="instances_train2017.json"):
        len(COCOSource(tmp_path, ["train2017"]))


# ---------------------------------------------------------------- TrackingNet


def test_trackingnet_orders_frames_numerically(tmp_path):
    chunk = tmp_path / "TRAIN_3"
    for t in range(11):
        _jpeg(chunk / "frames/vid_a" / f"{t}.jpg")
    _lines(chunk / "anno/vid_a.txt", [(t, 1, 5, 6) for t in range(11)])
    source = TrackingNetSource(tmp_path, chunks=[3])
    assert len(source) == 1
    seq = source[0]
    assert [Path(f).stem for f in seq.frames] == [str(t) for t in range(11)]
    np.testing.assert_array_equal(seq.boxes[10], [10, 1, 5, 6])
    assert seq.visible.all()
    with pytest.raises(FileNotFoundError, match="TRAIN_0"):
        TrackingNetSource(tmp_path, chunks=[0])


# ---------------------------------------------------------------- YouTube-BB


def test_youtube_bb_groups_tracks_and_scales_boxes(tmp_path):
    rows = [
        ("vid1", 2000, 0, "person", 0, "present", 0.5, 0.75, 0.25, 0.5),
        ("vid1", 1000, 0, "person", 0, "present", 0.25, 0.5, 0.0, 0.5),
        ("vid1", 3000, 0, "person", 0, "absent", -1, -1, -1, -1),
        ("vid1", 4000, 0, "person", 0, "present", 0.1, 0.2, 0.1, 0.2),  # not downloaded
        ("vid1", 1000, 0, "person", 1, "present", 0.0, 0.5, 0.0, 0.5),
    ]
    (tmp_path / "yt_bb_detection_train.csv").write_text(
        "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    )
    frames = tmp_path / "youtubebbdevkit2017/youtubebb2017/JPEGImages"
    for yt, stamp, cls, _, obj, *_ in rows[:3] + rows[4:]:
        _jpeg(frames / f"{yt}+{cls}+{obj}+{stamp}.jpg", 40, 20)
    source = YouTubeBBSource(tmp_path, "train")
    assert len(source) == 2
    seq = source[0]
    assert seq.name == "vid1_0_0"
    assert [Path(f).name for f in seq.frames] == [
        "vid1+0+0+1000.jpg",
        "vid1+0+0+2000.jpg",
        "vid1+0+0+3000.jpg",
    ]
    np.testing.assert_allclose(seq.boxes[:2], [[10, 0, 10, 10], [20, 5, 10, 5]])
    np.testing.assert_array_equal(seq.visible, [True, True, False])


def test_youtube_bb_malformed_row_is_named(tmp_path):
    (tmp_path / "youtubebbdevkit2017/youtubebb2017/JPEGImages").mkdir(parents=True)
    (tmp_path / "yt_bb_detection_train.csv").write_text("vid1,abc,0,person,0,present,0,1,0,1\n")
    with pytest.raises(ValueError, match="row 1 of .*yt_bb_detection_train.csv"):
        len(YouTubeBBSource(tmp_path, "train"))


# ---------------------------------------------------------------- synthetic and common


def test_synthetic_source_is_deterministic_and_in_memory():
    source = SyntheticSource(num_sequences=3, num_frames=5, frame_size=(64, 48), seed=7)
    assert len(source) == 3
    seq = source[1]
    frame = seq.frames[4]
    assert isinstance(frame, np.ndarray) and frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    again = SyntheticSource(num_sequences=3, num_frames=5, frame_size=(64, 48), seed=7)[1]
    np.testing.assert_array_equal(again.frames[4], frame)
    np.testing.assert_array_equal(again.boxes, seq.boxes)
    assert not np.array_equal(source[0].boxes, seq.boxes)
    with pytest.raises(IndexError):
        source[3]


def test_load_frame_names_missing_and_corrupt_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.jpg"):
        load_frame(tmp_path / "nothing.jpg")
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_frame(corrupt)


def test_track_sequence_checks_shapes():
    with pytest.raises(ValueError, match="2 frames"):
        TrackSequence("x", ["a", "b"], np.zeros((3, 4)), np.ones(2, dtype=bool))


def test_ragged_annotation_rows_are_an_error(tmp_path):
    seq_dir = _got10k(tmp_path)
    (seq_dir / "groundtruth.txt").write_text("1,2,3,4\n1,2,3\n1,2,3,4,5\n")
    with pytest.raises(ValueError, match="malformed GOT-10k groundtruth"):
        GOT10kSource(tmp_path, "train")[0]
