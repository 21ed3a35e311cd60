"""Property tests of the config layer: every numeric field of every config dataclass, set to NaN,
±inf, 0, negative, fractional or huge values, is either accepted as a finite number of the right
kind or refused with a `ConfigError` naming the field; never another exception.

`make test` runs a fixed, seeded budget; `PTUNE_FUZZ_EXAMPLES=5000 pytest tests/test_config_properties.py`
a longer one.
"""
from __future__ import annotations

import dataclasses
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ptune.config import PTuningConfig, TrainConfig
from ptune.encoders.lstm import LSTMEncoderConfig
from ptune.encoders.mlp import MLPEncoderConfig
from ptune.errors import ConfigError
from ptune.serve.config import ServeConfig
from ptune.tasks.classification import ClassificationConfig
from ptune.tasks.question_answering import QuestionAnsweringConfig
from ptune.tasks.token_classification import TokenClassificationConfig
from ptune.training.multitask import MultiTaskConfig, TaskSpec
from ptune.training.run import DataConfig

BUDGET = settings(max_examples=int(os.environ.get("PTUNE_FUZZ_EXAMPLES", "150")), deadline=None, derandomize=True,
                  database=None, suppress_health_check=[HealthCheck.too_slow])

CONFIGS = {
    "TrainConfig": TrainConfig,
    "PTuningConfig": PTuningConfig,
    "LSTMEncoderConfig": LSTMEncoderConfig,
    "MLPEncoderConfig": MLPEncoderConfig,
    "ClassificationConfig": ClassificationConfig,
    "TokenClassificationConfig": TokenClassificationConfig,
    "QuestionAnsweringConfig": QuestionAnsweringConfig,
    "ServeConfig": ServeConfig,
    "TaskSpec": lambda **kw: TaskSpec(name="t", data=DataConfig(train="d"), **kw),
    "MultiTaskConfig": lambda **kw: MultiTaskConfig(tasks=[TaskSpec(name="t", data=DataConfig(train="d"))],
                                                    output="o", **kw),
}
DATACLASSES = {"TaskSpec": TaskSpec, "MultiTaskConfig": MultiTaskConfig}

SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, 0, 0.0, -1, -1.0, -1e300, 1e300, 10 ** 30, -(10 ** 30),
                           0.5, 1e-300, 2 ** 63])
NUMBER = st.one_of(SPECIAL, st.integers(), st.floats(allow_nan=True, allow_infinity=True))


def numeric_fields(cls) -> list[str]:
    """The fields annotated int or float (optional or not)."""
    return [f.name for f in dataclasses.fields(cls)
            if {part.strip() for part in str(f.type).split("|")} & {"int", "float"}]


CASES = [(name, field) for name, factory in CONFIGS.items()
         for field in numeric_fields(DATACLASSES.get(name, factory))]


def test_every_config_has_numeric_fields_under_test():
    assert {name for name, _ in CASES} == set(CONFIGS)
    assert len(CASES) >= 40


@pytest.mark.parametrize("name, field", CASES, ids=[f"{n}.{f}" for n, f in CASES])
@BUDGET
@given(value=NUMBER)
def test_a_numeric_setting_is_accepted_as_a_finite_number_or_refused_by_name(name, field, value):
    cls = DATACLASSES.get(name, CONFIGS[name])
    kind = next(f.type for f in dataclasses.fields(cls) if f.name == field)
    try:
        config = CONFIGS[name](**{field: value})
    except ConfigError as err:
        assert f"{field}=" in str(err) or field in str(err)
        return
    accepted = getattr(config, field)
    assert isinstance(accepted, (int, float)) and math.isfinite(accepted), f"{field}={accepted!r} was accepted"
    if "float" not in str(kind):  # an int field holds a whole number
        assert float(accepted).is_integer(), f"{field}={accepted!r} was accepted for an int field"
