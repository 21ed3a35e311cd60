"""One writer per output: a second writer is refused naming the holder; a lock left by a dead
process is taken over and said; a clean exit leaves no lock file and no folder it made for nothing."""
import json
import os
import subprocess
import sys

import pytest

from helpers import train, train_here
from ptune.errors import PtuneError
from ptune.format.lock import LOCK_NAME, lock_path, output_lock


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "run"
    with output_lock(folder, command="ptune train"):
        assert (folder / LOCK_NAME).exists()
        with pytest.raises(PtuneError, match=rf"being written by another ptune process {os.getpid()} \('ptune train'"):
            with output_lock(folder):
                pass
    assert not folder.exists()  # made for the lock alone, and left empty: gone again
    with output_lock(folder):  # free again
        (folder / "result.txt").write_text("kept")
    assert sorted(p.name for p in folder.iterdir()) == ["result.txt"]


def test_a_file_output_is_locked_beside_it(tmp_path):
    target = tmp_path / "predictions.jsonl"
    with output_lock(target, folder=False):
        assert lock_path(target, folder=False).exists()
        with pytest.raises(PtuneError, match="--output .*predictions.jsonl is being written"):
            with output_lock(target, folder=False):
                pass
    assert list(tmp_path.iterdir()) == []


def test_a_lock_left_by_a_dead_process_is_taken_over_and_said(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "command": "ptune train", "since": 0}))
    said = []
    with output_lock(folder, say=said.append):
        pass
    assert len(said) == 1 and f"taking over the lock left by process {int(dead.stdout)}" in said[0]
    assert not (folder / LOCK_NAME).exists()


def test_a_training_into_a_folder_being_written_is_refused_and_touches_nothing(tiny_backbone_dir, tmp_path):
    output = tmp_path / "run"
    with output_lock(output, command="ptune train --output run"):
        refused = train(tiny_backbone_dir, output)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert f"being written by another ptune process {os.getpid()}" in refused.stderr
        assert sorted(p.name for p in output.iterdir()) == [LOCK_NAME]  # the holder's folder, untouched
    finished = train_here(tiny_backbone_dir, output)  # once the holder is done
    assert finished.returncode == 0, finished.stderr
    assert (output / "ptune_config.json").exists() and not (output / LOCK_NAME).exists()


@pytest.mark.parametrize("command", ["compare", "multitask"])
def test_compare_and_multitask_refuse_an_output_being_written(tiny_backbone_dir, tmp_path, capsys, command):
    from conftest import DEMO
    from ptune.cli import main

    output = tmp_path / "out"
    args = {"compare": ["compare", "--data", str(DEMO), "--model", str(tiny_backbone_dir), "--methods", "linear-probe",
                        "--seeds", "0", "--output", str(output), "--no-plots"],
            "multitask": ["multitask", "--model", str(tiny_backbone_dir), "--task", f"a=classification:{DEMO}",
                          "--task", f"b=classification:{DEMO}", "--steps", "2", "--output", str(output)]}[command]
    with output_lock(output, command="ptune other"):
        assert main(args) == 2
        assert "being written by another ptune process" in capsys.readouterr().err
        assert sorted(p.name for p in output.iterdir()) == [LOCK_NAME]
