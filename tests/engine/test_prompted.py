"""The prompted backbone takes prompts per row: rows with different prompts (and prompt lengths,
padded and masked) in one batch give what each row gives alone."""
import pytest
import torch

from conftest import build_tiny_model
from ptune.config import PTuningConfig
from ptune.engine.model import PTuningModel
from ptune.engine.core import Engine
from ptune.injections import PromptPart, Prompts
from ptune.engine.prompted import PromptedBackbone


def adapters(backbone, injection, placement, lengths):
    return [PTuningModel(backbone, PTuningConfig(num_virtual_tokens=k, injection=injection, placement=placement),
                         num_labels=2, seed=i).adapter.eval() for i, k in enumerate(lengths)]


def stacked(prompts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's prompt padded to the longest: (batch, K, width) rows and a (batch, K) mask."""
    longest = max(p.shape[0] for p in prompts)
    rows = torch.zeros(len(prompts), longest, prompts[0].shape[1])
    mask = torch.zeros(len(prompts), longest, dtype=torch.long)
    for i, prompt in enumerate(prompts):
        rows[i, : prompt.shape[0]], mask[i, : prompt.shape[0]] = prompt, 1
    return rows, mask


@pytest.mark.parametrize("injection, placement", [("input", "after_cls"), ("input", "prefix"), ("deep", "after_cls")])
def test_mixed_prompt_rows_equal_each_row_alone(injection, placement):
    torch.manual_seed(0)
    backbone = build_tiny_model("bert")
    prompted = PromptedBackbone(backbone).eval()
    bank = adapters(backbone, injection, placement, lengths=[2, 5, 3])
    ids = torch.randint(5, 60, (3, 8))
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0
    with torch.no_grad():
        rows, prompt_mask = stacked([a.prompt() for a in bank])
        mixed = prompted(ids, mask, prompts=Prompts(parts={injection: PromptPart(rows, prompt_mask)}, placement=placement))
        for i, adapter in enumerate(bank):
            alone = prompted(ids[i:i + 1], mask[i:i + 1], prompts=Engine.prompts(Engine(backbone), [adapter], placement=placement))
            keep = mask[i].bool()
            torch.testing.assert_close(mixed.text_states[i, keep], alone.text_states[0, keep], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(mixed.states[i, mixed.cls_index], alone.states[0, alone.cls_index],
                                       atol=1e-5, rtol=1e-5)
