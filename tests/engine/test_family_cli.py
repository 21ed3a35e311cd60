"""`ptune train --model DIR` and `ptune predict` for the families added to the table beyond BERT's
own: a tiny random model of each saved like a Hub model (config, weights, tokenizer) and loaded by
the same code that loads a Hub name."""
import json

import pytest

from conftest import build_tokenizer
from family_configs import family_model
from helpers import ptune, train


@pytest.fixture(scope="module", params=["deberta-v2", "modernbert", "albert", "mpnet"])
def family_dir(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    tokenizer = build_tokenizer(folder)
    tokenizer.save_pretrained(folder)
    family_model(request.param, vocab_size=len(tokenizer)).save_pretrained(folder)
    return request.param, folder


def test_train_and_predict_from_a_local_folder(family_dir, tmp_path):
    """Deep prompts (the default injection); every injection x task runs in test_family_matrix.py."""
    model_type, folder = family_dir
    injection = "deep"
    result = train(folder, tmp_path / "run", "--injection", injection)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path / "run" / "ptune_config.json").read_text())
    assert saved["backbone"]["model_type"] == model_type and saved["ptuning"]["injection"] == injection
    predicted = ptune("predict", "--adapter", tmp_path / "run", "a gripping film", "dull and far too long")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 2 and all("label" in row for row in rows)
