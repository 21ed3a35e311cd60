"""An output flag never destroys an input of the same command, --overwrite or not."""
import pytest

from ptune.errors import PtuneError
from ptune.format.files import check_output_file


def test_an_output_that_is_an_input_is_refused_even_with_overwrite(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev.tsv").write_text("sentence\tlabel\na\tb\n")
    for output, inputs in ((data / "dev.tsv", [data / "dev.tsv"]), (data / "dev.tsv", [data]),
                           (data / "." / "dev.tsv", [str(data / "dev.tsv")])):
        with pytest.raises(PtuneError, match="is an input of this command"):
            check_output_file(output, overwrite=True, flag="--json", inputs=inputs)
    assert (data / "dev.tsv").read_text() == "sentence\tlabel\na\tb\n"
    # beside the inputs, or not a data file: fine
    assert check_output_file(tmp_path / "metrics.json", overwrite=True, flag="--json", inputs=[data])
    assert check_output_file(data / "notes.md", overwrite=True, flag="--json", inputs=[data])


def test_predict_and_eval_refuse_to_write_over_their_inputs(random_adapters, tmp_path, capsys):
    from ptune.cli import main

    texts = tmp_path / "texts.txt"
    texts.write_text("great food\nbad service\n")
    assert main(["predict", "--adapter", str(random_adapters["sst2"]), "--file", str(texts), "--output", str(texts),
                 "--overwrite"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert texts.read_text() == "great food\nbad service\n"
    data = tmp_path / "d"
    data.mkdir()
    (data / "dev.tsv").write_text("sentence\tlabel\ngreat food\ta\n")
    assert main(["eval", "--adapter", str(random_adapters["sst2"]), "--data", str(data / "dev.tsv"),
                 "--json", str(data / "dev.tsv"), "--overwrite"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert (data / "dev.tsv").read_text() == "sentence\tlabel\ngreat food\ta\n"


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    import errno

    from ptune.format.files import atomic_write

    target = tmp_path / "metrics.json"
    target.write_text("old")

    def disk_full(temp):
        temp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(PtuneError, match="no space left on device.*the previous file is kept"):
        atomic_write(target, disk_full)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left
    with pytest.raises(ZeroDivisionError):  # a bug in the writer is not dressed up as a disk problem
        atomic_write(target, lambda temp: 1 / 0)


def test_an_output_folder_is_checked_without_leaving_anything(tmp_path):
    from ptune.format.files import check_output_folder

    (tmp_path / "file").write_text("x")
    with pytest.raises(PtuneError, match="that is a file, not a folder"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(PtuneError, match="is a file, so no folder can be made under it"):
        check_output_folder(tmp_path / "file" / "a" / "b")
    assert check_output_folder(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # the probe left nothing, made nothing


@pytest.mark.parametrize("marker", ["ptune_config.json", "run_config.json", "ptune_export.json"])
def test_an_output_file_is_never_inside_an_adapter_run_or_export_folder(tmp_path, marker):
    owned = tmp_path / "folder"
    (owned / "checkpoints").mkdir(parents=True)
    (owned / marker).write_text("{}")
    (owned / "model.onnx").write_bytes(b"91 MB of graph")
    for target in (owned / "model.onnx", owned / "predictions.jsonl", owned / "checkpoints" / "out.json"):
        with pytest.raises(PtuneError, match="whose files ptune manages"):
            check_output_file(target, overwrite=True, flag="--output")
    assert (owned / "model.onnx").read_bytes() == b"91 MB of graph"
    assert check_output_file(tmp_path / "predictions.jsonl", overwrite=False, flag="--output")


def test_files_written_together_are_all_written_or_none(tmp_path):
    import errno

    from ptune.format.files import write_together

    first, second = tmp_path / "inference.safetensors", tmp_path / "ptune_config.json"

    def disk_full(temp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(PtuneError, match="no space left on device.*nothing was written"):
        write_together({first: lambda p: p.write_text("new"), second: disk_full}, what="adapter")
    assert list(tmp_path.iterdir()) == []
    first.write_text("old")
    second.write_text("old")
    with pytest.raises(PtuneError, match="the previous adapter is kept"):
        write_together({first: lambda p: p.write_text("new"), second: disk_full}, what="adapter")
    assert first.read_text() == "old" and second.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inference.safetensors", "ptune_config.json"]
    write_together({first: lambda p: p.write_text("new"), second: lambda p: p.write_text("new")}, what="adapter")
    assert first.read_text() == "new" and second.read_text() == "new"


def test_predict_never_writes_into_the_export_it_reads(random_adapters, tmp_path, capsys):
    from ptune.cli import main

    export = tmp_path / "export"
    export.mkdir()
    (export / "ptune_export.json").write_text("{}")
    (export / "model.onnx").write_bytes(b"graph")
    assert main(["predict", "--adapter", str(random_adapters["sst2"]), "great", "--output", str(export / "model.onnx"),
                 "--overwrite"]) == 2
    assert "whose files ptune manages" in capsys.readouterr().err
    assert (export / "model.onnx").read_bytes() == b"graph"


def test_an_output_folder_is_never_inside_an_adapter_run_or_export(tmp_path):
    from ptune.format.files import check_output_folder

    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text("{}")
    with pytest.raises(PtuneError, match="inside the run .*choose a folder outside it"):
        check_output_folder(run / "export")
    assert check_output_folder(run) == run  # the run's own folder: --overwrite and --resume decide
    assert check_output_folder(tmp_path / "other") == tmp_path / "other"
