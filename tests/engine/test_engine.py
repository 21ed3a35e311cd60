"""One engine under every path: Predictor, the bank (serve), training and export all run
`ptune.engine.Engine`; device and precision are decided there."""
from pathlib import Path

import pytest
import torch

from conftest import DEMO, ROOT
from ptune.data import LoadReport
from ptune.data.batching import inference_batches


def test_bank_and_predictor_give_the_same_logits_to_the_bit(random_adapters, tiny_backbone_dir):
    from ptune.engine.bank import AdapterBank
    from ptune.inference.predictor import Predictor

    for name in ("sst2", "rte", "ner", "topic"):
        predictor = Predictor(random_adapters[name], device="cpu", precision="fp32")
        bank = AdapterBank.from_adapters({name: random_adapters[name]}, device="cpu", precision="fp32")
        entry = bank.get(name)
        task = predictor.task
        if task.name == "classification":
            examples = task.read(DEMO, split="dev", report=LoadReport())[:20]
        else:
            examples = [task.example(t, i) for i, t in enumerate(["great food in paris", "bad", "an okay film"])]
        features = bank.features(entry, examples)
        (order,) = inference_batches([len(f["input_ids"]) for f in features], batch_size=64)
        from_bank = bank.run([(entry, features[i]) for i in order])
        from_predictor = predictor.outputs(examples)
        for row, i in zip(from_bank, order):
            assert torch.equal(row, from_predictor[i]), name


def forward_callers(monkeypatch) -> list[str]:
    """Records, for every forward of a PromptedBackbone and of the backbone model inside it, the
    library function that called it (torch's module-call frames skipped): `file:function`."""
    import inspect

    from ptune.engine.prompted import PromptedBackbone

    package = ROOT / "src" / "ptune"
    callers = []

    def caller() -> str:
        frame = inspect.currentframe().f_back.f_back
        while frame is not None and "/torch/" in frame.f_code.co_filename:
            frame = frame.f_back
        path = Path(frame.f_code.co_filename).resolve()
        where = path.relative_to(package) if path.is_relative_to(package) else path.name
        return f"{where}:{frame.f_code.co_name}"

    def recorded(cls, method="forward", kind=None):
        original = getattr(cls, method)

        def forward(self, *args, **kwargs):
            callers.append((kind or cls.__name__, caller()))
            return original(self, *args, **kwargs)
        monkeypatch.setattr(cls, method, forward)

    from transformers import BertModel

    from ptune.engine.core import Engine

    recorded(PromptedBackbone)
    recorded(BertModel)
    recorded(Engine, "backbone_forward", kind="Engine.backbone_forward")
    return callers


def test_every_forward_in_the_library_goes_through_the_engine(monkeypatch, random_adapters, tiny_backbone_dir,
                                                              tmp_path):
    """By calls, not by reading the source: training (with every start: text prompt, layer choice,
    probe head), the Predictor, the bank's mixed batches, eval against the prompt-free base and the
    lab's probe each run the backbone, and every run enters it through Engine (engine/core.py); the
    backbone model itself is called by the PromptedBackbone alone."""
    from ptune.cli import main
    from ptune.engine.bank import AdapterBank
    from ptune.inference.predictor import Predictor
    from ptune.lab.compare.baselines import LinearProbe

    callers = forward_callers(monkeypatch)
    run = tmp_path / "run"
    assert main(["train", "--model", str(tiny_backbone_dir), "--data", str(DEMO), "--output", str(run), "--epochs", "1",
                 "--batch-size", "32", "--num-virtual-tokens", "2", "--encoder-init", "text", "--head-init", "probe",
                 "--choose-layer", "--no-progress"]) == 0
    assert main(["eval", "--adapter", str(run), "--data", str(DEMO), "--compare-base", "--json", "-"]) == 0
    Predictor(random_adapters["ner"], device="cpu").predict(["great food in paris"])
    bank = AdapterBank.from_adapters({n: random_adapters[n] for n in ("sst2", "ner", "topic")}, device="cpu")
    bank.predict([("sst2", "great food"), ("ner", "paris"), ("topic", "an okay film")])
    backbone = Predictor(run, device="cpu").model.backbone
    probe = LinearProbe(backbone, num_labels=2)
    probe(torch.tensor([[2, 7, 3]]), torch.ones(1, 3, dtype=torch.long))
    entries = {kind for kind, _ in callers}
    assert entries == {"PromptedBackbone", "BertModel", "Engine.backbone_forward"}, callers
    by_prompted = {where for kind, where in callers if kind == "PromptedBackbone"}
    by_model = {where for kind, where in callers if kind == "BertModel"}
    assert by_prompted == {"engine/core.py:backbone_forward"}, by_prompted  # the one entry
    assert {"engine/core.py:states", "engine/core.py:run_groups"} == {where for kind, where in callers
                                                                      if kind == "Engine.backbone_forward"}
    assert by_model == {"engine/prompted.py:forward"}, by_model


def test_device_is_chosen_once_and_bad_devices_are_refused():
    from ptune.errors import ConfigError
    from ptune.runtime import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="expected auto"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


def test_engine_places_the_backbone_and_stores_bf16_once(tiny_bert):
    from ptune.engine.core import Engine

    backbone, _ = tiny_bert
    engine = Engine(backbone, device="cpu", precision="bf16")
    assert engine.device == torch.device("cpu") and engine.bf16
    assert backbone.get_input_embeddings().weight.dtype == torch.bfloat16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bank_and_predictor_run_on_cuda(random_adapters):
    from ptune.engine.bank import AdapterBank
    from ptune.inference.predictor import Predictor

    bank = AdapterBank.from_adapters({"sst2": random_adapters["sst2"]}, device="cuda")
    assert bank.device.type == "cuda" and bank.get("sst2").adapter.prompt_table.device.type == "cuda"
    cpu = Predictor(random_adapters["sst2"], device="cpu", precision="fp32").predict(["great food"])
    gpu = bank.predict([("sst2", "great food")])
    assert cpu[0]["label"] == gpu[0]["label"]


def test_input_level_prompts_leave_the_attention_alone(tiny_bert):
    """The deep-prompt attention is installed only for a deep adapter."""
    from ptune.config import PTuningConfig
    from ptune.engine.model import PTuningModel

    backbone, _ = tiny_bert
    PTuningModel(backbone, PTuningConfig(injection="input", num_virtual_tokens=2, max_length=16), num_labels=2)
    assert backbone.config._attn_implementation in ("sdpa", "eager")
    PTuningModel(backbone, PTuningConfig(injection="deep", num_virtual_tokens=2, max_length=16), num_labels=2)
    assert backbone.config._attn_implementation == "ptune_deep"


def test_the_cli_takes_device_and_one_precision_default(tmp_path):
    from ptune.cli import build_parser
    from ptune.runtime import DEFAULT_PRECISION

    parser = build_parser()
    for command in (["predict", "--adapter", "a", "x"], ["eval", "--adapter", "a", "--data", "d"]):
        args = parser.parse_args(command)
        assert args.precision == DEFAULT_PRECISION and args.device == "auto", command
    from ptune.serve.config import ServeConfig

    assert ServeConfig().precision == DEFAULT_PRECISION and ServeConfig().device == "auto"
    train = parser.parse_args(["train"])
    assert train.precision is None and train.device is None  # left to TrainConfig: the same defaults
    from ptune.config import TrainConfig

    assert TrainConfig().precision == DEFAULT_PRECISION and TrainConfig().device == "auto"
