r"""Baselines beside the nested losses, on the same interface: SpIN, NeuralEF, μ-EigenGame.

Each takes the outputs ``f`` at a batch, ``tf`` (the operator applied,
without gradient) and weights ``w``, like the nested losses, and forms the
moments :math:`M = E_\rho[f f^\top]` and :math:`Q = E_\rho[f (Tf)^\top]`
with :func:`~pyg_spectral.losses.moments.gram` and
:func:`~pyg_spectral.losses.moments.cross` (whose gradients are the
self-adjoint ones although :math:`Tf` carries none). Ordering comes from each
method's own mechanism, so ``nesting`` is ignored (kept for a common
signature). The un-nested low-rank loss is ``NestedLoRALoss(nesting=None)``,
registered as ``loss="lora"``.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import Tensor

from .base import SpectralLoss
from .moments import cross, gram

__all__ = ["SpINLoss", "NeuralEFLoss", "MuEigenGameLoss"]


class _Baseline(SpectralLoss):
    def __init__(self, num_components: int, nesting: Optional[str] = None, step: int = 1, weights=None,
                 gradient: str = "custom"):
        if gradient != "custom":
            raise ValueError(f"{self.__class__.__name__} supports gradient='custom' only.")
        super().__init__(num_components, None, step, weights, gradient)

    def _mq(self, f: Tensor, tf: Tensor, weight: Optional[Tensor]):
        w = self._check_inputs(f, tf, weight).squeeze(-1)
        return gram(f, w), cross(f, tf, w, tf_detached=True), w


class SpINLoss(_Baseline):
    r"""Spectral Inference Networks (Pfau et al., ICLR 2019).

    With :math:`\Sigma = E_\rho[f f^\top] = LL^\top` (Cholesky) and
    :math:`\Pi = E_\rho[f (Tf)^\top]`, SpIN maximises :math:`\mathrm{tr}\,\Lambda`,
    :math:`\Lambda = L^{-1} \Pi L^{-\top}`, whose diagonal holds the
    eigenvalues of the orthonormalised functions :math:`L^{-1} f`. Ordering
    comes from a *masked gradient*: :math:`\Lambda_{ii}` depends only on
    :math:`f_{1..i}`, and :math:`f_i` is driven by :math:`\Lambda_{ii}` alone,
    which gives (their eq. 6)

    .. math::
        \tilde\partial_\Pi = L^{-\top} \mathrm{diag}(L)^{-1}, \qquad
        \tilde\partial_\Sigma = -L^{-\top}\, \mathrm{triu}(\Lambda\, \mathrm{diag}(L)^{-1}).

    The loss value is :math:`-\mathrm{tr}\,\Lambda`; its gradient is the masked
    one (a surrogate with those matrices, detached, times moments whose
    entry :math:`(l, i)` sends gradient to :math:`f_i` only).
    :attr:`last_eigenvalues` holds :math:`\mathrm{diag}\,\Lambda`.

    Mini-batches: :math:`\Lambda` is a nonlinear function of batch moments,
    so plug-in estimates are biased. SpIN corrects this with moving averages
    of :math:`\Sigma` (``ema``) **and** of the Jacobian :math:`\partial\Sigma /
    \partial\theta`, which costs :math:`O(k^2 \cdot \#\text{params})` memory;
    this implementation keeps only the :math:`\Sigma` average (full-batch
    training is exact), and warns when used with ``split=True``.

    Args:
        ema: decay of the moving average of :math:`\Sigma` in mini-batch mode (0: none).
        jitter: added to the diagonal of :math:`\Sigma` before Cholesky.
    """

    def __init__(self, num_components: int, nesting: Optional[str] = None, step: int = 1, weights=None,
                 gradient: str = "custom", ema: float = 0.0, jitter: float = 1e-10):
        super().__init__(num_components, nesting, step, weights, gradient)
        self.ema, self.jitter = float(ema), float(jitter)
        self.sigma_avg: Optional[Tensor] = None
        self.last_eigenvalues: Optional[Tensor] = None
        self._warned = False

    @staticmethod
    def output_coefficients(M: Tensor) -> Tensor:
        r"""SpIN's eigenfunctions are the whitened :math:`L^{-1} f`: returns :math:`L^{-\top}` (``f @ C``)."""
        M = 0.5 * (M + M.T).double()
        L = torch.linalg.cholesky(M)
        eye = torch.eye(M.size(0), dtype=M.dtype, device=M.device)
        return torch.linalg.solve_triangular(L, eye, upper=False).T

    def forward(self, f: Tensor, tf: Tensor, weight: Optional[Tensor] = None, split: bool = False) -> Tensor:
        if split and not self._warned:
            warnings.warn("SpIN mini-batch gradients are biased without the O(k^2 * params) Jacobian moving "
                          "averages of the original method, which this implementation does not keep.", UserWarning)
            self._warned = True
        sigma, pi, w = self._mq(f, tf, weight)
        with torch.no_grad():
            s = sigma.detach().double()
            if split and self.ema > 0:
                self.sigma_avg = s if self.sigma_avg is None else self.ema * self.sigma_avg + (1 - self.ema) * s
                s = self.sigma_avg
            eye = torch.eye(s.size(0), dtype=s.dtype, device=s.device)
            L = torch.linalg.cholesky(s + self.jitter * s.diagonal().mean().clamp_min(1e-30) * eye)
            Linv = torch.linalg.solve_triangular(L, eye, upper=False)
            lam = Linv @ pi.detach().double() @ Linv.T
            dinv = torch.diag(1.0 / L.diagonal())
            g_pi = Linv.T @ dinv
            g_sigma = -Linv.T @ torch.triu(lam @ dinv)
            self.last_eigenvalues = lam.diagonal().clone()
        # f_i is driven by Lambda_ii alone: each matrix multiplies one-sided moments whose (l, i) entry
        # sends its gradient to f_i only, so d/df_i = R (F g_sigma[:, i] + TF g_pi[:, i]) (factor 2:
        # Sigma and Pi are symmetric).
        g_pi, g_sigma = 2.0 * g_pi.to(f.dtype), 2.0 * g_sigma.to(f.dtype)
        fw = f * w.unsqueeze(-1)
        one_sided_sigma = f.detach().transpose(0, 1) @ fw  # (l, i) = E[sg(f_l) f_i]
        one_sided_pi = tf.detach().transpose(0, 1) @ fw  # (l, i) = E[(T f_l) f_i]
        surrogate = (g_pi * one_sided_pi).sum() + (g_sigma * one_sided_sigma).sum()
        return -(surrogate - surrogate.detach() + self.last_eigenvalues.sum().to(f.dtype))


class NeuralEFLoss(_Baseline):
    r"""NeuralEF (Deng, Shi, Zhu, ICML 2022), with batch-normalised outputs.

    Each output is normalised, :math:`\psi_j = f_j / \sqrt{E_\rho[f_j^2]}`, and
    with :math:`R = E_\rho[\psi (T\psi)^\top]` function :math:`j` maximises

    .. math::
        R_{jj} - \sum_{i<j} \frac{R_{ij}^2}{R_{ii}},

    earlier functions held fixed (stop-gradient on :math:`\psi_{i<j}`): a
    sequential game whose equilibrium is the ordered top eigenbasis (positive
    eigenvalues). With batch statistics in the normalisation and in the
    squares, mini-batch estimates are biased (the motivation of μ-EigenGame).
    """

    def forward(self, f: Tensor, tf: Tensor, weight: Optional[Tensor] = None, split: bool = False) -> Tensor:
        M, Q, w = self._mq(f, tf, weight)
        d = M.diagonal().clamp_min(1e-30)
        r_diag = Q.diagonal() / d
        # a[j, i] = E[f_j (T f_i)]: gradient to f_j only (f_i enters through the detached tf).
        a = (f * w.unsqueeze(-1)).transpose(0, 1) @ tf.detach()
        r_off = a / (d.unsqueeze(1) * d.detach().unsqueeze(0)).sqrt()
        lower = torch.tril(torch.ones_like(M), -1)
        penalty = (lower * r_off ** 2 / r_diag.detach().clamp_min(1e-12).unsqueeze(0)).sum()
        return -r_diag.sum() + penalty


class MuEigenGameLoss(_Baseline):
    r""":math:`\mu`-EigenGame (Gemp, McWilliams, Vernade, Graepel, ICLR 2022): unbiased EigenGame.

    Player :math:`j`, with unit-norm :math:`v_j = f_j / \|f_j\|_\rho`, follows

    .. math::
        \Delta v_j \propto T v_j - \sum_{i<j} \langle v_j, T \hat v_i\rangle\, \hat v_i ,

    (hats: held fixed), a pseudo-gradient with no loss behind it; every term is
    linear in a moment, so mini-batch updates are unbiased. The returned value
    is a surrogate whose gradient (through the normalisation, i.e. projected
    on the sphere) is minus that update: :math:`-\sum_j [\tfrac12 R_{jj} -
    \sum_{i<j} \mathrm{sg}(\langle v_j, T\hat v_i\rangle) \langle v_j, \hat v_i\rangle]`.
    """

    def forward(self, f: Tensor, tf: Tensor, weight: Optional[Tensor] = None, split: bool = False) -> Tensor:
        M, Q, w = self._mq(f, tf, weight)
        d = M.diagonal().clamp_min(1e-30)
        rq = Q.diagonal() / d
        norm = (d.unsqueeze(1) * d.detach().unsqueeze(0)).sqrt()
        inner = ((f * w.unsqueeze(-1)).transpose(0, 1) @ f.detach()) / norm  # <v_j, v̂_i>, grad to f_j
        coupling = (Q / (d.unsqueeze(1) * d.unsqueeze(0)).sqrt()).detach()
        lower = torch.tril(torch.ones_like(M), -1)
        return -(0.5 * rq.sum() - (lower * coupling * inner).sum())
