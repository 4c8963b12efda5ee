"""The got10k toolkit (0.1.3), importable under numpy 2.

got10k 0.1.3 still spells ``np.NaN``, an alias numpy 2 removed; its modules fail with
``AttributeError`` when they reach it. Importing the toolkit through this module first restores the
alias, only where it is missing (numpy < 2 keeps its own). Import got10k names from here.
"""

from __future__ import annotations

import numpy as np

if not hasattr(np, "NaN"):
    setattr(np, "NaN", np.nan)  # noqa: B010 (a plain assignment would trip numpy-2 lint rules)

from got10k.datasets import OTB, GOT10k  # noqa: E402
from got10k.experiments import ExperimentGOT10k  # noqa: E402
from got10k.utils.metrics import rect_iou  # noqa: E402

__all__ = ["GOT10k", "OTB", "ExperimentGOT10k", "rect_iou"]
