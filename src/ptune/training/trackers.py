"""Experiment trackers (TensorBoard, Weights & Biases) through accelerate's tracking API.

`--report-to tensorboard` writes event files under `<output>/tensorboard/`; `--report-to wandb`
logs to the W&B project named after the output folder. Losses and learning rate every 10 steps,
every dev evaluation, and the run's settings as hyper-parameters."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ptune.config import TRACKERS, chosen_trackers as chosen, tracker_problems  # noqa: F401  (validated with the config)

TRACKER_FOLDER = "tensorboard"


def missing_packages(report_to: str) -> list[str]:
    from ptune.extras import EXTRAS, install_hint, missing

    hint = lambda name: install_hint(name) if name in EXTRAS else f"pip install {TRACKERS[name]}"  # noqa: E731
    return [f"report_to={name!r} needs the {TRACKERS[name]!r} package: {hint(name)}"
            for name in chosen(report_to) if (missing(name) if name in EXTRAS else
                                               importlib.util.find_spec(TRACKERS[name]) is None)]


def accelerator_options(report_to: str, output: Path) -> dict:
    names = chosen(report_to)
    return {"log_with": names, "project_dir": str(output / TRACKER_FOLDER)} if names else {}


def hyperparameters(settings: dict, prefix: str = "") -> dict:
    """Nested settings -> flat {"a/b": value} with values every tracker takes (numbers, text, bools)."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(hyperparameters(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


def start(accelerator, *, run_name: str, settings: dict) -> None:
    if accelerator.log_with:
        accelerator.init_trackers(run_name, config=hyperparameters(settings))


def log(accelerator, values: dict, *, step: int) -> None:
    if accelerator.log_with:
        accelerator.log(values, step=step)


def finish(accelerator) -> None:
    if accelerator.log_with:
        accelerator.end_training()
