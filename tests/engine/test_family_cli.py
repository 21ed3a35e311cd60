"""`ptune train --model DIR` and `ptune predict` for the families added to the table beyond BERT's
own: a tiny random model of each saved like a Hub model (config, weights, tokenizer) and loaded by
the same code that loads a Hub name."""
import json

import pytest

from conftest import build_tokenizer
from family_configs import family_model
from helpers import ptune_here as ptune, train_here as train


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


def test_a_deberta_v3_folder_with_only_a_sentencepiece_model_trains(tmp_path):
    """As microsoft/deberta-v3-base ships: spm.model and tokenizer_config.json, no tokenizer.json;
    transformers converts the SentencePiece model (the `sentencepiece` dependency)."""
    import sentencepiece

    from conftest import DEMO

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(line.split("\t", 1)[1] for line in (DEMO / "train.tsv").read_text().splitlines()[1:]))
    folder = tmp_path / "deberta-v3-like"
    folder.mkdir()
    sentencepiece.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "spm"), vocab_size=200,
                                             pad_id=0, unk_id=3, bos_id=1, eos_id=2, minloglevel=2,
                                             user_defined_symbols=["[CLS]", "[SEP]", "[MASK]", "[PAD]"])
    (folder / "spm.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "DebertaV2Tokenizer", "vocab_type": "spm", "do_lower_case": False, "split_by_punct": False,
        "bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "mask_token": "[MASK]"}))
    family_model("deberta-v2", vocab_size=200).save_pretrained(folder)
    result = train(folder, tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    predicted = ptune("predict", "--adapter", tmp_path / "run", "a gripping film")
    assert predicted.returncode == 0 and "label" in json.loads(predicted.stdout), predicted.stderr[-3000:]
