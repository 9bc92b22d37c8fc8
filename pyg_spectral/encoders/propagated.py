r"""Multi-scale propagated inputs for an MLP: global structure as node features, computed once.

An MLP sees one row per node; without features it sees nothing, and a two-hop GNN on noise sees only its
neighbourhood, while the leading eigenvectors of a real graph are global (PubMed's LCC: top gaps ~1e-3). These
inputs put the graph's low-frequency structure into each node's row, as SIGN (Frasca et al., 2020) does with
propagated features:

.. math::
    \Phi = \bigl[\,\tilde X,\ \log(1 + d),\ S^{h_1} B,\ S^{h_2} B,\ \dots\bigr], \qquad
    S = \tfrac12 (I + \hat A), \quad B = [\,Z,\ X P\,],

with :math:`\hat A = D^{-1/2} A D^{-1/2}`, :math:`Z` the :func:`~pyg_spectral.encoders.noise.hashed_normal`
noise of the node ids (``random_channels``), :math:`P` a hashed Gaussian projection of the features to
``feature_channels`` columns and :math:`\tilde X` the raw features. :math:`S` has its spectrum in
:math:`[0, 1]` and shares its eigenvectors with :math:`L_{sym} = I - \hat A`, so :math:`S^h B` keeps the
components of :math:`B` along the smooth eigenvectors (eigenvalue of :math:`S` near 1) and damps the rest by
:math:`\mu^h`; the hops ``(1, 2, 4, 8, 16, 24, 32, 48, ..., 192, 256)`` reach from local to global scales
with one sparse product per hop (256 in all). The propagated columns are whitened (an orthonormal basis of
their span; see :class:`PropagatedInputs`). Every column is scaled to unit RMS with scales read off the first graph
and then kept, so a new graph is scaled as the fitted one.

The network learns functions of :math:`\Phi`: Rayleigh–Ritz on :math:`\Phi`'s span alone is a polynomial
filter of fixed degree, and the network's nonlinearity can go beyond it. The estimator gives a network (an MLP,
or a GNN, which then also passes messages between the rows) on these inputs a linear skip started at that
Rayleigh–Ritz solution (``encoder_kwargs["skip"]``, default on;
:meth:`~pyg_spectral.encoders.MLPEncoder.ritz_initialize_`), so training starts at the best linear map of
:math:`\Phi`; on mini-batches the start is kept as frozen columns of the solved head's basis
(``encoder_kwargs["keep_start"]``), so the mini-batch noise cannot take the fit below it. The estimator
evaluates that start exactly before the first step, and a start that meets ``tol`` trains no step. With the
whitened columns and :func:`default_channels` it does on Cora's and CiteSeer's LCCs (features) and on ego-Facebook
and PubMed's LCC (structure only), at ``k = 16`` and ``32``, full batch and mini-batch
(``benchmarks/results/encoders.md``): the fit is then Rayleigh–Ritz on a fixed polynomial filter of the graph,
and the network's trained part adds nothing there; what the network adds is the map to new nodes and graphs
(``transform``). Before the whitening (float32 columns of condition ~1e16) the same fits trained 500–2200 steps
for 500x–1100x the embedding table's time. Hops only to 64 hold PubMed's 16 leading eigenvectors to
3.5e-2 / 8.6e-2 (two seeds; Rayleigh–Ritz on the inputs alone): the default goes to 256.

Memory: :math:`\Phi` is held, ``n x num_features_out`` values of ``dtype`` (at most 833 float32 columns with 64
channels: 3.3 GB at ``n = 1e6``; whitening drops the directions the span lacks: 447 columns on ego-Facebook),
and the propagated columns are held in float64 while they are built, so with mini-batches memory grows with
``n`` here, as with any node features.

Not seen-node stable: a node's row depends on the whole graph through :math:`S^h`, so its inputs (and outputs)
change a little when nodes are added; the noise is keyed by node id (``n_id``), so shared nodes keep their
noise draws.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..utils.sparse import laplacian_csr
from ..utils.validation import check_graph
from .noise import hashed_normal

__all__ = ["PropagatedInputs", "DEFAULT_HOPS", "default_channels", "whitening_map"]

#: hops from local to global scales, 256 sparse products in all: powers of two and, past 16, the midpoints
#: between them (PubMed's LCC, 64 noise channels, Rayleigh–Ritz max residual at k = 16: 1.7e-4 with the powers
#: of two alone, 1.4e-5 with the midpoints; at k = 32, 8.0e-4 and 1.2e-4)
DEFAULT_HOPS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def default_channels(in_channels: int, num_functions: int) -> Tuple[int, int]:
    """``(random_channels, feature_channels)`` for ``num_functions`` learned functions: ``max(64, 2 m)``
    propagated columns per hop, projected features first (at most 64), noise for the rest. A block of
    ``b`` columns holds the eigenvectors whose eigenvalues stand apart from the ``b``-th; measured with
    Rayleigh–Ritz on the inputs at ``k = 32`` (``m = 48``), max residual: Cora's LCC 2.8e-4 with its 64
    projected features alone, 5.6e-5 with 32 noise columns beside them; PubMed's LCC 1.2e-4 with 64 noise
    columns, 3.0e-5 with 96.

    >>> default_channels(0, 24), default_channels(1433, 24), default_channels(1433, 48)
    ((64, 0), (0, 64), (32, 64))
    """
    total = max(64, 2 * int(num_functions))
    feature = min(int(in_channels), 64)
    return total - feature, feature

#: offset of the seed of the feature projection (independent of the node noise)
_PROJECTION_SEED = 0x9809


class PropagatedInputs(nn.Module):
    r"""The inputs :math:`\Phi` (see the module docstring) of a graph; no trainable parameters.

    Args:
        in_channels: node feature dimension (0 without features).
        hops: increasing powers :math:`h` of :math:`S` to keep.
        random_channels: noise columns :math:`Z` (default 64 without features, 0 with them).
        feature_channels: projected feature columns propagated (default ``min(in_channels, 64)``).
        log_degree: add the column :math:`\log(1 + d)`.
        whiten: replace the propagated columns by an orthonormal basis of their span (see below).
        rcond: with ``whiten``, directions of the propagated columns' Gram matrix below ``rcond`` times its
            largest eigenvalue are dropped (numerically absent from the span).
        seed: seed of the noise and of the projection.
        dtype: dtype of the result.

    Whitening: the hops :math:`S^{h}B` all lean towards the same leading eigenvectors, so their columns are
    nearly collinear (ego-Facebook: condition number 1.4e16), and in float32 the directions that tell the
    16th eigenvector from the 17th are rounding noise. With ``whiten`` the propagated columns :math:`P`
    (``[n, p]``, float64) are mapped to :math:`P W`, :math:`W = V_r \Lambda_r^{-1/2}` from the eigenpairs of
    :math:`P^\top P / n` above ``rcond``: unit-RMS, orthogonal columns spanning the same space, before the cast
    to ``dtype``. :math:`W` is read off the first graph and kept (a new graph gets the same linear map, as with
    the scales). Measured, Rayleigh–Ritz on the float32 inputs (k = 16, max residual): ego-Facebook 1.2e-3
    without, 7.0e-6 with; PubMed's LCC 8.8e-4 without, 1.7e-4 with (what the span holds). The columns are
    then ``num_features_out`` (known after the first graph, at most the unwhitened count); the propagated
    columns are held in float64 while being built (``8 n p`` bytes: 4.6 GB at ``n = 1e6`` by default).

    Example:
        >>> from pyg_spectral.datasets import cycle_graph
        >>> data = cycle_graph(12)
        >>> inputs = PropagatedInputs(0, hops=(1, 4), random_channels=8, whiten=False)
        >>> inputs(None, data.edge_index, num_nodes=12).shape      # log-degree + 2 hops x 8 channels
        torch.Size([12, 17])
        >>> inputs
        PropagatedInputs(in_channels=0, hops=(1, 4), random_channels=8, feature_channels=0, whiten=False)
        >>> inputs = PropagatedInputs(0, hops=(1, 4), random_channels=8)
        >>> phi = inputs(None, data.edge_index, num_nodes=12)      # 16 propagated columns on 12 nodes: rank 11
        >>> phi.shape, inputs.num_features_out
        (torch.Size([12, 12]), 12)
    """

    def __init__(self, in_channels: int = 0, hops: Sequence[int] = DEFAULT_HOPS, random_channels: Optional[int] = None,
                 feature_channels: Optional[int] = None, log_degree: bool = True, whiten: bool = True,
                 rcond: float = 1e-12, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        hops = tuple(int(h) for h in hops)
        if not hops or any(h < 1 for h in hops) or list(hops) != sorted(set(hops)):
            raise ValueError(f"hops must be increasing positive integers, got {hops}.")
        if int(in_channels) < 0:
            raise ValueError(f"in_channels must be >= 0, got {in_channels}.")
        self.in_channels, self.hops = int(in_channels), hops
        self.random_channels = int(random_channels) if random_channels is not None else (0 if in_channels else 64)
        self.feature_channels = (min(self.in_channels, 64) if feature_channels is None else int(feature_channels)) \
            if self.in_channels else 0
        if self.random_channels < 0 or self.feature_channels < 0:
            raise ValueError("random_channels and feature_channels must be >= 0.")
        if self.random_channels + self.feature_channels < 1:
            raise ValueError("PropagatedInputs needs random_channels > 0 or node features to propagate.")
        if not 0 < float(rcond) < 1:
            raise ValueError(f"rcond must be in (0, 1), got {rcond}.")
        self.log_degree, self.seed, self.dtype = bool(log_degree), int(seed), dtype
        self.whiten, self.rcond = bool(whiten), float(rcond)
        self.register_buffer("scale", torch.empty(0, dtype=torch.float64))  # set by the first graph
        self.register_buffer("whitening", torch.empty(0, 0, dtype=torch.float64))  # W, set by the first graph

    @property
    def num_propagated(self) -> int:
        """Propagated columns before whitening: ``len(hops)`` blocks of noise and projected features."""
        return len(self.hops) * (self.random_channels + self.feature_channels)

    @property
    def num_features_out(self) -> int:
        """Columns of :math:`\\Phi` (with ``whiten``: the rank kept on the first graph, once it is seen)."""
        propagated = self.whitening.size(1) if self.whiten and self.whitening.numel() else self.num_propagated
        return self.in_channels + int(self.log_degree) + propagated

    @property
    def start_columns(self) -> slice:
        """The structural columns (log-degree and propagated), past the raw features: what the estimator's Ritz
        start is solved on (CiteSeer's 3703 raw features beside them made that solve 20 s of the fit, and
        the span at k = 16 held the eigenvectors to max residual 2.2e-7 with them, 6.2e-6 without)."""
        return slice(self.in_channels, None)

    @staticmethod
    def lazy_propagation(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None) -> Tensor:
        r""":math:`S = \tfrac12 (I + \hat A) = I - \tfrac12 L_{sym}` as one float64 CSR matrix (one sparse
        product per hop; isolated nodes: :math:`S_{ii} = 1/2`)."""
        edge_weight = (torch.ones(edge_index.size(1), dtype=torch.float64, device=edge_index.device)
                       if edge_weight is None else edge_weight.to(torch.float64))
        lap, _ = laplacian_csr(edge_index.long(), edge_weight, num_nodes, "sym", dtype=torch.float64)
        crow, col = lap.crow_indices(), lap.col_indices()
        row = torch.repeat_interleave(torch.arange(num_nodes, device=col.device), crow.diff())
        values = -0.5 * lap.values() + (row == col).to(torch.float64)  # L has a unit diagonal on every node
        return torch.sparse_csr_tensor(crow, col, values, (num_nodes, num_nodes), check_invariants=False)

    def forward(self, x: Optional[Tensor], edge_index: Tensor, num_nodes: Optional[int] = None,
                n_id: Optional[Tensor] = None, edge_weight: Optional[Tensor] = None) -> Tensor:
        """:math:`\\Phi` (``[n, num_features_out]``); the nodes have the global ids ``n_id`` (default ``0..n-1``)."""
        if x is not None:
            if x.dim() != 2 or x.size(-1) != self.in_channels:
                raise ValueError(f"PropagatedInputs expects {self.in_channels} node features per node, got shape "
                                 f"{tuple(x.shape)}.")
            n = x.size(0)
        elif self.in_channels:
            raise ValueError(f"PropagatedInputs was built for {self.in_channels} node features, but x is None.")
        else:
            n = int(num_nodes) if num_nodes is not None else (n_id.numel() if n_id is not None else None)
            if n is None:
                raise ValueError("PropagatedInputs needs num_nodes (or n_id) on a graph without features.")
        edge_index, edge_weight, n = check_graph(edge_index, edge_weight, n, allow_no_edges=True)
        ids = n_id.reshape(-1).long() if n_id is not None else torch.arange(n, device=edge_index.device)
        if ids.numel() != n:
            raise ValueError(f"n_id has {ids.numel()} ids for {n} nodes.")
        lazy = self.lazy_propagation(edge_index, n, edge_weight)
        fitting = self.scale.numel() == 0
        parts, scales, block, propagated = [], [], [], []
        start = 0

        def add(part: Tensor, hop: bool = False) -> None:
            # scaled and cast block by block (no float64 copy of all of Phi), but for the hops to be whitened
            nonlocal start
            if fitting:
                rms = part.norm(dim=0) / max(n, 1) ** 0.5
                scales.append(torch.where(rms > 0, 1.0 / rms, torch.ones_like(rms)).cpu())
                scale = scales[-1]
            else:
                scale = self.scale[start:start + part.size(1)]
            start += part.size(1)
            part = part * scale.to(part.device)
            if hop and self.whiten:
                propagated.append(part)  # float64 until whitened
            else:
                parts.append(part.to(self.dtype))

        if x is not None:
            add(x.detach().to(torch.float64))
        if self.log_degree:
            degree = torch.zeros(n, dtype=torch.float64, device=edge_index.device)
            weight = torch.ones(edge_index.size(1), dtype=torch.float64, device=edge_index.device) \
                if edge_weight is None else edge_weight.to(torch.float64)
            degree.index_add_(0, edge_index[0], weight)
            add(torch.log1p(degree)[:, None])
        if self.random_channels:
            block.append(hashed_normal(ids, self.random_channels, self.seed, torch.float64).to(edge_index.device))
        if self.feature_channels:
            proj = hashed_normal(torch.arange(self.in_channels), self.feature_channels, self.seed + _PROJECTION_SEED,
                                 torch.float64).to(edge_index.device)
            xp = x.detach().to(torch.float64) @ proj
            block.append(xp / xp.norm(dim=0).clamp_min(1e-300) * n ** 0.5)  # columns on the noise's scale
        y = torch.cat(block, dim=-1)
        for hop in range(1, self.hops[-1] + 1):
            y = torch.sparse.mm(lazy, y)
            if hop in self.hops:
                add(y, hop=True)
        if fitting:
            self.scale = torch.cat(scales)
        if propagated:
            p = torch.cat(propagated, dim=-1)
            del propagated[:]
            if self.whitening.numel() == 0:
                self.whitening = whitening_map(p, self.rcond).cpu()
            parts.append((p @ self.whitening.to(p.device)).to(self.dtype))
        return torch.cat(parts, dim=-1)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, hops={self.hops}, random_channels={self.random_channels}, "
                f"feature_channels={self.feature_channels}" + ("" if self.whiten else ", whiten=False"))


def whitening_map(p: Tensor, rcond: float = 1e-12) -> Tensor:
    r""":math:`W = V_r \Lambda_r^{-1/2}` (``[p, r]``, float64) from the eigenpairs of :math:`P^\top P / n` above
    ``rcond`` times the largest, leading first: :math:`P W` has orthonormal columns (RMS 1) spanning what
    :math:`P` spans above ``rcond``.

    Example:
        >>> p = torch.randn(50, 3, dtype=torch.float64) @ torch.tensor([[1.0, 1.0, 0.0], [0.0, 1e-4, 0.0],
        ...                                                              [0.0, 0.0, 3.0]], dtype=torch.float64)
        >>> w = whitening_map(p)
        >>> q = p @ w
        >>> torch.allclose(q.T @ q / 50, torch.eye(3, dtype=torch.float64))
        True
        >>> whitening_map(torch.cat([p, p[:, :1]], dim=1)).shape   # a repeated column adds no direction
        torch.Size([4, 3])
    """
    p = p.double()
    lam, vec = torch.linalg.eigh(p.T @ p / max(p.size(0), 1))
    lam, vec = lam.flip(0), vec.flip(1)
    keep = lam > rcond * lam[0].clamp_min(1e-300)
    return vec[:, keep] / lam[keep].sqrt()
