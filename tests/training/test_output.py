"""The one output guard (ptune.training.output), for both kinds of run: the same rules, the same words."""
import json

import pytest

from ptune.errors import PtuneError
from ptune.training.multitask import MULTITASK_RUN
from ptune.training.output import prepare_output, undo_failed_run
from ptune.training.run import SINGLE_RUN

KINDS = [SINGLE_RUN, MULTITASK_RUN]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_folder_whose_run_stopped_before_its_first_checkpoint_is_reused(kind, tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    (output / kind.settings_file).write_text(json.dumps({"old": True}))
    (output / "train_log.jsonl").write_text("{}\n")
    said = []
    replaced, _ = prepare_output(output, kind=kind, settings={"new": True}, resume=False, overwrite=False,
                                 log=said.append)
    assert replaced is None and said == [f"{output}: reusing the folder of a {kind.name} that stopped before its "
                                         "first checkpoint"]
    assert json.loads((output / kind.settings_file).read_text()) == {"new": True}
    assert not (output / "train_log.jsonl").exists()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_run_folder_is_replaced_only_with_overwrite_and_a_foreign_one_never(kind, tmp_path):
    ours, foreign = tmp_path / "ours", tmp_path / "foreign"
    ours.mkdir(), foreign.mkdir()
    (ours / kind.settings_file).write_text("{}")
    (ours / "metrics.json").write_text("{}")  # a finished run
    (foreign / "thesis.tex").write_text("mine")
    with pytest.raises(PtuneError, match=f"is not empty; pass --overwrite to replace the {kind.name} in it"):
        prepare_output(ours, kind=kind, settings={}, resume=False, overwrite=False)
    with pytest.raises(PtuneError, match=f"is not a ptune {kind.name} folder; refusing to delete it"):
        prepare_output(foreign, kind=kind, settings={}, resume=False, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "mine"
    replaced, _ = prepare_output(ours, kind=kind, settings={"new": 1}, resume=False, overwrite=True)
    assert (replaced / "metrics.json").exists() and not (ours / "metrics.json").exists()
    undo_failed_run(ours, kind=kind, replaced=replaced, resume=False, log=lambda message: None)
    assert (ours / "metrics.json").exists()  # the new run failed: the replaced one is back


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_failed_new_run_leaves_no_settings_behind_and_resume_needs_a_checkpoint(kind, tmp_path):
    output = tmp_path / "run"
    prepare_output(output, kind=kind, settings={"a": 1}, resume=False, overwrite=False)
    with pytest.raises(PtuneError, match="has no checkpoint to resume from; the run stopped before its first"):
        prepare_output(output, kind=kind, settings={"a": 1}, resume=True, overwrite=False)
    undo_failed_run(output, kind=kind, replaced=None, resume=False)
    assert not any(output.iterdir())
