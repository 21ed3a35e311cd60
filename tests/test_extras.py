"""Every optional dependency missing is one line naming the `pip install 'ptune[...]'` to run:
each extra's packages are hidden (set to None in sys.modules, as if not installed)."""
import sys

import pytest

from conftest import DEMO
from ptune.cli import main
from ptune.errors import PtuneError
from ptune.extras import EXTRAS, require


def hide(monkeypatch, extra):
    for name in EXTRAS[extra]:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_require_names_the_pip_command(monkeypatch, extra):
    hide(monkeypatch, extra)
    with pytest.raises(PtuneError, match=rf"pip install 'ptune\[{extra}\]'"):
        require(extra, "this feature")


def command_error(capsys, argv) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


@pytest.mark.parametrize("extra, argv", [
    ("serve", ["serve", "--adapter", "a=runs/a"]),
    ("compare", ["compare", "--data", str(DEMO), "--output", "OUT"]),
    ("compare", ["ablate", "--data", str(DEMO), "--output", "OUT"]),
    ("onnx", ["export", "--adapter", "runs/a", "--output", "OUT"]),
    ("peft", ["bench", "speed"]),
    ("hub", ["train", "--data", "glue/sst2", "--output", "OUT"]),
    ("hub", ["train", "--task", "ner", "--data", "conll2003", "--output", "OUT"]),
    ("bundled", ["train", "--output", "OUT"]),
])
def test_each_command_says_which_extra_to_install(monkeypatch, capsys, tmp_path, extra, argv):
    hide(monkeypatch, extra)
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    error = command_error(capsys, argv)
    errors = [line for line in error.splitlines() if "error:" in line]  # `train` first says where it trains
    assert len(errors) == 1 and f"pip install 'ptune[{extra}]'" in errors[0], error


def test_a_missing_tracker_names_its_extra(monkeypatch):
    from ptune.training.trackers import missing_packages

    hide(monkeypatch, "tensorboard")
    assert missing_packages("tensorboard") == ["report_to='tensorboard' needs the 'tensorboard' package: "
                                               "pip install 'ptune[tensorboard]'"]


def test_the_extras_table_matches_pyproject():
    import tomllib

    from conftest import ROOT

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(declared)
    for extra, modules in EXTRAS.items():
        packages = " ".join(declared[extra]).replace("-", "_")
        assert all(module in packages for module in modules), extra
