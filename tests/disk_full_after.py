"""`python tests/disk_full_after.py N ARGS...`: `ptune ARGS...` on a disk that fills up during its
N-th checkpoint: the checkpoint's weights file is half written, then the write fails the way
safetensors reports a full disk. For the disk-full tests (a real full disk needs a mount)."""
import sys

import safetensors
import ptune.training.checkpoint as checkpoint
from ptune.cli import main

after = int(sys.argv[1])
calls = 0


def save_file_until_full(tensors, path, *args, **kwargs):
    global calls
    calls += 1
    if calls == after:
        open(path, "wb").write(b"\0" * 100)
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    return real_save_file(tensors, path, *args, **kwargs)


real_save_file = checkpoint.save_file
checkpoint.save_file = save_file_until_full
sys.exit(main(sys.argv[2:]))
