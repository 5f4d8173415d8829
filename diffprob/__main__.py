"""``python -m diffprob`` runs the command line (and ``torchrun -m diffprob``)."""

import sys

from diffprob.cli import main

if __name__ == "__main__":
    sys.exit(main())
