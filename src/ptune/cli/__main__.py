"""`python -m ptune.cli ...`, as launchers (torchrun, accelerate) run the command."""
import sys

from ptune.cli.main import main

sys.exit(main())
