"""``python -m pyg_spectral.cli`` = the ``pyg-spectral`` console script."""
import sys

from . import main

sys.exit(main())
