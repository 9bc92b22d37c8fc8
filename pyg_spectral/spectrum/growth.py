"""How far a polynomial filter may amplify some directions over others before rounding merges them."""
import torch

__all__ = ["MAX_GROWTH"]

#: Default bound on a Chebyshev filter's growth per dtype: how far apart the filtered directions may drift
#: before rounding merges them (the growth within a filter round is what CholeskyQR2 must still resolve).
MAX_GROWTH = {torch.float64: 1e10, torch.float32: 1e4}
