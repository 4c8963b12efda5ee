"""Track one target through a video file or an image folder; write an annotated video and boxes.

    python demo.py video=clip.mp4 box=120,80,60,90 checkpoint=siamfcpp-alexnet-vot.pkl
    python demo.py video=frames/ experiment=siamfcpp_googlenet checkpoint=PATH device=cuda
    python demo.py video=clip.mp4 onnx_dir=exported/     # the ONNX halves from export.py

See ``conf/demo.yaml`` for the options; the work is done in :mod:`siamfcpp.demo`.
"""

from __future__ import annotations

import re
import sys

import hydra
from omegaconf import DictConfig

from siamfcpp.apps.cli import entry_point
from siamfcpp.apps.demo import demo
from siamfcpp.apps.recorded import with_recorded_model

# Hydra reads `box=1,2,3,4` as a sweep over four values; make it the list the user meant
_BARE_BOX = re.compile(r"^(box=)([^\[\]'\"]+,[^\[\]'\"]+)$")


@hydra.main(version_base="1.3", config_path="conf", config_name="demo")
@entry_point
def main(cfg: DictConfig) -> None:
    demo(cfg)


if __name__ == "__main__":
    sys.argv = [_BARE_BOX.sub(r"\1[\2]", arg) for arg in sys.argv]
    # checkpoint= / onnx_dir= pick the backbone (and an export's search size) they hold
    sys.argv = [sys.argv[0], *with_recorded_model(sys.argv[1:])]
    main()
