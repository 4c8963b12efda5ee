"""Deprecated location of the ONNX export command: ``python -m siamfcpp.export`` still works and
says to use ``python export.py`` (same options; the code is :mod:`siamfcpp.apps.export`)."""

from __future__ import annotations

import warnings

from siamfcpp.apps.export import main

if __name__ == "__main__":
    warnings.warn(
        "`python -m siamfcpp.export` is deprecated: use `python export.py` (same options)",
        FutureWarning,
        stacklevel=1,
    )
    main()
