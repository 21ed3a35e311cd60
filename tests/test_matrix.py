"""Every task x injection x encoder through forward, backward, save -> load -> the same outputs."""
import pytest
import torch

from conftest import build_tiny_model
from ptune.engine.model import load_adapter, save_adapter
from ptune.config import PTuningConfig
from ptune.encoders import ENCODERS
from ptune.injections import INJECTIONS
from ptune.engine.model import PTuningModel
from ptune.tasks import TASKS


def encoder_config(name: str, injection: str):
    # Free deep rows are wider than a word embedding, so they start random rather than from the vocabulary.
    return ENCODERS[name][0](init="random") if name == "embedding" and injection == "deep" else ENCODERS[name][0]()


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("injection", sorted(INJECTIONS))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_forward_backward_save_load(task, injection, encoder, tmp_path):
    torch.manual_seed(0)
    config = PTuningConfig(num_virtual_tokens=3, injection=injection, encoder=encoder_config(encoder, injection),
                           task=TASKS[task].config_cls(head_dropout=0.0), max_length=16)
    labels = list("ab") if task == "question_answering" else list("abcd")  # QA: a start and an end logit
    model = PTuningModel(build_tiny_model("bert"), config, num_labels=len(labels), seed=1)
    ids = torch.randint(5, 60, (2, 6))
    mask = torch.ones_like(ids)
    batch = {"classification": {"labels": torch.tensor([1, 3])},
             "token_classification": {"labels": torch.randint(0, 4, (2, 6))},
             "question_answering": {"allowed": torch.ones(2, 6, dtype=torch.bool), "start_positions": torch.tensor([1, 0]),
                                    "end_positions": torch.tensor([3, 0])}}[task]
    model.train()
    loss = model.task.loss(model(ids, mask), batch)
    loss.backward()
    trained = [p for group in model.trainable_parameters().values() for p in group]
    assert all(p.grad is not None for p in trained) and all(p.grad is None for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        expected = model(ids, mask)
    save_adapter(model, tmp_path, label_names=labels, backbone_name=None)
    loaded, _, saved = load_adapter(tmp_path, backbone=build_tiny_model("bert"))
    assert saved["task"]["type"] == task and saved["ptuning"]["injection"] == injection
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask), expected, atol=1e-6, rtol=1e-6)
    resumed, _, _ = load_adapter(tmp_path, backbone=build_tiny_model("bert"), with_encoder=True)
    resumed.unfold_prompt()
    with torch.no_grad():
        torch.testing.assert_close(resumed(ids, mask), expected, atol=1e-6, rtol=1e-6)
