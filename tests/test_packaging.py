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

pytestmark = pytest.mark.slow  # end to end: run by `make test`, left out by `-m "not slow"`

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


def working_copy(folder: Path) -> Path:
    """The repository as a clean checkout has it: a build in the repository itself would reuse (and
    leave) setuptools' build/ folder, whose stale files from an earlier build end up in the wheel."""
    import shutil

    shutil.copytree(ROOT, folder, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache", "results"))
    return folder


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


def install_and_run(package: Path, venv: Path, dependencies: Path, tmp_path: Path) -> None:
    python = clean_venv(venv, dependencies)
    # a PYTHONPATH naming a source tree would shadow the installed copy (pip would even skip the
    # install, finding ptune there): the clean venv is installed and run without one
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1"}
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", package,
        env=env)
    located = run(python, "-c", "import ptune; print(ptune.__file__)", env=env).strip()
    assert located.startswith(str(venv)), located  # the installed copy, not the source tree
    from ptune import __version__

    assert run(venv / "bin" / "ptune", "--version", env=env).strip() == f"ptune {__version__}"
    out = run(venv / "bin" / "ptune", "demo", "--epochs", "1", "--output", tmp_path / "demo", cwd=tmp_path, env=env)
    assert "accuracy" in out and (tmp_path / "demo" / "ptune_config.json").exists()


def test_the_sdist_and_wheel_build_install_into_a_clean_venv_and_run_the_demo(dependencies, tmp_path):
    """The sdist holds the sources, the wheel built from it (what pip does with an sdist) holds the
    package and its data; installed alone into a clean venv, it runs the offline demo."""
    source = working_copy(tmp_path / "source")
    direct = build("wheel", source, tmp_path / "dist")
    names = zipfile.ZipFile(direct).namelist()
    assert "ptune/resources/train.tsv" in names and "ptune/serve/app.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    sdist = build("sdist", source, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        sources = archive.getnames()
        archive.extractall(tmp_path / "unpacked", filter="data")
    top = sources[0].split("/")[0]
    for needed in ("LICENSE", "README.md", "pyproject.toml", "src/ptune/resources/dev.tsv", "src/ptune/cli/main.py"):
        assert f"{top}/{needed}" in sources, needed
    wheel = build("wheel", tmp_path / "unpacked" / top, tmp_path / "wheel-from-sdist")
    assert sorted(zipfile.ZipFile(wheel).namelist()) == sorted(names)  # the same package either way
    install_and_run(wheel, tmp_path / "venv", dependencies, tmp_path)
