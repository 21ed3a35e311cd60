"""`ptune ablate`: the seed lab's table 6.2 on ptune's P-tuning, plus the sweeps around it.

Each row removes or changes one thing from the full configuration and is reported with its delta
against it. Table 6.2 ablates P-tuning's prompt encoder, so the full configuration is input-level
P-tuning through the residual MLP, named explicitly (`ptune[injection=input]`): ptune's default
injection is deep prompts, whose default encoder has no MLP to ablate.
"""
from __future__ import annotations

from dataclasses import dataclass

FULL = "ptune[injection=input]"


def _p(settings: str) -> str:
    return f"ptune[injection=input;{settings}]"


@dataclass(frozen=True)
class AblationRow:
    label: str
    method: str
    group: str
    """`table 6.2` (the lab's four removals), or the sweep the row belongs to."""
    lab_accuracy: float | None = None
    """What the seed lab printed for this removal (BERT-base, SST-2), for the side-by-side column."""


ROWS = [
    AblationRow("full configuration", FULL, "table 6.2", 91.2),
    AblationRow("without the prompt encoder (plain embeddings)", _p("encoder=embedding"), "table 6.2", 85.3),
    AblationRow("without virtual tokens (linear probe)", "linear-probe", "table 6.2", 87.2),
    AblationRow("without the MLP middle layer (one linear map)", _p("depth=0"), "table 6.2", 89.8),
    AblationRow("without the residual connection", _p("residual=false"), "table 6.2", 90.1),
    AblationRow("LayerNorm off", _p("layer_norm=false"), "encoder"),
    AblationRow("dropout 0.1 in the encoder", _p("dropout=0.1"), "encoder"),
    AblationRow("bi-LSTM encoder", _p("encoder=lstm"), "encoder"),
    AblationRow("depth 2", _p("depth=2"), "depth"),
    AblationRow("depth 3", _p("depth=3"), "depth"),
    AblationRow("depth 4", _p("depth=4"), "depth"),
    AblationRow("5 virtual tokens", _p("num_virtual_tokens=5"), "virtual tokens"),
    AblationRow("10 virtual tokens", _p("num_virtual_tokens=10"), "virtual tokens"),
    AblationRow("50 virtual tokens", _p("num_virtual_tokens=50"), "virtual tokens"),
    AblationRow("placement prefix (PEFT's layout)", _p("placement=prefix"), "placement"),
    AblationRow("pooling over the text's states only", _p("pooling=text_mean"), "pooling"),
    AblationRow("deep prompts in every layer (P-tuning v2)", "ptune[injection=deep]", "injection"),
    AblationRow("deep prompts through an MLP reparameterisation", "ptune[injection=deep;encoder=mlp]", "injection"),
]


def ablation_methods(rows: list[AblationRow] = ROWS) -> list[str]:
    return [row.method for row in rows]
