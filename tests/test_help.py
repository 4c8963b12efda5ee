"""``--help`` of every entry point: only the config groups it uses, each option with the comment
that documents it in its YAML file."""

from __future__ import annotations

import re

import pytest
from hydra import compose, initialize_config_dir

from siamfcpp.apps.export import main as export_main
from tests.cli import run_script
from tests.conftest import CONF_DIR

# entry point -> (groups listed, groups it must not list, lines that must appear)
EXPECTED = {
    "evaluate": (
        ["backbone", "tracker", "benchmark", "experiment", "logger", "paths", "hparams_search"],
        ["data", "trainer", "module"],
        ["# score existing result files instead of tracking", "# how fast the box size follows"],
    ),
    "train": (
        ["backbone", "data", "module", "trainer", "logger", "callbacks", "paths", "recipe"]
        + ["hparams_search"],
        ["benchmark", "tracker"],
        [
            "# resume from this Lightning .ckpt",
            "== trainer=cpu (conf/trainer/cpu.yaml) ==",
            "== paths=default (conf/paths/default.yaml) ==",
        ],
    ),
    "demo": (
        ["backbone", "tracker", "experiment", "paths"],
        ["benchmark", "data", "logger"],
        ["# first frame to track (earlier frames are skipped)", "max_size: null"],
    ),
    "compare": (
        ["benchmark", "paths"],
        ["backbone", "tracker"],
        ["# display names, one per run; null = the runs' tracker names", "runs: ???"],
    ),
}


def _groups(text: str) -> list[str]:
    section = text.split("== Config groups", 1)[1].split("\n== ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^(\w+) +\S", section, flags=re.M)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_help_template_lists_the_used_groups_and_the_comments(name):
    listed, absent, lines = EXPECTED[name]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(name, return_hydra_config=True)
    text = cfg.hydra.help.template.replace("$$", "$")  # as Hydra's string.Template prints it
    assert _groups(text) == listed
    for group in absent:
        assert group not in _groups(text)
    for line in lines:
        assert line in text, line


def test_export_help_has_no_benchmark_group(capsys):
    export_main(["--help"])
    text = capsys.readouterr().out
    assert _groups(text) == ["backbone", "tracker", "experiment", "paths"]
    assert "# ONNX opset of the exported graphs" in text


def test_evaluate_help_is_printed_by_hydra(tmp_path):
    text = run_script("evaluate.py", "--help", cwd=tmp_path).stdout
    assert text.startswith("python evaluate.py")
    assert "benchmark       got10k lasot otb [synthetic]" in text
    assert "output_dir: ${hydra:runtime.output_dir}" in text  # `$` unescaped
