"""The advisor: the lab's decision tree and settings, and measured results that agree or disagree."""
import pytest

from ptune.lab.advise import advise, format_advice, lab_method, lab_settings
from ptune.lab.compare.grid import run_grid
from ptune.lab.compare.protocol import ProtocolConfig
from ptune.errors import ConfigError
from helpers import fake_row


@pytest.mark.parametrize("task,size,data,expected", [
    ("classification", 110_000_000, 50_000, "P-Tuning"),
    ("ner", 340_000_000, 500, "P-Tuning"),
    ("qa", 3_000_000_000, 50_000, "Prompt Tuning"),
    ("generation", 110_000_000, 50_000, "Prefix Tuning"),
])
def test_the_labs_decision_tree(task, size, data, expected):
    assert lab_method(task, size, data)[0] == expected


def test_data_size_rules_outside_the_nlu_branch():
    assert lab_method("summarisation", 100, 500)[0] == "P-Tuning"
    assert lab_method("summarisation", 100, 5000)[0] == "LoRA"


def test_settings_follow_the_task_and_data_size():
    classification, _ = lab_settings("classification", 50_000)
    ner, _ = lab_settings("ner", 500)
    assert classification["num_virtual_tokens"] == "10-20" and classification["lr"] == 1e-3
    assert ner["num_virtual_tokens"] == "20-30" and ner["dropout"] == 0.3 and classification["dropout"] == 0.1


def test_small_data_rule_is_reported_as_unreachable_for_nlu_tasks():
    advice = advise("classification", model_size=22_000_000, train_size=300)
    assert any("never decides" in reason for reason in advice.reasons)


def grid(tmp_path, accuracies: dict):
    def runner(protocol, method, seed):
        return fake_row(method, seed, accuracies[method][seed], trainable_percent=2.6 if "ptune" in method else 0.3)

    run_grid(ProtocolConfig(data="sst2"), methods=list(accuracies), seeds=[0, 1, 2], output=tmp_path,
             isolate=False, log=lambda m: None, run_in_process=runner)
    return tmp_path


def test_results_that_contradict_the_rule_are_flagged(tmp_path):
    folder = grid(tmp_path, {"ptune": [0.80, 0.81, 0.79], "peft-lora": [0.85, 0.86, 0.84]})
    advice = advise("classification", model_size=22_000_000, train_size=16000, results=[folder])
    assert advice.method == "P-Tuning"
    assert "ptune 80.0 ± 1.0 at 2.6% of the parameters, vs LoRA 85.0 ± 1.0 at 0.3%" in advice.evidence[0]
    assert advice.contradictions and "peft-lora beat ptune by 5.0 points" in advice.contradictions[0]
    assert "caution:" in format_advice(advice)


def test_results_that_agree_raise_no_caution(tmp_path):
    folder = grid(tmp_path, {"ptune": [0.84, 0.85, 0.86], "peft-lora": [0.82, 0.83, 0.81]})
    advice = advise("classification", model_size=22_000_000, train_size=16000, results=[folder])
    assert advice.contradictions == [] and "caution" not in format_advice(advice)


def test_bad_requests_explain_themselves(tmp_path):
    with pytest.raises(ConfigError, match="task='poetry'"):
        advise("poetry", model_size=1, train_size=1)
    with pytest.raises(ConfigError, match="not a ptune compare"):
        advise("classification", model_size=1, train_size=1, results=[tmp_path])


def test_what_the_prompt_adds_over_a_linear_probe_is_quoted(tmp_path):
    folder = grid(tmp_path, {"ptune": [0.80, 0.81, 0.79], "linear-probe": [0.78, 0.78, 0.78]})
    advice = advise("classification", model_size=22_000_000, train_size=16000, results=[folder])
    assert any("adds +2.0 points over a linear probe" in line for line in advice.evidence)


def precision_line(tmp_path, bf16: list[float], fp32: list[float]) -> str:
    """advise's precision line for a grid of ptune in bf16 and fp32 with these accuracies."""
    def runner(protocol, method, seed):
        is_fp32 = "fp32" in method
        return fake_row(method, seed, (fp32 if is_fp32 else bf16)[seed], precision="fp32" if is_fp32 else "bf16",
                        train_samples_per_s=100.0 if is_fp32 else 180.0)

    run_grid(ProtocolConfig(data="sst2"), methods=["ptune", "ptune[precision=fp32]"], seeds=[0, 1, 2], output=tmp_path,
             isolate=False, log=lambda m: None, run_in_process=runner)
    advice = advise("classification", model_size=22_000_000, train_size=16000, results=[tmp_path])
    return next(e for e in advice.evidence if e.startswith("precision on"))


def test_what_bf16_costs_against_fp32_is_quoted(tmp_path):
    line = precision_line(tmp_path, bf16=[0.80, 0.80, 0.81], fp32=[0.81, 0.82, 0.83])
    assert "bf16 (the default on this hardware) 80.3 ± 0.6 vs fp32 82.0 ± 1.0, training 1.8x faster" in line
    assert "bf16 cost 1.7 points (more than seed noise, 1.3): pick --precision fp32" in line


def test_a_bf16_gap_within_seed_noise_is_called_noise(tmp_path):
    line = precision_line(tmp_path, bf16=[0.80, 0.81, 0.82], fp32=[0.80, 0.83, 0.84])
    assert "bf16 scored 1.3 points lower, within seed noise (two standard errors: 2.7)" in line
    assert "pick --precision fp32" not in line


def test_advice_never_picks_what_ptune_cannot_train():
    advice = advise("qa", model_size=22_000_000, train_size=5000)
    assert advice.method == "P-Tuning" and "--task question_answering" in advice.settings["command"]
    assert any("NOT measured on question_answering" in r for r in advice.reasons)  # said, not hidden
    generation = advise("generation", model_size=22_000_000, train_size=5000)
    assert any("cannot train generation" in r for r in generation.reasons)


def test_ner_advice_carries_the_measured_injection_and_a_command():
    from ptune.defaults import default_learning_rate

    advice = advise("ner", model_size=22_000_000, train_size=14000)
    assert advice.settings["injection"] == "deep"
    assert advice.settings["ptune_lr"] == default_learning_rate("token_classification", "deep")
    assert advice.settings["command"].startswith("ptune train --task token_classification --injection deep")


def test_sentence_pairs_get_the_pair_defaults_and_only_classification_takes_them():
    from ptune.defaults import DEEP_WITH_ENCODER_NETWORK_LR, default_learning_rate

    pairs = advise("classification", model_size=22_000_000, train_size=2500, inputs="pair")
    assert pairs.settings["encoder"] == "mlp" and pairs.settings["ptune_lr"] == DEEP_WITH_ENCODER_NETWORK_LR
    assert any("sentence pairs get prompts made by the MLP encoder" in r for r in pairs.reasons)
    texts = advise("classification", model_size=22_000_000, train_size=2500)
    assert texts.settings["encoder"] == "embedding"
    assert texts.settings["ptune_lr"] == default_learning_rate("classification", "deep")
    with pytest.raises(ConfigError, match="--inputs pair is for classification of sentence pairs"):
        advise("ner", model_size=22_000_000, train_size=2500, inputs="pair")
    with pytest.raises(ConfigError, match="expected one of"):
        advise("classification", model_size=22_000_000, train_size=2500, inputs="triple")
