"""Sharing adapters: a model card and pushing to the Hub (loading by Hub repo id: `artifacts.resolve_adapter`).

An adapter folder is a Hub repo as it is (config, two safetensors files, README.md): nothing is
converted on the way up or down. Loading by repo id goes through huggingface_hub's cache, so it
works offline (HF_HUB_OFFLINE=1) once the repo has been downloaded.
"""
from __future__ import annotations

from pathlib import Path

from ptune.format.artifacts import ADAPTER_FILES, CARD_FILE, read_adapter_config
from ptune.format.files import atomic_write



def model_card(directory: str | Path, *, command: str | None = None) -> str:
    """README.md for an adapter folder: what it is, what it was trained on, how it scored, how to use it."""
    config = read_adapter_config(directory)
    task, ptuning, backbone = config["task"], config["ptuning"], config["backbone"]
    hub_id = backbone.get("hub_id")
    scores = config.get("dev_metrics") or {}
    training = config.get("training") or {}
    lines = ["---", "library_name: ptune", "tags:", "- ptune", "- p-tuning", f"- {task['type']}"]
    if hub_id:
        lines.append(f"base_model: {hub_id}")
    lines += ["---", "", f"# ptune adapter: {task['type']} on {hub_id or backbone['name']}", "",
              f"A P-tuning adapter ({ptuning['injection']} prompts, {ptuning['num_virtual_tokens']} positions, "
              f"encoder `{ptuning['encoder']['type']}`) for the frozen backbone `{hub_id or backbone['name']}` "
              f"(weights `{backbone['fingerprint'][:23]}...`). Labels: {', '.join(task['label_names'])}.", "",
              "| | |", "|---|---|"]
    if training.get("data"):
        lines.append(f"| training data | `{training['data']}` ({config.get('train_examples', '?')} examples) |")
    lines += [f"| dev {name} (best checkpoint) | {value:.4f} |" for name, value in scores.items()]
    counts = config.get("parameters", {})
    if counts:
        lines.append(f"| parameters | {counts.get('trainable', 0):,} trained, {counts.get('inference', 0):,} served |")
    lines.append(f"| versions | {', '.join(f'{k} {v}' for k, v in config.get('versions', {}).items())} |")
    lines += ["", "## Use", "", "```python", "from ptune import Predictor", "",
              f'predictor = Predictor("{directory}")  # a folder, or the Hub repo id it was pushed to',
              'print(predictor.predict(["your text here"]))', "```"]
    if command:
        lines += ["", "## How it was trained", "", "```bash", command, "```"]
    return "\n".join(lines) + "\n"


def write_model_card(directory: str | Path, *, command: str | None = None) -> Path:
    path = Path(directory) / CARD_FILE
    text = model_card(directory, command=command)
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
    return path


def push_to_hub(directory: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str = "Upload ptune adapter") -> str:
    """Upload an adapter folder (with a model card, written if missing) to `repo_id`; returns its URL."""
    from huggingface_hub import HfApi

    directory = Path(directory)
    read_adapter_config(directory)  # refuse anything that is not a complete adapter
    if not (directory / CARD_FILE).exists():
        write_model_card(directory)
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(directory), allow_patterns=ADAPTER_FILES,
                      commit_message=commit_message)
    return str(url)
