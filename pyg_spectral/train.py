"""``python -m pyg_spectral.train``: the ``pyg-spectral train`` command under its historical name
(``torchrun ... -m pyg_spectral.train`` launches it); the code lives in :mod:`pyg_spectral.cli.train`."""
import sys

from .cli.train import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main(prog="python -m pyg_spectral.train"))
