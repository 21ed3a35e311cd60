"""`ptune export`: an adapter and its backbone as one ONNX graph."""
from __future__ import annotations

HELP = "an adapter and its backbone as one ONNX graph (runs without ptune)"


def add_parser(commands) -> None:
    p = commands.add_parser("export", help=HELP)
    p.add_argument("--adapter", required=True, help="adapter folder or Hub repo id")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--output", required=True, help="folder for model.onnx, the tokenizer and ptune_export.json")
    p.add_argument("--model", default=None, help="load this backbone instead of the one the adapter names")
    p.add_argument("--allow-backbone-mismatch", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace model.onnx in --output")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from ptune.inference.export import export_onnx

    result = export_onnx(args.adapter, args.output, overwrite=args.overwrite, model_name=args.model,
                         allow_backbone_mismatch=args.allow_backbone_mismatch)
    print(f"wrote {result['output']}/model.onnx; largest |logit difference| against PyTorch: "
          f"{result['max_abs_logit_difference']:.2e}")
    return 0
