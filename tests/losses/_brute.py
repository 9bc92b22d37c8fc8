"""Brute-force nested objectives from their definitions, for gradient checks."""
import torch

from pyg_spectral.losses import prefix_weights


def moments(op, F, s):
    rho = op.measure[:, None]
    Fs = F[:, :s]
    return (rho * Fs).T @ Fs, (rho * Fs).T @ op.matvec(Fs)


def lora(op, F, s):
    M, Q = moments(op, F, s)
    return -2 * torch.trace(Q) + (M * M).sum()


def omm(op, F, s, order):
    M, Q = moments(op, F, s)
    l1 = -2 * torch.trace(Q) + torch.trace(M @ Q)
    l2 = -4 * torch.trace(Q) + 6 * torch.trace(M @ Q) - 4 * torch.trace(M @ M @ Q) + torch.trace(M @ M @ M @ Q)
    return {"1": l1, "2": l2, "1+2": l1 + l2}[str(order)]


def nested_gradient(prefix_loss, F0, nesting):
    """Gradient that each nesting mode prescribes, from explicit prefix losses."""
    m = F0.size(1)
    if nesting == "sequential":
        grad = torch.zeros_like(F0)
        for i in range(m):
            F = F0.clone().requires_grad_()
            prefix_loss(F, i + 1).backward()
            grad[:, i] = F.grad[:, i]
        return grad
    F = F0.clone().requires_grad_()
    if nesting == "joint":
        alpha = prefix_weights(m)
        sum(alpha[i] * prefix_loss(F, i + 1) for i in range(m)).backward()
    else:
        prefix_loss(F, m).backward()
    return F.grad


def loss_gradient(loss_fn, op, F0, split=False):
    F = F0.clone().requires_grad_()
    tf = op.matvec(F) if loss_fn.gradient == "autograd" else op.matvec(F.detach())
    value = loss_fn(F, tf, weight=op.measure, split=split)
    value.backward()
    return F.grad, value.detach()
