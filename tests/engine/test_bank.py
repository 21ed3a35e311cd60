"""The adapter bank: separately trained adapters on one backbone, and mixed-task batches that give
what each task gives alone."""
import pytest
import torch

from agreement import answers_agree
from conftest import KINDS, build_tiny_model, save_random_adapter as make_adapter
from ptune.engine.bank import AdapterBank
from ptune.engine.core import forward_groups
from ptune.config import PTuningConfig
from ptune.errors import ArtifactError, ConfigError
from ptune.inference.predictor import Predictor
from ptune.engine.model import PTuningModel

TEXTS = ["a gripping film", "the movie was dull and far too long", "great",
         "John lives in London with Mary", "an honest , moving story of two friends"]


def test_mixed_batch_equals_each_task_alone(random_adapters, tiny_backbone_dir):
    bank = AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))
    requests = [(name, TEXTS[(i * 3 + j) % len(TEXTS)]) for i, name in enumerate(KINDS) for j in range(3)]
    requests = [(name, (text, TEXTS[0]) if name == "rte" else text) for name, text in requests]  # rte: pairs
    requests = requests[::2] + requests[1::2]  # tasks interleaved in the batch
    rows = []
    for name, text in requests:
        entry = bank.get(name)
        rows.append((entry, bank.features(entry, bank.examples(entry, [text]))[0]))
    mixed = bank.run(rows)
    worst = 0.0
    for (name, text), logits in zip(requests, mixed):
        alone = Predictor(random_adapters[name], model_name=str(tiny_backbone_dir)).outputs(
            bank.examples(bank.get(name), [text]))[0]
        assert logits.shape == alone.shape
        worst = max(worst, (logits - alone).abs().max().item())
    assert worst < 1e-5, worst


def test_decoded_predictions_match_the_single_task_predictor(random_adapters, tiny_backbone_dir):
    bank = AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))
    requests = [("ner", "John lives in London"), ("sst2", "great"), ("chunk", "Mary met John"), ("rte", ("dull", "boring"))]
    for (name, text), result in zip(requests, bank.predict(requests, batch_size=3)):
        # Labels and spans equal; scores to 1e-5: a batch padded to another length runs other BLAS
        # kernels, so a score rounded to six places can differ in its last digit.
        alone = Predictor(random_adapters[name], model_name=str(tiny_backbone_dir)).predict([text])[0]
        assert answers_agree(result, alone, atol=1e-5), (result, alone)


def test_rows_are_grouped_only_where_placements_differ(tiny_bert):
    backbone, _ = tiny_bert
    after = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=2, injection="input"), num_labels=2).adapter
    prefix = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=2, injection="input", placement="prefix"),
                          num_labels=2).adapter
    deep = PTuningModel(backbone, PTuningConfig(num_virtual_tokens=2, injection="deep"), num_labels=2).adapter
    assert forward_groups([deep, deep]) == [[0, 1]]
    assert forward_groups([deep, after, deep]) == [[0, 1, 2]]
    assert forward_groups([after, prefix, deep, prefix]) == [[0, 2], [1, 3]]


def test_an_adapter_of_another_backbone_is_refused_naming_both_fingerprints(random_adapters, tiny_backbone_dir, tmp_path):
    from ptune.engine.backbone import fingerprint

    other = build_tiny_model("bert")
    with torch.no_grad():
        other.embeddings.word_embeddings.weight.add_(0.5)
    foreign = make_adapter(other, tiny_backbone_dir, tmp_path / "foreign", task="classification", injection="deep",
                           placement="after_cls", k=3, seed=0)
    bank = AdapterBank.from_adapters({"sst2": random_adapters["sst2"]}, model_name=str(tiny_backbone_dir))
    with pytest.raises(ArtifactError) as error:
        bank.add("foreign", foreign)
    message = str(error.value)
    assert "'foreign'" in message and fingerprint(other)[:23] in message and bank.fingerprint[:23] in message
    assert "foreign" not in bank


def test_names_are_checked_and_never_silently_replaced(random_adapters, tiny_backbone_dir):
    bank = AdapterBank.from_adapters({"sst2": random_adapters["sst2"]}, model_name=str(tiny_backbone_dir))
    with pytest.raises(ConfigError, match="already loaded"):
        bank.add("sst2", random_adapters["rte"])
    with pytest.raises(ConfigError, match="task name"):
        bank.add("../x", random_adapters["rte"])
    bank.add("sst2", random_adapters["rte"], replace=True)
    assert bank.get("sst2").path == random_adapters["rte"]
    assert bank.remove("sst2") is not None and len(bank) == 0


def test_a_bf16_bank_stores_the_backbone_in_bf16_and_stays_close_to_fp32(random_adapters, tiny_backbone_dir):
    full = AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))
    half = AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir), precision="bf16")
    assert half.prompted.word_embeddings.weight.dtype == torch.bfloat16 and half.fingerprint == full.fingerprint
    assert all(p.dtype == torch.float32 for entry in half.entries().values() for p in entry.adapter.head.parameters())
    requests = [(name, (TEXTS[1], TEXTS[0]) if name == "rte" else TEXTS[3]) for name in KINDS]
    rows = lambda bank: [(bank.get(n), bank.features(bank.get(n), bank.examples(bank.get(n), [t]))[0]) for n, t in requests]
    for a, b in zip(full.run(rows(full)), half.run(rows(half))):
        assert a.dtype == b.dtype == torch.float32
        torch.testing.assert_close(b, a, atol=0.25, rtol=0.05)


def test_rows_split_by_length_come_back_in_order_and_unchanged(random_adapters, tiny_backbone_dir):
    bank = AdapterBank.from_adapters(random_adapters, model_name=str(tiny_backbone_dir))
    texts = ["great", TEXTS[1] + " " + TEXTS[4], TEXTS[3], "dull", TEXTS[1]]
    rows = [(bank.get(name), bank.features(bank.get(name), bank.examples(bank.get(name), [t]))[0])
            for name in ("sst2", "ner", "topic") for t in texts]
    calls = []
    run = bank.run
    bank.run = lambda chunk: calls.append(len(chunk)) or run(chunk)
    split = bank.run_by_length(rows, max_padding=0.25)
    assert len(calls) > 1 and sum(calls) == len(rows)  # short and long rows went to different forwards
    for row, alone in zip(split, [run([r])[0] for r in rows]):
        torch.testing.assert_close(row, alone, atol=1e-5, rtol=1e-5)


def test_features_made_from_many_threads_at_once_equal_one_at_a_time(tiny_bert, tiny_backbone_dir, tmp_path):
    """A server tokenizes its requests in worker threads; the fast tokenizer's truncation state
    is shared, so adapters of different lengths must not truncate with each other's settings."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from conftest import save_random_adapter

    backbone, _ = tiny_bert
    folders = {}
    for name, length in (("short", 8), ("long", 60)):
        folders[name] = save_random_adapter(backbone, tiny_backbone_dir, tmp_path / name, task="classification",
                                            injection="deep", placement="after_cls", k=2, seed=0)
        config = json.loads((folders[name] / "ptune_config.json").read_text())
        config["ptuning"]["max_length"] = length
        (folders[name] / "ptune_config.json").write_text(json.dumps(config))
    bank = AdapterBank.from_adapters(folders, model_name=str(tiny_backbone_dir))
    pair = (" ".join(TEXTS) * 3, TEXTS[4] * 2)
    expected = {name: bank.features(bank.get(name), bank.examples(bank.get(name), [pair]))[0]["input_ids"]
                for name in folders}
    assert len(expected["short"]) == 8 and len(expected["long"]) == 60
    jobs = ["short", "long"] * 200
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda n: bank.features(bank.get(n), bank.examples(bank.get(n), [pair]))[0]["input_ids"], jobs))
    assert all(ids == expected[name] for name, ids in zip(jobs, made))
