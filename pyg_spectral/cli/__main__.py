"""``python -m pyg_spectral.cli`` = the ``pyg-spectral`` console script."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
