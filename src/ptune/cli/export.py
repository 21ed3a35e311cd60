"""`ptune export`: an adapter and its backbone as one ONNX graph, or (--backbone-graph) the adapter's
parts beside one graph of its backbone that many adapters share (`ptune serve --runtime onnx`)."""
from __future__ import annotations

from ptune.errors import PtuneError

HELP = "an adapter as ONNX: folded into one graph, or beside a backbone graph many adapters share"


def add_parser(commands) -> None:
    p = commands.add_parser("export", help=HELP)
    p.add_argument("--adapter", required=True, help="adapter folder or Hub repo id")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--output", required=True, help="folder for the export (model.onnx, or with --backbone-graph the "
                                                   "adapter's prompt table and head) and ptune_export.json")
    p.add_argument("--backbone-graph", default=None, metavar="DIR",
                   help="export the backbone once into DIR, with prompts as inputs, and only the adapter's prompt "
                        "table and head into --output: every adapter exported against DIR is served from one graph "
                        "(`ptune serve --runtime onnx`), any task; DIR is reused when it holds this backbone")
    p.add_argument("--model", default=None, help="load this backbone instead of the one the adapter names")
    p.add_argument("--allow-backbone-mismatch", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace model.onnx in --output")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from ptune.extras import require

    require("onnx", "ptune export")
    if args.backbone_graph is not None:
        if not args.backbone_graph.strip():
            raise PtuneError("--backbone-graph '': give the folder the backbone graph goes in (or leave the flag out "
                             "for one folded graph)")
        from ptune.inference.graph_export import export_with_backbone_graph

        result = export_with_backbone_graph(args.adapter, args.output, args.backbone_graph, overwrite=args.overwrite,
                                            model_name=args.model, allow_backbone_mismatch=args.allow_backbone_mismatch)
        print(f"wrote {result['output']} (prompt table, head) against the backbone graph {result['graph']} "
              f"(placements {', '.join(result['placements'])}); largest |logit difference| against PyTorch: "
              f"{result['max_abs_logit_difference']:.2e}")
        return 0
    from ptune.inference.export import export_onnx

    result = export_onnx(args.adapter, args.output, overwrite=args.overwrite, model_name=args.model,
                         allow_backbone_mismatch=args.allow_backbone_mismatch)
    print(f"wrote {result['output']}/model.onnx; largest |logit difference| against PyTorch: "
          f"{result['max_abs_logit_difference']:.2e}")
    return 0
