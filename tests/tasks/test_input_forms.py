"""Input forms, declared once (ptune.tasks.input_forms): what the server checks, what its schema
says and what the playground builds agree, and a task must name a declared form."""
import jsonschema
import pytest

from ptune.errors import ConfigError
from ptune.tasks import TASKS
from ptune.tasks.base import Task, register_task
from ptune.tasks.input_forms import INPUT_FORMS

GOOD = {"text": "a fine film", "pair": ["a man sleeps", "a person rests"], "words": "Angela Merkel visited Paris",
        "qa": {"question": "who?", "context": "Ada wrote it.", "id": "q1"}}


@pytest.mark.parametrize("name", sorted(INPUT_FORMS))
def test_what_a_form_accepts_is_what_its_schema_allows(name):
    form = INPUT_FORMS[name]
    assert form.texts(GOOD[name]) is not None
    jsonschema.validate(GOOD[name], form.schema())
    for other, item in GOOD.items():
        accepted = form.texts(item) is not None
        valid = jsonschema.Draft202012Validator(form.schema()).is_valid(item)
        assert accepted == valid, (name, other)
    assert len(form.describe()["fields"]) == len(form.fields) >= 1


def test_every_task_names_a_declared_form_and_an_undeclared_one_is_refused():
    assert {task.input_form for task in TASKS.values()} <= set(INPUT_FORMS)

    class ChoiceTask(Task):
        name = "multiple_choice"
        input_form = "choices"

    with pytest.raises(ConfigError, match="input_form='choices' is not declared; declare it in ptune.tasks.input_forms"):
        register_task(ChoiceTask)
    assert "multiple_choice" not in TASKS


def test_a_task_built_on_another_gets_its_own_settings_and_leaves_the_others_alone():
    """Registering a subclass of ClassificationTask (a new input form on the classification head) must
    not rename ClassificationConfig: every sentence adapter would then load as the new task."""
    from ptune.tasks import TASKS, ClassificationConfig, ClassificationTask, get_task, register_task
    from ptune.tasks.base import task_config_from_dict

    class Sample(ClassificationTask):
        name = "sample_choice"
        input_form = "pair"

    try:
        register_task(Sample)
        assert ClassificationConfig.name == "classification" and ClassificationConfig().name == "classification"
        assert get_task("sample_choice").config_cls is not ClassificationConfig
        assert issubclass(Sample.config_cls, ClassificationConfig) and Sample.config_cls().name == "sample_choice"
        assert type(task_config_from_dict({"type": "classification"})) is ClassificationConfig
        assert task_config_from_dict({"type": "sample_choice", "pooling": "cls"}).pooling == "cls"
    finally:
        TASKS.pop("sample_choice", None)
