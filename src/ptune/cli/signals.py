"""SIGTERM unwound like Ctrl-C during training, and what an interrupted run tells its user."""
from __future__ import annotations


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`, a container stop) during training: unwound like Ctrl-C, so a
    run that --overwrite was replacing is put back at once and the checkpoint is kept."""


def stop_on_sigterm() -> None:
    import signal

    def terminate(signum, frame):
        raise Terminated()

    if threading_main():
        signal.signal(signal.SIGTERM, terminate)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def resume_hint(args) -> str:
    """What an interrupted training left: a checkpoint to resume from, or nothing."""
    if args.command not in ("train", "multitask") or not getattr(args, "output", None):
        return ""
    from pathlib import Path

    from ptune.training.checkpoint import has_checkpoint

    if has_checkpoint(Path(args.output)):
        return "; the last checkpoint is kept: run the same command with --resume to continue"
    return "; it stopped before its first checkpoint, so there is nothing to resume: run it again"
