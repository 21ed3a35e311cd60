"""Ad-hoc check behind BENCHMARKS.md (speed, accuracy condition): does bf16 cost ptune accuracy
where the virtual tokens enter the backbone? Trains ptune on protocol sst2-minilm in bf16 with the
first transformer layer computed in fp32 (its weights kept fp32, autocast off inside it), the other
layers as usual. In-process cells.

    python benchmarks/bf16_fp32_first_layer.py 0,1,2 > benchmarks/results/bf16-fp32-first-layer.log
"""
import json, sys, torch
torch.set_num_threads(2)
import ptune.precision as precision
import ptune.training.loop as loop

first_layer_parameters = set()
all_frozen_linears = precision.frozen_linear_parameters
precision.frozen_linear_parameters = lambda model: [  # layer 0 keeps its fp32 weights
    p for p in all_frozen_linears(model) if id(p) not in first_layer_parameters]
fit = loop.fit


def fit_with_fp32_first_layer(model, **kwargs):
    layer = model.backbone.encoder.layer[0]
    first_layer_parameters.update(id(p) for p in layer.parameters())
    forward = layer.forward

    def fp32_forward(*args, **kw):
        as_fp32 = lambda x: x.float() if torch.is_tensor(x) and x.is_floating_point() else x
        with torch.autocast("cpu", enabled=False):
            return forward(*map(as_fp32, args), **{k: as_fp32(v) for k, v in kw.items()})

    layer.forward = fp32_forward
    return fit(model, **kwargs)


loop.fit = fit_with_fp32_first_layer
if __name__ == "__main__":
    from ptune.compare.cell import run_cell
    from ptune.compare.protocol import ProtocolConfig
    protocol = ProtocolConfig.preset("sst2-minilm", data="../shared/data/sst2")
    for seed in map(int, sys.argv[1].split(",")):
        row = run_cell(protocol, "ptune", seed)
        print(json.dumps({"seed": seed, "acc": row["dev_accuracy"], "train_sps": row["train_samples_per_s"]}), flush=True)
