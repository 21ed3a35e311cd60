"""`ptune push`: an adapter folder and its model card to the Hugging Face Hub."""
from __future__ import annotations

HELP = "upload an adapter folder (with its model card) to the Hugging Face Hub"


def add_parser(commands) -> None:
    p = commands.add_parser("push", help=HELP)
    p.add_argument("--adapter", required=True, help="adapter folder")
    p.add_argument("--repo", required=True, help="Hub repo id, e.g. you/sst2-ptune")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=cmd_push)


def cmd_push(args) -> int:
    from ptune.format.hub import push_to_hub

    print(push_to_hub(args.adapter, args.repo, private=args.private))
    return 0
