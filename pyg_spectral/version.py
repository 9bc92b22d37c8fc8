"""The package version (one place; ``pyg_spectral.__version__`` re-exports it)."""
__version__ = "0.1.0"
