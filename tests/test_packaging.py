"""The wheel and the sdist build, install into a clean virtual environment, and run `ptune demo`
there: what a user installing ptune outside this repository gets."""
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

OURS = ("ptune", "__editable__", "ptune-", "__pycache__")


def run(*command, cwd=None, env=None) -> str:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build(kind: str, source: Path, out: Path) -> Path:
    """PEP 517 build through setuptools' backend (what `python -m build` calls), no network."""
    out.mkdir(exist_ok=True)
    name = run(sys.executable, "-c", f"from setuptools import build_meta as b; print(b.build_{kind}({str(out)!r}))",
               cwd=source).strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory) -> Path:
    """This environment's installed packages, ptune itself left out: a clean venv sees them through
    one .pth line, so nothing is downloaded and ptune comes only from the package under test."""
    view = tmp_path_factory.mktemp("deps")
    site = Path(sysconfig.get_paths()["purelib"])
    for item in site.iterdir():
        if not item.name.startswith(OURS) and item.suffix != ".pth":
            (view / item.name).symlink_to(item)
    return view


def clean_venv(folder: Path, dependencies: Path) -> Path:
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    python = folder / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "dependencies.pth").write_text(f"{dependencies}\n")
    return python


def install_and_run(package: Path, venv: Path, dependencies: Path, tmp_path: Path, *, demo: bool) -> None:
    python = clean_venv(venv, dependencies)
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", package)
    located = run(python, "-c", "import ptune; print(ptune.__file__)").strip()
    assert located.startswith(str(venv)), located  # the installed copy, not the source tree
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    from ptune import __version__

    assert run(venv / "bin" / "ptune", "--version", env=env).strip() == f"ptune {__version__}"
    if not demo:  # the installed package still finds its bundled data
        run(python, "-c", "import ptune.cli as c; assert (c.DEMO_DATA / 'train.tsv').is_file()")
        return
    out = run(venv / "bin" / "ptune", "demo", "--epochs", "1", "--output", tmp_path / "demo", cwd=tmp_path, env=env)
    assert "accuracy" in out and (tmp_path / "demo" / "ptune_config.json").exists()


def test_the_wheel_installs_into_a_clean_venv_and_runs_the_demo(dependencies, tmp_path):
    wheel = build("wheel", ROOT, tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ptune/resources/train.tsv" in names and "ptune/serve/app.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    install_and_run(wheel, tmp_path / "venv", dependencies, tmp_path, demo=True)


def test_the_sdist_builds_a_wheel_that_installs_and_runs(dependencies, tmp_path):
    sdist = build("sdist", ROOT, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        archive.extractall(tmp_path / "unpacked", filter="data")
    top = names[0].split("/")[0]
    for needed in ("LICENSE", "README.md", "pyproject.toml", "src/ptune/resources/dev.tsv", "src/ptune/cli.py"):
        assert f"{top}/{needed}" in names, needed
    wheel = build("wheel", tmp_path / "unpacked" / top, tmp_path / "wheel-from-sdist")
    install_and_run(wheel, tmp_path / "venv", dependencies, tmp_path, demo=False)  # the demo ran from the wheel
