"""Defaults that depend on the task and the injection, each chosen by measurement.

Every number here was picked on a validation split carved from the training file, never on dev
(`benchmarks/tune_defaults.sh`; the cells are in `benchmarks/results/tune/`, the discussion in
BENCHMARKS.md). A user's explicit setting always wins.
"""
from __future__ import annotations

from ptune.encoders.configs import EmbeddingEncoderConfig, EncoderConfig, MLPEncoderConfig
from ptune.errors import ConfigError

DEFAULT_INJECTION = {"classification": "deep", "token_classification": "deep", "question_answering": "deep"}
"""Deep prompts scored above input-level ones on every held-out set: CoNLL 74.1 vs 64.3 entity F1
(each at its best measured rate), SST-2 88.1 vs 86.2, RTE 57.5 vs 53.2 accuracy, with a sixth of
the trainable parameters. Input-level prompts stay one flag away (`--injection input`)."""

LEARNING_RATES = {
    ("classification", "input"): 5e-3,
    ("classification", "deep"): 3e-2,
    ("token_classification", "input"): 1e-2,
    ("token_classification", "deep"): 5e-2,
    ("question_answering", "deep"): 5e-2,
    ("question_answering", "input"): 1e-2,
}
"""One rate for the prompt and the head, per (task, injection).

Question answering is the exception to "chosen by measurement": SQuAD's training set cannot be
reached from the machines these defaults were tuned on, so QA takes the rates, prompt length and
deep injection of NER, the nearest measured token-level task (the lab also recommends deep
prompts for reading comprehension). Tune them on your data before trusting them."""

PROMPT_LENGTHS: dict[tuple[str, str], int] = {("token_classification", "deep"): 50, ("question_answering", "deep"): 50}
"""Virtual tokens per (task, injection) where the measured best differs from 20: deep NER prompts
of 50 positions scored 1.9 F1 above 20 at the same learning rate (1% of the parameters)."""


SMALL_DATA_MIN_STEPS = 100
"""Optimizer steps `ptune train` takes at least when --epochs is not given: one epoch of a small set
is a handful of steps (128 rows at batch 32: 4). On 1,000 held-out SST-2 training rows, with 128
training rows and the default rates, 4 steps scored 57.9% (deep prompts), 56.5% (input-level) and
63.6% (linear probe), means of seeds 0 and 1; 100 steps of batch 16 on the same rows scored 79.0%
for deep prompts (benchmarks/results/curves/lr-choice/). The learning curves train max(100 steps,
4 epochs). Large sets are unaffected (16,000 rows at batch 32 are 500 steps an epoch)."""

MAX_LENGTHS = {"question_answering": 384}
"""Word pieces per example (question + context window for QA, as in SQuAD's reference setting)."""


def default_max_length(task: str) -> int:
    return MAX_LENGTHS.get(task, 128)


def default_injection(task: str) -> str:
    return DEFAULT_INJECTION.get(task, "input")


DEFAULT_ENCODERS = {"input": MLPEncoderConfig, "deep": lambda: EmbeddingEncoderConfig(init="random")}
"""Input-level prompts train through the residual MLP; deep prompts are free parameters by default,
as in P-tuning v2's scripts (reparameterisation off), except on sentence pairs (PAIR_ENCODERS)."""


PAIR_ENCODERS = {("classification", "deep"): MLPEncoderConfig}
"""Where the default encoder depends on the training data's input form: deep prompts for sentence
pairs are made by the MLP encoder (reparameterisation, at DEEP_WITH_ENCODER_NETWORK_LR), single
sentences keep free rows. On RTE, chosen on 490 pairs held out of the training file (seeds 0, 1):
56.1 +- 0.6 against 53.3 +- 1.2 for free rows; on dev, 3 seeds, 56.9 +- 0.2 against 52.8 +- 1.8
(BENCHMARKS.md, "Screens at full size"). On held-out SST-2 sentences it scored 85.6 against 88.1,
and on CoNLL 51.7 to 65.1 F1 against 75.9, so it is a rule for pairs only, as P-tuning v2 found the
reparameterisation task-dependent. The network folds into the prompt table for inference: the
adapter a pair task serves is as small as a sentence task's."""


def encoder_depends_on_inputs(task: str, injection: str) -> bool:
    """Whether the default encoder of `task` with `injection` waits for the training data's input
    form (ptune.settings decides it once a run has read its rows)."""
    return (task, injection) in PAIR_ENCODERS


def default_encoder(injection: str, task: str | None = None, inputs: str = "text") -> EncoderConfig:
    """The default encoder of `injection`; for `task` on training data of input form `inputs`
    (`text` or `pair`) where that matters (PAIR_ENCODERS)."""
    if injection not in DEFAULT_ENCODERS:
        raise ConfigError("PTuningConfig", [f"injection={injection!r} has no default encoder: set encoder= "
                                            "(embedding, mlp or lstm), or add one to ptune.defaults.DEFAULT_ENCODERS"])
    if inputs == "pair" and (task, injection) in PAIR_ENCODERS:
        return PAIR_ENCODERS[task, injection]()
    return DEFAULT_ENCODERS[injection]()


DEEP_WITH_ENCODER_NETWORK_LR = 1e-4
"""Deep prompts made by an encoder network (mlp, lstm) instead of free rows: each output row is
layers x 2 x hidden wide (4,608 on MiniLM), and at the deep rates above Adam moves the last layer
fast enough to blow the prompt keys up; attention then collapses onto the prompt. On held-out
SST-2 rows an MLP-encoded deep prompt stayed at the majority class (56.5%) at lr 1e-3, 5e-3 and
2e-2, and reached 85.6% at 1e-4 (`benchmarks/tune_defaults.sh`; the lstm encoder takes the same
rate, unmeasured)."""


def default_learning_rate(task: str, injection: str, encoder: str | None = None) -> float:
    if injection == "deep" and encoder in ("mlp", "lstm"):
        return DEEP_WITH_ENCODER_NETWORK_LR
    return LEARNING_RATES.get((task, injection), 5e-3)


def default_prompt_length(task: str, injection: str) -> int:
    return PROMPT_LENGTHS.get((task, injection), 20)


START_RECIPES: dict[str, dict] = {
    "token_classification": {"head_init": "probe", "choose_layer": True},
    "classification": {"head_init": "probe", "choose_layer": True},
}
"""How an adapter starts, per task, where a measured start beat the plain one (random head on the
last layer), each chosen on rows held out of the training files, never on dev or test:
- NER: on held-out CoNLL rows (50 training sentences, benchmarks/run_recipe_choice.sh), a head on
  the layer its cross-validated probes rank best, started as that probe, scored far above the plain
  start (BENCHMARKS.md, "The recipe for small data").
- Sentence classification (a linear head): the same start. On the last 1,000 rows of the training
  files at K = 16 rows per class (benchmarks/run_layer_choice_sentences.sh, seeds 0-2) it scored 79.0
  on six-way TREC, 76.6 on CR and 60.5 on SST-2 (mean 72.0), against 74.2 / 74.7 / 61.7 for the
  plain start and 79.2 / 75.4 / 58.4 for the pair objective with the probe head (the default for
  three labels or more before; mean of the two defaults 71.9). Level on TREC with the pairs at a
  third of the start's cost (no 200 pair steps), so one rule for every label count
  (BENCHMARKS.md, "Where the head reads"). The pair objective stays an option (--contrastive-steps)."""

PROBE_HEAD_LR = 1e-3
"""The head's rate when it starts as a fitted probe: small, so training refines the fitted head
instead of overwriting it while the prompt learns (LP-FT); 5e-3 and the prompt's 5e-2 scored lower."""


RECIPE_MAX_TRAIN_ROWS: dict[str, int] = {"token_classification": 1_000, "classification": 100}
"""Training rows above which a task's start recipe gives way to the plain start (a task not named
here keeps its recipe at every size). CoNLL on dev (conll-curve, BENCHMARKS.md "Where the recipe
stops paying"): the recipe is ahead by 10.2 F1 at 50 sentences, 6.0 at 200 and 0.6 at 1,000 (5
seeds), and behind at 4,000 (and by 1.3 at all 14,041): 1,000 is the largest size measured where it
is not behind. Sentence classification: the start was chosen on 32 to 96 training rows (K = 16 of
two to six classes); above them, on held-out rows, it is level with the plain start on TREC (192
and 384 rows) and behind it on CR (128 rows), so larger sets start plainly (BENCHMARKS.md "Where it
stops: 100 rows")."""

PLAIN_START = {"head_init": "random", "choose_layer": False, "contrastive_steps": 0}


RECIPE_MIN_LABELS: dict[str, int] = {"classification": 2}
"""Labels below which a task's start recipe gives way to the plain start: a probe, and so the layer
choice and the probe head, needs rows of two labels to fit."""


def default_start(task: str, train_rows: int | None = None, *, train_labels: int | None = None,
                  head: str = "linear") -> dict | None:
    """How an adapter of `task` starts on `train_rows` training rows of `train_labels` labels; None
    while that depends on a count not yet known (the run decides once it has read its data). A
    cloze head starts plainly."""
    if task not in START_RECIPES or head != "linear":
        return dict(PLAIN_START)
    max_rows, min_labels = RECIPE_MAX_TRAIN_ROWS.get(task), RECIPE_MIN_LABELS.get(task)
    too_many_rows = max_rows is not None and train_rows is not None and train_rows > max_rows
    too_few_labels = min_labels is not None and train_labels is not None and train_labels < min_labels
    if too_many_rows or too_few_labels:
        return dict(PLAIN_START)
    if (max_rows is not None and train_rows is None) or (min_labels is not None and train_labels is None):
        return None
    return {**PLAIN_START, **START_RECIPES[task]}


SAMPLE_BUDGET = {"epochs": 8.0, "batch_size": 16, "eval_every": 15}
"""What the bundled sentiment sample (233 sentences) trains with: `ptune demo`, and `ptune train`
without --data unless the flags say otherwise (one epoch of 32 would be 8 steps)."""
