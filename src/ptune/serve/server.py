"""Starting `ptune serve` on this machine: the bank loaded once, then uvicorn in this process or
supervised worker processes on one port (serve.workers). The HTTP API itself is serve.app."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ptune.errors import ConfigError
from ptune.serve.config import ServeConfig
from ptune.serve.logs import show_log

log = logging.getLogger("ptune.serve")
MAX_PER_CORE = 4
"""--workers and --threads above this many per core are typos (`--workers 100000`), not plans."""


def serve(adapters: dict[str, str | Path], config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000,
          model_name: str | None = None, log_level: str = "info", workers: int = 1, threads: int | None = None) -> None:
    """Load the bank and serve it with uvicorn until SIGINT/SIGTERM (in-flight requests finish);
    `workers` > 1: that many processes on one port, the backbone's weights shared (serve.workers)."""
    import uvicorn

    from ptune.serve.protocol import uvicorn_settings
    from ptune.serve.app import create_app
    from ptune.serve.workers import check_workers, run_workers

    if workers < 1 or (threads is not None and threads < 1):
        raise ConfigError("serve flags", [f"--workers {workers} / --threads {threads}: expected 1 or more"])
    cores = os.cpu_count() or 1
    if workers > MAX_PER_CORE * cores or (threads or 0) > MAX_PER_CORE * cores:
        raise ConfigError("serve flags", [f"--workers {workers} / --threads {threads}: this machine has {cores} core(s); "
                                          f"expected at most {MAX_PER_CORE * cores} of each (a worker per core is plenty)"])
    if config.adapter_dir:
        where = Path(config.adapter_dir)
        if where.exists() and not where.is_dir():
            raise ConfigError("serve flags", [f"--adapter-dir {where}: that is a file; give a folder of adapter folders"])
        if not where.exists():
            show_log(log_level)
            log.warning("--adapter-dir %s does not exist (yet): nothing is served from it until it is created "
                        "and adapter folders are put in it", where)
    named = dict(adapters)
    bank = load_bank(named, config, model_name=model_name, threads=threads if workers == 1 else None)
    check_workers(workers, bank)
    show_log(log_level)
    for name, entry in bank.entries().items():
        log.info("task %r loaded (%s, %s prompts, %s runtime)", name, entry.task.name, entry.adapter.config.injection,
                 bank.runtime)
    if workers > 1:
        run_workers(bank, {name: str(path) for name, path in named.items()}, config, host=host, port=port,
                    workers=workers, threads=threads, fixed_names=set(named), log_level=log_level)
        return
    if threads is not None and bank.runtime == "torch":
        import torch

        torch.set_num_threads(threads)
    app = create_app(bank, config, fixed_names=set(named))
    # ptune writes its own access line (with the request id); uvicorn's would say the same without it.
    uvicorn.run(app, host=host, port=port, log_level=log_level, **uvicorn_settings(config))


def load_bank(named: dict[str, str | Path], config: ServeConfig, *, model_name: str | None = None,
              threads: int | None = None):
    """The bank `ptune serve` serves: adapter folders on PyTorch, or exports on ONNX Runtime
    (`config.runtime`). With --adapter-dir alone, the backbone is --model's, or the one its first
    adapter records (ONNX: --model names a backbone graph folder)."""
    from ptune.serve.watcher import adapter_folders

    if config.runtime == "onnx":
        from ptune.inference.onnx_bank import OnnxBank

        if named:
            return OnnxBank.from_exports(named, precision=config.precision, threads=threads)
        found = adapter_folders(Path(config.adapter_dir), marker=OnnxBank.marker) if config.adapter_dir else {}
        return OnnxBank.for_graph(model_name, example_export=next(iter(found.values()), None),
                                  precision=config.precision, threads=threads)
    from ptune.engine.bank import AdapterBank

    if named:
        return AdapterBank.from_adapters(named, model_name=model_name, precision=config.precision, device=config.device)
    found = adapter_folders(Path(config.adapter_dir)) if config.adapter_dir else {}
    return AdapterBank.for_backbone(model_name, example_adapter=next(iter(found.values()), None),
                                    precision=config.precision, device=config.device)
