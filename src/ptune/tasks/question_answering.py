"""Extractive question answering (SQuAD v1.1 and v2.0): a start and an end logit per context token.

Each question + context pair is encoded as `[CLS] question [SEP] context [SEP]` with its
token_type_ids kept; a context longer than the window is split into windows that overlap by
`doc_stride` tokens. The head reads the text's states only (never virtual positions), and the
loss and the decoding see context tokens only, plus [CLS] as the no-answer position. Decoding
takes the n best starts and ends of every window, keeps spans of at most `max_answer_length`
tokens, picks the best across windows and maps it back to character offsets in the original
context; for SQuAD 2.0 it answers "" when the no-answer score beats the best span by more than
`no_answer_threshold`. Scores are the official exact match and F1 (ptune.tasks.squad_metrics).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ptune.data.examples import LabelSet
from ptune.data.squad import QAExample, load_squad
from ptune.errors import ConfigError
from ptune.tasks.squad_metrics import squad_scores
from ptune.tasks.base import Task, TaskConfig, register_task

if TYPE_CHECKING:  # the head needs torch; features and decoding do not
    import torch
    from torch import nn

CLS_POSITION = 0
MASKED = -1e4  # the logit a disallowed position (question, special token, padding) gets
SPAN_LABELS = ("start", "end")


@dataclass
class QuestionAnsweringConfig(TaskConfig):
    doc_stride: int | None = None
    """Tokens shared by consecutive windows of a long context (default: a quarter of max_length)."""
    max_question_length: int = 64
    """Longer questions are cut to this many word pieces."""
    max_answer_length: int = 30
    """Longest answer span, in word pieces."""
    n_best: int = 20
    """Start and end candidates per window that decoding combines."""
    with_negative: bool = False
    """SQuAD 2.0: a question may have no answer (set from the training data)."""
    no_answer_threshold: float = 0.0
    """Answer "" when the no-answer score exceeds the best span's score by more than this."""

    def problems(self) -> list[str]:
        found = super().problems()
        if self.doc_stride is not None and self.doc_stride < 1:
            found.append(f"doc_stride={self.doc_stride}: expected >= 1")
        for name in ("max_question_length", "max_answer_length", "n_best"):
            if getattr(self, name) < 1:
                found.append(f"{name}={getattr(self, name)}: expected >= 1")
        return found


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int
    score: float


@register_task
class QuestionAnsweringTask(Task):
    name = "question_answering"
    config_cls = QuestionAnsweringConfig
    primary_metric = "f1"
    metric_choices = ("f1", "exact")
    input_form = "qa"

    # ---- data -----------------------------------------------------------------------------
    def read(self, source, *, split: str, **_options) -> list[QAExample]:
        return load_squad(source, split=split)

    def example(self, item, index: int = 0) -> QAExample:
        if isinstance(item, QAExample):
            example = item
        elif isinstance(item, dict) and isinstance(item.get("question"), str) and isinstance(item.get("context"), str):
            example = QAExample(id=str(item.get("id", index)), question=item["question"], context=item["context"])
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item):
            example = QAExample(id=str(index), question=item[0], context=item[1])
        else:
            raise ValueError(f"expected {{'question': ..., 'context': ...}} or a (question, context) pair, "
                             f"got {type(item).__name__}")
        if not example.question.strip() or not example.context.strip():
            raise ValueError("the question or the context is empty; there is nothing to answer")
        return example

    def label_set(self, examples) -> LabelSet:
        return LabelSet(SPAN_LABELS)  # two logits per token: start and end

    def adapt_config(self, config: QuestionAnsweringConfig, examples) -> QuestionAnsweringConfig:
        """SQuAD 2.0 data (any unanswerable question) turns on the no-answer decision."""
        return dataclasses.replace(config, with_negative=config.with_negative or any(e.is_impossible for e in examples))

    def windows(self, max_length: int, config: QuestionAnsweringConfig) -> tuple[int, int]:
        """(question length limit, stride) that leave every window room for context."""
        question = min(config.max_question_length, max_length // 2)
        room = max_length - question - 3  # [CLS] question [SEP] context [SEP]
        if room < 8:
            raise ConfigError("question_answering", [
                f"max_length={max_length} leaves no room for context beside a question; use --max-length 256 or more"])
        stride = config.doc_stride if config.doc_stride is not None else max_length // 4
        return question, min(stride, room // 2)

    def features(self, examples, *, tokenizer, max_length, labels, config: QuestionAnsweringConfig | None = None):
        if not examples:
            return []
        config = config or QuestionAnsweringConfig()
        question_limit, stride = self.windows(max_length, config)
        questions = [self.cut_question(e.question.lstrip(), tokenizer, question_limit) for e in examples]
        encoded = tokenizer(questions, [e.context for e in examples], truncation="only_second", max_length=max_length,
                            stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
        features = []
        for window in range(len(encoded["input_ids"])):
            index = encoded["overflow_to_sample_mapping"][window]
            example = examples[index]
            sequence = encoded.sequence_ids(window)
            offsets = [tuple(o) if s == 1 else None for o, s in zip(encoded["offset_mapping"][window], sequence)]
            feature = {"input_ids": encoded["input_ids"][window], "example_index": index, "example_id": example.id,
                       "offsets": offsets, "context": example.context}
            if "token_type_ids" in encoded:
                feature["token_type_ids"] = encoded["token_type_ids"][window]
            if labels is not None:
                feature["answers"] = example.answer_texts
                feature["start_position"], feature["end_position"] = self.answer_positions(example, offsets)
            features.append(feature)
        return features

    @staticmethod
    def cut_question(question: str, tokenizer, limit: int) -> str:
        pieces = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return question if len(pieces) <= limit else question[: pieces[limit - 1][1]]

    @staticmethod
    def answer_positions(example: QAExample, offsets: list) -> tuple[int, int]:
        """Token positions of the first gold answer in this window; [CLS] when it has none or the
        answer lies (partly) outside the window."""
        if example.is_impossible or not example.answers:
            return CLS_POSITION, CLS_POSITION
        text, start_char = example.answers[0]
        end_char = start_char + len(text)
        context = [i for i, o in enumerate(offsets) if o is not None]
        if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
            return CLS_POSITION, CLS_POSITION
        start = next(i for i in context if offsets[i][1] > start_char)
        end = next(i for i in reversed(context) if offsets[i][0] < end_char)
        return start, end

    def collate(self, features, *, pad_token_id):
        import torch

        from ptune.data.transforms import collate

        batch = collate([{k: f[k] for k in ("input_ids", "token_type_ids") if k in f} for f in features],
                        pad_token_id=pad_token_id)
        allowed = torch.zeros(batch["input_ids"].shape, dtype=torch.bool)
        for row, feature in enumerate(features):
            allowed[row, CLS_POSITION] = True
            allowed[row, [i for i, o in enumerate(feature["offsets"]) if o is not None]] = True
        batch["allowed"] = allowed
        if all("start_position" in f for f in features):
            batch["start_positions"] = torch.tensor([f["start_position"] for f in features])
            batch["end_positions"] = torch.tensor([f["end_position"] for f in features])
        return batch

    # ---- model ----------------------------------------------------------------------------
    def build_head(self, hidden_size, num_labels, config) -> nn.Module:
        from ptune.tasks.heads import LinearHead

        return LinearHead(hidden_size, num_labels, config.head_dropout)

    def logits(self, head, output, config) -> torch.Tensor:
        return head(output.text_states_at(config.layer))  # (batch, seq, 2): text tokens only, never virtual ones

    def loss(self, logits, batch):
        allowed = batch["allowed"]
        start = logits[..., 0].float().masked_fill(~allowed, MASKED)
        end = logits[..., 1].float().masked_fill(~allowed, MASKED)
        from torch import nn

        return (nn.functional.cross_entropy(start, batch["start_positions"])
                + nn.functional.cross_entropy(end, batch["end_positions"])) / 2

    # ---- decoding -------------------------------------------------------------------------
    def candidates(self, logits, feature: dict, config: QuestionAnsweringConfig) -> tuple[list[Span], float]:
        """One window's valid spans (context only, start <= end, at most max_answer_length) and its
        no-answer score."""
        logits = np.asarray(logits, dtype=np.float32)
        start, end = logits[:, 0], logits[:, 1]
        offsets = feature["offsets"]
        context = np.array([o is not None for o in offsets], dtype=bool)
        start_scores = np.where(context, start, -np.inf)
        end_scores = np.where(context, end, -np.inf)
        k = min(config.n_best, int(context.sum()))
        spans = []
        if k:
            for s in best_indices(start_scores, k):
                for e in best_indices(end_scores, k):
                    if s <= e < s + config.max_answer_length:
                        a, b = offsets[s][0], offsets[e][1]
                        spans.append(Span(feature["context"][a:b], a, b, float(start[s] + end[e])))
        return spans, float(start[CLS_POSITION] + end[CLS_POSITION])

    def answer(self, windows: list[tuple[np.ndarray, dict]], config: QuestionAnsweringConfig) -> dict:
        """The best answer across an example's windows (or "" for no answer, SQuAD 2.0)."""
        spans, null_scores = [], []
        for logits, feature in windows:
            found, null = self.candidates(logits, feature, config)
            spans += found
            null_scores.append(null)
        best = max(spans, key=lambda s: s.score, default=None)
        null = min(null_scores)  # the window most sure there is an answer decides
        if best is None or (config.with_negative and null - best.score > config.no_answer_threshold):
            return {"answer": "", "start": None, "end": None, "score": round(null, 4), "no_answer": True,
                    "best_span": None if best is None else {"text": best.text, "start": best.start, "end": best.end,
                                                            "score": round(best.score, 4)}}
        return {"answer": best.text, "start": best.start, "end": best.end, "score": round(best.score, 4),
                "no_answer": False, "no_answer_score": round(null, 4) if config.with_negative else None}

    def by_example(self, logits, features) -> list[list[tuple[torch.Tensor, dict]]]:
        grouped: dict[int, list] = {}
        for row, feature in zip(logits, features):
            grouped.setdefault(feature["example_index"], []).append((row, feature))
        return [grouped[i] for i in sorted(grouped)]

    def decode_batch(self, logits, examples, features, label_names, *, config=None) -> list[dict]:
        config = config or QuestionAnsweringConfig()
        return [self.answer(windows, config) for windows in self.by_example(logits, features)]

    def decode(self, logits, example, feature, label_names, *, config=None) -> dict:
        return self.answer([(logits, feature)], config or QuestionAnsweringConfig())

    # ---- results --------------------------------------------------------------------------
    def metrics(self, logits, features, label_names, *, config=None) -> dict:
        config = config or QuestionAnsweringConfig()
        questions = []
        for windows in self.by_example(logits, features):
            predicted = self.answer(windows, config)["answer"]
            questions.append((windows[0][1].get("answers", []), predicted))
        # Fractions like every other ptune metric; the official script's percentages are these x 100.
        scores = {k: v / 100 if k.endswith(("exact", "f1")) else v for k, v in squad_scores(questions).items()}
        return {**scores, "num_examples": scores["total"], "num_windows": len(features)}

    def headline(self, metrics: dict) -> dict:
        return {"f1": metrics["f1"], "exact": metrics["exact"]}

    def format_report(self, metrics, label_names) -> str:
        # Fractions, as training logs them and as every task reports; SQuAD's script prints x 100.
        lines = [f"F1 {metrics['f1']:.4f}   exact match {metrics['exact']:.4f}   "
                 f"questions {metrics['total']}   windows {metrics['num_windows']}"]
        for name, meaning in (("HasAns", "answerable"), ("NoAns", "unanswerable")):
            if f"{name}_total" in metrics:
                lines.append(f"{meaning:<12} F1 {metrics[f'{name}_f1']:.4f}   exact match "
                             f"{metrics[f'{name}_exact']:.4f}   questions {metrics[f'{name}_total']}")
        return "\n".join(lines)


def best_indices(scores: np.ndarray, k: int) -> list[int]:
    """The indices of the k largest scores, largest first (ties: the earlier index first)."""
    return np.argsort(-scores, kind="stable")[:k].tolist()
