"""`python tests/kill_after.py N ARGS...`: `ptune ARGS...` that kills itself with SIGKILL (like
kill -9) once its N-th optimizer step has run; for the resume tests."""
import os
import signal
import sys

import ptune.training.loop as loop
from ptune.cli import main

after = int(sys.argv[1])
real_step = loop.train_step
done = 0


def train_step_then_maybe_die(*args, **kwargs):
    global done
    loss = real_step(*args, **kwargs)
    done += 1
    if done == after:
        os.kill(os.getpid(), signal.SIGKILL)
    return loss


loop.train_step = train_step_then_maybe_die
sys.exit(main(sys.argv[2:]))
