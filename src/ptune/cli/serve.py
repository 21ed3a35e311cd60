"""`ptune serve`: many task adapters on one backbone over HTTP, under uvicorn or Ray Serve."""
from __future__ import annotations

from ptune.cli.flags import add_dataclass_flags, given
from ptune.errors import ConfigError

HELP = "serve many task adapters on one backbone over HTTP (mixed-task batches)"


def add_parser(commands) -> None:
    from ptune.serve.config import ServeConfig

    p = commands.add_parser("serve", help=HELP)
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=DIR",
                   help="a task to serve: its name in requests and its adapter folder or Hub id (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help="backbone to load instead of the one the adapters record (--runtime "
                                                 "onnx with --adapter-dir alone: the backbone graph folder)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes answering on the port, the backbone's weights in memory once (default: 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch (or ONNX Runtime) threads per worker or Ray replica (default: the cores shared out "
                        "among the workers)")
    p.add_argument("--backend", choices=("uvicorn", "ray"), default="uvicorn",
                   help="uvicorn (default: this machine, --workers processes) or ray (Ray Serve: --replicas of the "
                        "whole bank, on a local Ray instance or --ray-address's cluster; extra `ray`)")
    p.add_argument("--replicas", type=int, default=None, help="--backend ray: replicas of the bank (default: 1)")
    p.add_argument("--max-replicas", type=int, default=None,
                   help="--backend ray: autoscale between --replicas and this many, by ongoing requests")
    p.add_argument("--target-ongoing-requests", type=float, default=None,
                   help="--backend ray, autoscaling: the ongoing requests per replica Ray aims at (default: 16)")
    p.add_argument("--ray-address", default=None,
                   help="--backend ray: an existing cluster (`auto`, or ray://host:10001); default: start a local one")
    add_dataclass_flags(p, ServeConfig, dest_prefix="serve_")
    p.set_defaults(func=cmd_serve)


def parse_named_adapters(items: list[str]) -> dict[str, str]:
    named, problems = {}, []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            problems.append(f"--adapter {item!r}: expected NAME=DIR, e.g. --adapter sst2=runs/sst2")
        elif name in named:
            problems.append(f"--adapter: the name {name!r} is given twice")
        else:
            named[name.strip()] = path.strip()
    if problems:
        raise ConfigError("serve flags", problems)
    return named


def cmd_serve(args) -> int:
    from ptune.extras import require

    require("serve", "ptune serve")
    from ptune.serve.server import serve
    from ptune.serve.config import ServeConfig

    if not 1 <= args.port <= 65535:
        raise ConfigError("serve flags", [f"--port {args.port}: expected a TCP port, 1 to 65535"])
    config = ServeConfig(**given(args, ServeConfig, "serve_"))
    named = parse_named_adapters(args.adapter)
    if not named and not config.adapter_dir:
        raise ConfigError("serve flags", ["nothing to serve: pass --adapter NAME=DIR (repeatable) and/or --adapter-dir D"])
    ray_flags = [flag for flag, value in (("--replicas", args.replicas), ("--max-replicas", args.max_replicas),
                                          ("--target-ongoing-requests", args.target_ongoing_requests),
                                          ("--ray-address", args.ray_address)) if value is not None]
    if args.backend != "ray":
        if ray_flags:
            raise ConfigError("serve flags", [f"{', '.join(ray_flags)}: Ray Serve settings; add --backend ray"])
        serve(named, config, host=args.host, port=args.port, model_name=args.model, workers=args.workers,
              threads=args.threads)
        return 0
    if args.workers != 1:
        raise ConfigError("serve flags", [f"--workers {args.workers} with --backend ray: Ray runs replicas of the bank "
                                          "instead; use --replicas N"])
    require("ray", "ptune serve --backend ray")
    from ptune.serve.ray_backend import ReplicaSpec, ScalingConfig, run_ray

    scaling = ScalingConfig(replicas=args.replicas or 1, max_replicas=args.max_replicas,
                            target_ongoing_requests=args.target_ongoing_requests or 16.0,
                            cpus_per_replica=float(args.threads or 1))
    spec = ReplicaSpec(adapters=named, config=config, model_name=args.model, threads=args.threads)
    run_ray(spec, scaling, host=args.host, port=args.port, address=args.ray_address)
    return 0
