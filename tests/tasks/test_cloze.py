"""The cloze head (ptune.tasks.cloze): template, verbalizer, truncation, the frozen MLM head of each
family, and training / predicting / mixing with it."""
import json

import pytest
import torch

from conftest import build_tokenizer
from family_configs import family_config
from helpers import ptune_here as ptune, train_here as train
from ptune.config import PTuningConfig
from ptune.data import Example, LabelSet
from ptune.errors import ConfigError, DataError, PtuneError
from ptune.tasks import ClassificationConfig, get_task
from ptune.tasks.cloze import ClozeTemplate, Verbalizer, parse_label_words, template_problems

WORDS = "negative=awful|dull,positive=great|good"


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(None)


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory, tokenizer):
    """A tiny BERT saved with its pretraining heads, as bert-base-uncased is on the Hub."""
    from transformers import BertConfig, BertForPreTraining

    folder = tmp_path_factory.mktemp("tiny-bert-mlm")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    BertForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def cloze_config(**extra) -> ClassificationConfig:
    return ClassificationConfig(head="cloze", label_words=WORDS, **extra)


# ---- the template -----------------------------------------------------------------------------
@pytest.mark.parametrize("template, says", [
    ("{text} It was.", "no [MASK]"),
    ("{text} [MASK] or [MASK]", "[MASK] appears 2 times"),
    ("It was [MASK].", "no {text}"),
    ("{text} {prompt} [MASK]", "{prompt} must open the template"),
    ("{sentence} [MASK]", "unknown placeholder(s) ['{sentence}']"),
])
def test_a_bad_template_is_refused_saying_what_to_fix(template, says):
    assert any(says in problem for problem in template_problems(template))
    with pytest.raises(ConfigError, match=r"template"):
        cloze_config(template=template)


def test_a_cloze_head_needs_label_words():
    with pytest.raises(ConfigError, match="needs label_words"):
        ClassificationConfig(head="cloze")


def test_label_words_parse_from_the_command_line_form():
    assert parse_label_words(WORDS) == {"negative": ["awful", "dull"], "positive": ["great", "good"]}
    assert parse_label_words({"a": "x", "b": ["y", "z"]}) == {"a": ["x"], "b": ["y", "z"]}
    with pytest.raises(ConfigError, match="is not LABEL=WORD"):
        parse_label_words("negative:awful")


def test_the_mask_survives_truncation_and_only_the_text_is_cut(tokenizer):
    template = ClozeTemplate("{prompt} {text} It was [MASK].", tokenizer)
    long_text = " ".join(["great"] * 100)
    ids = template.encode(long_text, None, max_length=12)
    assert len(ids) == 12
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert ids.count(tokenizer.mask_token_id) == 1
    tail = tokenizer.convert_ids_to_tokens(ids[-6:])
    assert tail == ["it", "was", "[MASK]", ".", "[SEP]"][-6:] or tail[-5:] == ["it", "was", "[MASK]", ".", "[SEP]"]


def test_a_mask_typed_in_the_text_is_not_the_mask(tokenizer):
    ids = ClozeTemplate("{text} It was [MASK].", tokenizer).encode("a [MASK] film", None, max_length=32)
    assert ids.count(tokenizer.mask_token_id) == 1 and tokenizer.unk_token_id in ids


def test_pairs_truncate_the_longer_text_first(tokenizer):
    template = ClozeTemplate("{text} ? [MASK] , {text_pair}", tokenizer)
    ids = template.encode("good " * 3, "dull " * 40, max_length=16)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == 16 and tokens.count("good") == 3 and tokens.count("[MASK]") == 1


def test_a_template_longer_than_max_length_is_refused(tokenizer):
    template = ClozeTemplate("{text} it was , all in all , a truly [MASK] one .", tokenizer)
    with pytest.raises(ConfigError, match="leaves no room for the text"):
        template.encode("good", None, max_length=8)


def test_pairs_need_a_text_pair_slot(tokenizer):
    examples = [Example("good", "film", label="positive")]
    with pytest.raises(DataError, match=r"put \{text_pair\} in the template"):
        get_task("classification").features(examples, tokenizer=tokenizer, max_length=32, labels=None,
                                            config=cloze_config())


# ---- the verbalizer ---------------------------------------------------------------------------
def test_several_words_per_label_resolve_in_label_order(tokenizer):
    verbalizer = Verbalizer.resolve(parse_label_words(WORDS), label_names=["negative", "positive"], tokenizer=tokenizer)
    assert verbalizer.token_ids == [tokenizer.convert_tokens_to_ids(["awful", "dull"]),
                                    tokenizer.convert_tokens_to_ids(["great", "good"])]


@pytest.mark.parametrize("words, says", [
    ({"negative": ["zzyzx"], "positive": ["great"]}, "is not in this backbone's vocabulary"),
    ({"negative": ["awful"]}, "gives no word for label(s) ['positive']"),
    ({"negative": ["awful"], "positive": ["great"], "neutral": ["fine"]}, "does not have as labels"),
    ({"negative": ["great"], "positive": ["great"]}, "is given for both"),
])
def test_a_bad_verbalizer_is_refused_clearly(tokenizer, words, says):
    with pytest.raises(DataError, match=says.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        Verbalizer.resolve(words, label_names=["negative", "positive"], tokenizer=tokenizer)


def test_a_word_of_several_pieces_is_refused_naming_them():
    from transformers import BertTokenizerFast

    pieces = BertTokenizerFast(vocab={w: i for i, w in enumerate(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "great", "un", "##great"])})
    with pytest.raises(DataError, match=r"'ungreat' is 2 word pieces .*\(un ##great\)"):
        Verbalizer.resolve({"a": ["ungreat"], "b": ["great"]}, label_names=["a", "b"], tokenizer=pieces)


# ---- the frozen MLM head of every family ------------------------------------------------------
@pytest.mark.parametrize("model_type, extra", [
    ("bert", {}), ("roberta", {}), ("distilbert", {}), ("electra", {}), ("albert", {}), ("modernbert", {}),
    ("deberta-v2", {}), ("deberta-v2", {"legacy": False}), ("mpnet", {}), ("xlm-roberta", {}),
])
def test_the_mlm_head_scores_as_the_familys_masked_lm_model(model_type, extra, tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM

    from ptune.engine.prompted import PromptedBackbone

    config = family_config(model_type)
    for key, value in extra.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    masked_lm = AutoModelForMaskedLM.from_config(config).eval()
    masked_lm.save_pretrained(tmp_path)
    prompted = PromptedBackbone(AutoModel.from_pretrained(tmp_path).eval())
    input_ids = torch.tensor([[2, 17, 40, 9, 4, 3], [2, 30, 5, 3, 0, 0]])
    mask = (input_ids != 0).long() if model_type != "roberta" else torch.ones_like(input_ids)
    with torch.no_grad():
        expected = masked_lm(input_ids=input_ids, attention_mask=mask).logits
        states = prompted(input_ids, mask).states
        found = prompted.mlm_head(states)
    real = mask.bool()
    torch.testing.assert_close(found[real], expected[real], atol=1e-5, rtol=1e-4)
    assert not any(p.requires_grad for p in prompted.mlm_head.parameters())
    assert not any(k.startswith("_mlm") for k in prompted.state_dict())  # never saved with anything


def test_a_checkpoint_without_an_mlm_head_is_refused(tiny_backbone_dir):
    from transformers import AutoModel

    from ptune.engine.prompted import PromptedBackbone

    prompted = PromptedBackbone(AutoModel.from_pretrained(tiny_backbone_dir))
    with pytest.raises(PtuneError, match="has no pretrained MLM head .*--head linear"):
        prompted.mlm_head  # noqa: B018


# ---- the head in the engine -------------------------------------------------------------------
def cloze_adapter(prompted, tokenizer, *, injection="input", seed=0):
    from ptune.engine.adapter import TaskAdapter

    task = get_task("classification")
    config = cloze_config()
    config = task.bind_tokenizer(config, tokenizer, LabelSet(("negative", "positive")))
    settings = PTuningConfig(task=config, injection=injection, num_virtual_tokens=3)
    return TaskAdapter(settings, backbone=prompted, num_labels=2, seed=seed).eval()


def batch_of(tokenizer, texts, config):
    task = get_task("classification")
    features = task.features([Example(t) for t in texts], tokenizer=tokenizer, max_length=24, labels=None,
                             config=config)
    return task.collate(features, pad_token_id=tokenizer.pad_token_id)


def test_the_head_reads_the_mask_state_past_the_virtual_tokens(mlm_dir, tokenizer):
    """Input-level virtual tokens sit after [CLS]; the head must read the [MASK]'s own state, not
    the state at the mask's text index."""
    from transformers import AutoModel

    from ptune.engine.core import Engine

    engine = Engine(AutoModel.from_pretrained(mlm_dir).eval())
    adapter = cloze_adapter(engine.prompted, tokenizer, injection="input")
    batch = batch_of(tokenizer, ["a great film", "dull and far too long for anyone"], adapter.config.task)
    with torch.no_grad():
        logits = engine.logits(batch["input_ids"], batch["attention_mask"], adapter=adapter)
        output = engine.prompted(batch["input_ids"], batch["attention_mask"],
                                 prompts=engine.prompts([adapter, adapter], placement="after_cls"))
        mask_at = (batch["input_ids"] == tokenizer.mask_token_id).int().argmax(1)
        states = output.states[torch.arange(2), 1 + 3 + mask_at - 1]  # [CLS], 3 virtual tokens, then the text
        vocabulary = engine.prompted.mlm_head(states)
    ids = torch.tensor(adapter.config.task.label_token_ids)
    expected = vocabulary[:, ids].logsumexp(-1)
    torch.testing.assert_close(logits, expected)


def test_a_cloze_adapter_mixes_with_a_linear_one_in_one_batch(mlm_dir, tokenizer):
    from transformers import AutoModel

    from ptune.engine.adapter import TaskAdapter
    from ptune.engine.core import Engine

    engine = Engine(AutoModel.from_pretrained(mlm_dir).eval())
    cloze = cloze_adapter(engine.prompted, tokenizer, injection="deep")
    linear = TaskAdapter(PTuningConfig(injection="deep", num_virtual_tokens=5), backbone=engine.prompted,
                         num_labels=2, seed=1).eval()
    cloze_batch = batch_of(tokenizer, ["a great film", "dull"], cloze.config.task)
    linear_batch = batch_of(tokenizer, ["a great film", "dull"], linear.config.task)
    from ptune.data.transforms import collate

    rows = [{"input_ids": ids[m.bool()].tolist()} for ids, m in zip(cloze_batch["input_ids"], cloze_batch["attention_mask"])]
    rows += [{"input_ids": ids[m.bool()].tolist()} for ids, m in zip(linear_batch["input_ids"], linear_batch["attention_mask"])]
    mixed = collate(rows, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        together = engine.mixed_logits(mixed["input_ids"], mixed["attention_mask"],
                                       adapters=[cloze, cloze, linear, linear])
        alone = list(engine.logits(cloze_batch["input_ids"], cloze_batch["attention_mask"], adapter=cloze)) + \
            list(engine.logits(linear_batch["input_ids"], linear_batch["attention_mask"], adapter=linear))
    for got, want in zip(together, alone):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_only_the_prompt_trains(mlm_dir, tokenizer):
    from transformers import AutoModel

    from ptune.engine.prompted import PromptedBackbone

    prompted = PromptedBackbone(AutoModel.from_pretrained(mlm_dir))
    adapter = cloze_adapter(prompted, tokenizer)
    assert sum(p.numel() for p in adapter.head.parameters()) == 0
    assert all(not k.startswith("head.") or k in ("head.word_ids", "head.word_mask")
               for k in adapter.trainable_state_dict())  # the MLM head is never saved with an adapter


# ---- the command line -------------------------------------------------------------------------
def test_train_predict_and_reload_a_cloze_adapter(mlm_dir, tmp_path):
    result = train(mlm_dir, tmp_path / "run", "--head", "cloze", "--label-words", WORDS,
                   "--template", "{prompt} {text} All in all it was [MASK].")
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path / "run" / "ptune_config.json").read_text())["ptuning"]["task"]
    assert saved["head"] == "cloze" and saved["label_words"]["positive"] == ["great", "good"]
    assert len(saved["label_token_ids"]) == 2 and saved["mask_token_id"] is not None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["parameters"]["head"] == 0 and metrics["parameters"]["trainable"] == metrics["parameters"]["encoder"]
    texts = ["a great film", "dull and far too long"]
    predicted = ptune("predict", "--adapter", tmp_path / "run", *texts)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [sorted(r["probabilities"]) for r in rows] == [["negative", "positive"]] * 2

    from ptune.inference.predictor import Predictor

    again = Predictor(tmp_path / "run").predict(texts)
    for row, other in zip(rows, again):
        assert row["probabilities"] == pytest.approx(other["probabilities"], abs=1e-6)


def test_a_label_word_the_vocabulary_lacks_stops_before_training(mlm_dir, tmp_path):
    result = train(mlm_dir, tmp_path / "run", "--head", "cloze", "--label-words", "negative=zzyzx,positive=great")
    assert result.returncode != 0 and "not in this backbone's vocabulary" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_a_backbone_without_an_mlm_head_is_refused_saying_what_to_use(tiny_backbone_dir, tmp_path):
    result = train(tiny_backbone_dir, tmp_path / "run", "--head", "cloze", "--label-words", WORDS)
    assert result.returncode != 0 and "--head linear" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
