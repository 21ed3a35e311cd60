"""SetFit (the `setfit` package) as a compare method: the few-shot peer for sentence tasks.

SetFit fine-tunes a sentence-transformer body contrastively on pairs of the training sentences
(same label: similar; different: dissimilar), then fits a logistic-regression head on the
body's embeddings. This row runs `setfit.Trainer` with its documented defaults (pairs by
oversampling, cosine-similarity loss, one epoch, batch 16, body rate 2e-5, scikit-learn's logistic
regression head), only the seed set, on the same backbone folder (a sentence-transformers model:
mean pooling and normalisation, as the bundled MiniLM ships). SetFit reads single texts: a pair task's
two texts are joined with the tokenizer's separator, "premise [SEP] hypothesis".

Scoring goes through the grid's own features (the protocol's tokenisation and max length) into
the trained body and the fitted head, so SetFit is scored on exactly the inputs every other row
is. It trains the whole body: what it ships is a full model copy, and its cell says so.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ptune.errors import ConfigError

ABSENT_LOGIT = -1e4
"""A label the training rows never showed: the head cannot answer it."""


class SetFitClassifier(nn.Module):
    fits_in_closed_form = True
    wants_examples = True
    """fit_closed_form takes the raw examples: SetFit tokenises its pairs itself."""

    def __init__(self, model_path: str, *, num_labels: int, seed: int, task: str = "classification"):
        super().__init__()
        if task != "classification":
            raise ConfigError("method", [f"setfit classifies sentences; {task} has no SetFit recipe (use ptune, "
                                         "peft-lora, full-ft or logistic-probe)"])
        from ptune.extras import require

        require("compare", "the setfit method")
        from setfit import SetFitModel

        from ptune.tasks import get_task

        self.setfit = SetFitModel.from_pretrained(model_path)
        self.body = self.setfit.model_body  # a submodule: its parameters are counted and moved with this one
        self.num_labels = num_labels
        self.seed = seed
        self.task = get_task("classification")
        self.task_config = self.task.config_cls()
        self.fit_report: dict = {}

    def fit_closed_form(self, features: list[dict], *, pad_token_id: int, batch_size: int, seed: int,
                        examples: list | None = None) -> dict:
        from datasets import Dataset
        from setfit import Trainer, TrainingArguments

        if examples is None or len(examples) != len(features):
            raise ConfigError("method", ["setfit trains on the raw texts: pass the examples beside their features"])
        separator = f" {self.body.tokenizer.sep_token} " if getattr(self.body.tokenizer, "sep_token", None) else " "
        texts = [e.text if e.text_pair is None else e.text + separator + e.text_pair for e in examples]
        labels = [int(f["label"]) for f in features]
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            arguments = TrainingArguments(seed=seed, output_dir=folder, report_to="none", show_progress_bar=False)
            trainer = Trainer(model=self.setfit, args=arguments,
                              train_dataset=Dataset.from_dict({"text": texts, "label": labels}))
            trainer.train()
        body = lambda value: value[0] if isinstance(value, tuple) else value  # noqa: E731  (body, head) pairs
        self.fit_report = {"seconds": time.perf_counter() - started, "train_texts": len(texts),
                           "sampling_strategy": arguments.sampling_strategy, "num_epochs": body(arguments.num_epochs),
                           "batch_size": body(arguments.batch_size),
                           "body_learning_rate": body(arguments.body_learning_rate)}
        return self.fit_report

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """(batch, labels): the head's log-probabilities of the body's sentence embeddings."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        embeddings = self.body(inputs)["sentence_embedding"].float()
        head = self.setfit.model_head
        probabilities = head.predict_proba(embeddings.detach().cpu().numpy())
        logits = np.full((len(probabilities), self.num_labels), ABSENT_LOGIT, dtype=np.float32)
        logits[:, head.classes_.astype(int)] = np.log(np.clip(probabilities, 1e-12, None))
        return torch.from_numpy(logits).to(input_ids.device)

    def parameter_counts(self) -> dict[str, int]:
        body = sum(p.numel() for p in self.body.parameters())
        head = self.setfit.model_head
        fitted = int(head.coef_.size + head.intercept_.size) if hasattr(head, "coef_") else 0
        return {"trainable": body + fitted, "total": body + fitted, "inference": body + fitted, "backbone": body}

    def save_inference_files(self, folder: Path) -> tuple[int, int]:
        """A SetFit model ships its whole fine-tuned body and the head."""
        self.setfit.save_pretrained(str(folder))
        size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        return size, self.parameter_counts()["inference"]
