r"""Node batches for the Gram matrix and the node-wise quadratic term."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

__all__ = ["NodeSampler", "draw_categorical"]


def draw_categorical(cdf: Tensor, size: int, generator: Optional[torch.Generator] = None) -> Tensor:
    r"""``size`` i.i.d. draws from the categorical law with cumulative sums ``cdf`` (float64, ``[n]``).

    Inverse-CDF sampling by binary search (:math:`O(B \log n)`). Unlike
    ``torch.multinomial``, which refuses more than :math:`2^{24}` categories
    (16.8M nodes or edges), it works at any size, on any device; categories of
    probability 0 are never drawn.
    """
    u = torch.rand(int(size), generator=generator, dtype=torch.float64, device=cdf.device) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_max_(cdf.numel() - 1)

PROPOSALS = ("measure", "uniform", "degree")


class NodeSampler:
    r"""Draw i.i.d. node batches with importance weights.

    Nodes are drawn with replacement from a proposal :math:`q` and weighted by

    .. math::
        w_b = \frac{\rho(i_b)}{q(i_b)\, B},

    so that :math:`\sum_b w_b\, g(i_b)` is an unbiased estimate of
    :math:`E_\rho[g]` for any node function :math:`g`. Because the draws are
    i.i.d., any two disjoint parts of one batch are independent, which is what
    the unbiased product-of-expectations estimates of the nested losses need
    (:math:`E[\hat M^{(1)}_{lm} \hat M^{(2)}_{lm}] = M_{lm}^2`).

    Args:
        measure: target node measure :math:`\rho` (``[n]``, sums to one), the
            operator's :attr:`~pyg_spectral.operators.GraphOperator.measure`.
        batch_size: :math:`B`.
        proposal: ``"measure"`` (:math:`q = \rho`, all weights :math:`1/B`),
            ``"uniform"``, ``"degree"`` (:math:`q \propto d`, needs
            ``degree``) or a ``[n]`` tensor of non-negative probabilities.
        degree: node degrees, for ``proposal="degree"``.
        generator: a ``torch.Generator`` on the measure's device.

    Example:
        >>> import torch
        >>> measure = torch.full((100,), 0.01)
        >>> n_id, weight = NodeSampler(measure, batch_size=32, generator=torch.Generator().manual_seed(0)).sample()
        >>> n_id.shape, float(weight.sum())      # importance weights average to the measure's expectation
        (torch.Size([32]), 1.0)
    """

    def __init__(self, measure: Tensor, batch_size: int, proposal: Union[str, Tensor] = "measure",
                 degree: Optional[Tensor] = None, generator: Optional[torch.Generator] = None):
        n = measure.numel()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.measure = measure.detach().double()
        self.batch_size = int(batch_size)
        self.generator = generator
        if isinstance(proposal, Tensor):
            q = proposal.detach().double().to(self.measure.device)
            name = "custom"
        elif proposal == "measure":
            q, name = self.measure, proposal
        elif proposal == "uniform":
            q, name = torch.full_like(self.measure, 1.0 / n), proposal
        elif proposal == "degree":
            if degree is None:
                raise ValueError("proposal='degree' needs the node degrees.")
            q, name = degree.detach().double().to(self.measure.device), proposal
        else:
            raise ValueError(f"Unknown proposal {proposal!r}; choose one of {PROPOSALS} or pass probabilities.")
        if q.shape != (n,) or not bool(torch.isfinite(q).all()) or bool((q < 0).any()) or float(q.sum()) <= 0:
            raise ValueError("The proposal must be n finite non-negative numbers with a positive sum.")
        q = q / q.sum()
        missing = (q == 0) & (self.measure > 0)
        if bool(missing.any()):
            raise ValueError(
                f"The {name} proposal gives probability 0 to {int(missing.sum())} nodes of positive measure "
                "(e.g. zero-degree nodes under proposal='degree'): the estimates would be biased. "
                "Use proposal='measure' or remove those nodes."
            )
        self.proposal_name = name
        self.proposal = q
        self._cdf = torch.cumsum(q, 0)
        # w_i / B with w_i = rho_i / q_i; 0/0 -> 0 for nodes outside both.
        self._weight = torch.where(q > 0, self.measure / q.clamp_min(1e-300), torch.zeros_like(q))

    def sample(self, batch_size: Optional[int] = None, dtype: torch.dtype = torch.float32) -> Tuple[Tensor, Tensor]:
        """Return ``(n_id [B], weight [B])``."""
        size = self.batch_size if batch_size is None else int(batch_size)
        n_id = draw_categorical(self._cdf, size, self.generator)
        return n_id, (self._weight[n_id] / size).to(dtype)

    def __repr__(self) -> str:
        return f"NodeSampler(batch_size={self.batch_size}, proposal={self.proposal_name!r})"
