"""OmegaConf resolvers of the Hydra configs (registered when :mod:`siamfcpp` is imported).

``${siamfcpp.help:<config>,[hidden groups]}`` is the ``--help`` text of an entry point
(``hydra.help.template``): the usage comment of ``conf/<config>.yaml``, the config groups its
defaults list uses (with their options, the default in brackets, and the comment above each),
its own options and those of the default group choices, with their YAML comments.

``${siamfcpp.score_size:z_size,x_size,total_stride,conv_bn}`` is the side of the score map the
network produces for template crops of ``z_size`` and search crops of ``x_size``. Both backbones
are fully convolutional with stride ``total_stride``, so when ``x_size - z_size`` is a multiple
of it the correlation map has ``(x_size - z_size) / total_stride + 1`` cells, and each 3x3 head
tower conv (one per ``conv_bn`` flag) takes one from every border. Deriving it keeps one source
of truth: ``model.head.x_size`` (or ``data.crop.x_size`` in training) sets the geometry and the
head, targets and tracker follow, for any backbone.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class ConfigValueError(ValueError):
    """A config value outside its allowed range.

    ``key`` is relative to the config node the object is built from (``test_lr`` of the tracker
    node); the entry points name the node in front (``tracker.test_lr``, see
    :mod:`siamfcpp.apps.cli`).
    """

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(self.message())

    def message(self, prefix: str = "") -> str:
        key = f"{prefix}.{self.key}" if prefix else self.key
        return f"{key}={self.value!r} is not allowed: {self.expected}"


def config_int(key: str, value: Any, minimum: int, *, hint: str = "") -> int:
    """``value`` of config key ``key`` as an ``int``; raise :class:`ConfigValueError` unless it
    is a whole number ``>= minimum`` (``hint`` is appended to the allowed range)."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < minimum:
        raise ConfigValueError(key, value, f"an integer >= {minimum}{hint}")
    return int(value)


def config_number(
    key: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    above: bool = False,
) -> float:
    """``value`` of config key ``key`` as a ``float``; raise :class:`ConfigValueError` unless it
    is a finite number in ``[low, high]`` (``(low, high]`` with ``above``; None: unbounded)."""
    if low is None and high is None:
        expected = "a finite number"
    elif high is None:
        expected = f"a number {'>' if above else '>='} {low:g}"
    elif low is None:
        expected = f"a number <= {high:g}"
    else:
        expected = f"a number in {'(' if above else '['}{low:g}, {high:g}]"
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not math.isfinite(value):
        raise ConfigValueError(key, value, expected)
    if (low is not None and (value <= low if above else value < low)) or (
        high is not None and value > high
    ):
        raise ConfigValueError(key, value, expected)
    return float(value)


def score_size(z_size: int, x_size: int, total_stride: int, conv_bn: Sequence[bool]) -> int:
    """Score-map side of the network for ``z_size`` / ``x_size`` crops (see the module doc)."""
    if not isinstance(x_size, int) or x_size < z_size:
        raise ValueError(
            f"the search crop model.head.x_size={x_size!r} (data.crop.x_size in training) must "
            f"be an integer >= the template size {z_size}"
        )
    if (x_size - z_size) % total_stride:
        # then the side depends on each backbone's rounding (AlexNet and GoogLeNet differ)
        raise ValueError(
            f"x_size {x_size} - z_size {z_size} is not a multiple of the stride {total_stride}: "
            "the score-map side is not derived for such crops; set model.head.score_size "
            "explicitly (the GoogLeNet training recipe's 289 gives 17)"
        )
    side = (x_size - z_size) // total_stride + 1 - 2 * len(conv_bn)
    if side < 1:
        raise ValueError(f"x_size {x_size} is too small for a score map (z_size {z_size})")
    return side


def _defaults(lines: list[str]) -> tuple[list[tuple[str, str, list[str]]], int, int]:
    """``(group, default, comments)`` of the defaults list in a config's lines, and the line
    range ``[start, end)`` of that list."""
    start = lines.index("defaults:")
    entries, comments, end = [], [], start + 1
    for end in range(start + 1, len(lines) + 1):
        line = lines[end].strip() if end < len(lines) else ""
        if end == len(lines) or (lines[end] and not lines[end].startswith(" ")):
            break
        if line.startswith("#"):
            comments.append(line.lstrip("# "))
        elif line.startswith("- ") and ":" in line and not line.startswith("- override"):
            group, default = (part.strip() for part in line[2:].split(":", 1))
            entries.append((group, default, comments))
            comments = []
        else:
            comments = []
    return entries, start, end


def _without_hydra_section(lines: list[str]) -> list[str]:
    """The lines outside the top-level ``hydra:`` block."""
    kept, inside = [], False
    for line in lines:
        if line and not line.startswith((" ", "#")):
            inside = line.startswith("hydra:")
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def config_help(name: str, hidden: Sequence[str] = ()) -> str:
    """The ``--help`` text of the entry point composed from ``conf/<name>.yaml`` (see the module
    docstring); groups named in ``hidden`` (present only so that presets compose) are left out."""
    lines = (CONF_DIR / f"{name}.yaml").read_text().splitlines()
    entries, start, end = _defaults(lines)
    usage = [line.lstrip("# ") for line in lines[:start] if line.startswith("#")]
    out = [*usage, "", "== Config groups: group=option (default in brackets) =="]
    shown = [(g, d, c) for g, d, c in entries if g not in hidden and not g.startswith("hydra")]
    width = max((len(g) for g, _, _ in shown), default=0) + 2
    for group, default, comments in shown:
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if p.stem[0] != "_")
        listed = " ".join(f"[{o}]" if o == default else o for o in options)
        out.append(f"{group:<{width}}{listed}" + ("  (default: none)" if default == "null" else ""))
        out += [f"{'':<{width}}{comment}" for comment in comments]
    out += ["", f"== Options of {name}.py: key=value ==", *_without_hydra_section(lines[end:])]
    for group, default, _ in shown:
        if default != "null":
            text = (CONF_DIR / group / f"{default}.yaml").read_text().rstrip().splitlines()
            out += ["", f"== {group}={default} (conf/{group}/{default}.yaml) ==", *text]
    out += [
        "",
        "Override any key shown (e.g. tracker.test_lr=0.5); --cfg job prints the composed "
        "config, --hydra-help Hydra's own options.",
    ]
    return "\n".join(out) + "\n"


def _help_template(name: str, hidden: Sequence[str] = ()) -> str:
    """:func:`config_help` as a ``hydra.help.template`` (Hydra fills it in as a
    ``string.Template``, so ``$`` is doubled)."""
    return config_help(name, hidden).replace("$", "$$")


def register_resolvers() -> None:
    """Register the resolvers (idempotent)."""
    if not OmegaConf.has_resolver("siamfcpp.score_size"):
        OmegaConf.register_new_resolver("siamfcpp.score_size", score_size)
    if not OmegaConf.has_resolver("siamfcpp.help"):
        OmegaConf.register_new_resolver("siamfcpp.help", _help_template)


def rename_overrides(argv: Sequence[str], renames: Mapping[str, str]) -> list[str]:
    """Command-line overrides with deprecated spellings replaced, each with a note on stderr.

    ``renames`` maps an old spelling to the new one: a key prefix ending in ``.`` (e.g.
    ``checkpoint.`` -> ``callbacks.model_checkpoint.``) renames every key under it; any other
    entry (e.g. ``experiment=siamfcpp_alexnet-trn``) renames that exact override. Hydra's
    ``+`` / ``++`` / ``~`` markers are kept.
    """
    out = []
    for arg in argv:
        marker = arg[: len(arg) - len(arg.lstrip("+~"))]
        body = arg[len(marker) :]
        for old, new in renames.items():
            if body == old or (old.endswith(".") and body.startswith(old)):
                renamed = marker + new + body[len(old) :]
                print(f"note: `{arg}` is deprecated, use `{renamed}`", file=sys.stderr)
                arg = renamed
                break
        out.append(arg)
    return out
