"""Tasks, one module each; importing this package fills the registry."""
from ptune.tasks.base import ALIASES, TASKS, Task, TaskConfig, get_task, register_task, task_config_from_dict
from ptune.tasks.classification import ClassificationConfig, ClassificationTask
from ptune.tasks.token_classification import TokenClassificationConfig, TokenClassificationTask
from ptune.tasks.question_answering import QuestionAnsweringConfig, QuestionAnsweringTask

__all__ = ["TASKS", "ALIASES", "Task", "TaskConfig", "get_task", "register_task", "task_config_from_dict",
           "ClassificationConfig", "ClassificationTask", "TokenClassificationConfig", "TokenClassificationTask",
           "QuestionAnsweringConfig", "QuestionAnsweringTask"]
