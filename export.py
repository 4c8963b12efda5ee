"""Export the network's template and search halves to ONNX.

    python export.py checkpoint=PATH.pkl output_dir=exported/alexnet
    python export.py experiment=siamfcpp_googlenet checkpoint=PATH.pkl output_dir=DIR

See ``conf/export.yaml`` for the options; the work is done in :mod:`siamfcpp.apps.export`.
"""

from __future__ import annotations

from siamfcpp.apps.export import main

if __name__ == "__main__":
    main()
