"""Every family in the table x every task x every injection, on tiny random configs built here:
forward and backward (only prompt and head learn), padding invariance, the folded table equal to
the encoder, save -> load -> the same outputs, and a mixed-task batch equal to each row alone.
Adding a family to ptune.engine.families (and its config to family_configs.py) adds its rows."""
import pytest
import torch

from family_configs import family_model
from ptune.config import PTuningConfig
from ptune.engine.adapter import TaskAdapter
from ptune.engine.core import Engine
from ptune.engine.families import FAMILIES
from ptune.engine.model import PTuningModel
from ptune.engine.model import load_adapter, save_adapter
from ptune.tasks import TASKS

TASK_CASES = ["classification", "pairs", "token_classification", "question_answering"]
INJECTIONS = {"input-after_cls": ("input", "after_cls"), "input-prefix": ("input", "prefix"), "deep": ("deep", "after_cls")}
K = 3
LENGTH, SHORT = 9, 6  # row 1 of every batch is padded after SHORT tokens


def task_name(case: str) -> str:
    return "classification" if case == "pairs" else case


def make_config(case: str, injection: str, k: int = K) -> PTuningConfig:
    kind, placement = INJECTIONS[injection]
    task = TASKS[task_name(case)].config_cls(head_dropout=0.0)
    return PTuningConfig(num_virtual_tokens=k, injection=kind, placement=placement, task=task, max_length=32)


def num_labels(case: str) -> int:
    return 2 if case == "question_answering" else 3  # QA: a start and an end logit


def inputs(case: str, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (2, LENGTH), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, SHORT:] = 0
    types = torch.zeros_like(ids)
    if case == "pairs":  # a second segment, as a tokenizer gives sentence pairs
        types[:, 4:] = 1
        types[1, SHORT:] = 0
    return ids, mask, types


def targets(case: str) -> dict:
    return {"classification": {"labels": torch.tensor([1, 2])}, "pairs": {"labels": torch.tensor([0, 2])},
            "token_classification": {"labels": torch.randint(0, 3, (2, LENGTH))},
            "question_answering": {"allowed": torch.ones(2, LENGTH, dtype=torch.bool),
                                   "start_positions": torch.tensor([1, 0]), "end_positions": torch.tensor([3, 0])}}[case]


def real_part(logits: torch.Tensor, row: int, case: str) -> torch.Tensor:
    """The logits of row `row` at its real tokens (token-level tasks) or the row's logits."""
    return logits[row, :SHORT] if logits.dim() == 3 else logits[row]


@pytest.mark.parametrize("injection", sorted(INJECTIONS))
@pytest.mark.parametrize("case", TASK_CASES)
@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_family_task_injection(model_type, case, injection, tmp_path):
    model = PTuningModel(family_model(model_type), make_config(case, injection), num_labels=num_labels(case), seed=1)
    ids, mask, types = inputs(case)

    model.train()
    loss = model.task.loss(model(ids, mask, types), targets(case))
    loss.backward()
    trained = [p for group in model.trainable_parameters().values() for p in group]
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in trained) and all(p.grad is None for p in model.backbone.parameters())
    assert sum(p.grad.abs().sum() for p in model.encoder.parameters()) > 0  # the prompt reaches the loss

    model.eval()
    with torch.no_grad():
        expected = model(ids, mask, types)
        alone = model(ids[1:, :SHORT], mask[1:, :SHORT], types[1:, :SHORT])
        torch.testing.assert_close(real_part(expected, 1, case), real_part(alone, 0, case), atol=2e-5, rtol=1e-4)
        model.fold_prompt()
        torch.testing.assert_close(model(ids, mask, types), expected, atol=1e-6, rtol=1e-6)

    labels = [f"l{i}" for i in range(num_labels(case))]
    save_adapter(model, tmp_path, label_names=labels, backbone_name=None)
    loaded, _, saved = load_adapter(tmp_path, backbone=family_model(model_type))
    assert saved["backbone"]["model_type"] == model_type
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask, types), expected, atol=1e-6, rtol=1e-6)


MIXED = [("classification", "deep"), ("token_classification", "input-after_cls"), ("pairs", "input-prefix"),
         ("question_answering", "deep"), ("classification", "input-after_cls")]


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_a_mixed_task_batch_equals_each_row_alone(model_type):
    """Five adapters (every task, every injection, prompts of different lengths) on one engine; each
    row of one batch through its own adapter gives what that row gives alone."""
    check_mixed_batch(family_model(model_type))


def test_a_mixed_task_batch_equals_each_row_alone_on_the_bundled_minilm(minilm):
    check_mixed_batch(minilm[0])


def check_mixed_batch(backbone):
    engine = Engine(backbone)
    adapters = []
    for seed, (case, injection) in enumerate(MIXED):
        adapter = TaskAdapter(make_config(case, injection, k=2 + seed), backbone=engine.prompted,
                              num_labels=num_labels(case), seed=seed)
        engine.attach(adapter)
        adapter.eval()
        adapter.fold_prompt()
        adapters.append(adapter)
    rows = [0, 1, 2, 3, 4, 0, 2, 1]  # adapters interleaved, one adapter on several rows
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 100, (len(rows), LENGTH), generator=generator)
    lengths = [LENGTH, SHORT, 7, LENGTH, 5, 8, SHORT, LENGTH]
    mask = (torch.arange(LENGTH)[None, :] < torch.tensor(lengths)[:, None]).long()
    types = torch.zeros_like(ids)
    types[2, 4:lengths[2]] = 1
    with torch.no_grad():
        mixed = engine.mixed_logits(ids, mask, types, adapters=[adapters[a] for a in rows])
        for row, (a, n) in enumerate(zip(rows, lengths)):
            alone = engine.logits(ids[row:row + 1, :n], mask[row:row + 1, :n], types[row:row + 1, :n],
                                  adapter=adapters[a])[0]
            got = mixed[row][:n] if mixed[row].dim() == 2 else mixed[row]
            torch.testing.assert_close(got, alone.float(), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_without_prompts_ptune_runs_the_familys_own_forward(model_type):
    """ptune's positions, masks and hooks on plain text give what the family computes itself."""
    from ptune.engine.backbone import accepts_token_type_ids
    from ptune.engine.prompted import PromptedBackbone

    backbone = family_model(model_type)
    ids, mask, types = inputs("pairs")
    extra = {"token_type_ids": types} if accepts_token_type_ids(backbone) else {}
    with torch.no_grad():
        stock = backbone(input_ids=ids, attention_mask=mask, **extra).last_hidden_state
        prompted = PromptedBackbone(backbone)
        prompted.attention_layers  # noqa: B018  (the deep-prompt routing installed, no prompt set)
        ours = prompted(ids, mask, types).states
    real = mask.bool()
    torch.testing.assert_close(ours[real], stock[real], atol=1e-5, rtol=1e-4)
