"""How much of each text a run reads: a limit the backbone cannot honour is refused, and a limit
that cuts most training texts is said, since a model that reads no words learns the majority class."""
from __future__ import annotations

from ptune.errors import ConfigError

CUT_SHARE_TO_SAY = 0.5
"""Above this share of training texts cut at max_length, the run says so."""


def check_max_length(model, requested: int) -> None:
    """A max_length chosen beyond the backbone's positions is a typo (`--max-length 100000`), not a
    wish; the default (128, 384 for QA) is simply capped on a backbone with fewer positions."""
    from ptune.defaults import default_max_length

    limit = model.prompted.positions.limit
    if requested > limit and requested != default_max_length(model.config.task.name):
        raise ConfigError("PTuningConfig", [f"max_length={requested}: this backbone reads at most {limit} word pieces "
                                            f"(its position embeddings); pass --max-length {limit} or less"])


def truncation_note(features: list[dict], length: int, *, task_name: str) -> str | None:
    """A line saying that most training texts were cut to `length` word pieces, or None."""
    if task_name == "question_answering" or not features:  # long contexts are windowed, not cut
        return None
    cut = sum(len(f["input_ids"]) >= length for f in features)
    if cut / len(features) <= CUT_SHARE_TO_SAY:
        return None
    return (f"{cut:,} of {len(features):,} training examples ({100 * cut / len(features):.0f}%) fill max_length={length} "
            "word pieces and are cut there: the model reads only their start. Raise --max-length if the rest matters")
