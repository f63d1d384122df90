"""``python -m experiments ...`` is the same as the ``freeenergy`` command."""
import sys

from experiments.cli import main

sys.exit(main())
