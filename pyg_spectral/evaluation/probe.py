r"""Linear and MLP probes on node embeddings, scored like the OGB leaderboard (mean ± std over seeds).

The linear probe is multinomial logistic regression with an L2 penalty,
solved to optimum by full-batch L-BFGS from zero for each weight decay of a
grid; the weight decay with the best validation score is kept (model
selection on valid) and its test score reported. It is a convex problem, so
seeds do not change it (one run is reported), and the solver is
rotation-equivariant: two orthonormal bases of the same eigenspace (e.g.
inside a degenerate eigenvalue, where eigenvectors are defined only up to a
rotation) get the same predictions. The MLP probe (and ``solver="adam"``)
trains with full-batch Adam and keeps the epoch with the best validation
score, over several seeds. Scores come from ``ogb.nodeproppred.Evaluator``
when one is given (OGB datasets, or exports via
:func:`~pyg_spectral.evaluation.export_ogb_node_dataset`), else plain accuracy.

With ``correct_and_smooth``, the selected probe's class probabilities are post-processed by Correct & Smooth
on the graph (:func:`~pyg_spectral.evaluation.correct_smooth.correct_and_smooth`, training labels only); the
scores before it are kept in ``base_valid``/``base_test``. Model selection (weight decay, best epoch) is done
on the base probe's validation score; with ``correct_and_smooth="select"`` the C&S settings are then chosen
from :data:`~pyg_spectral.evaluation.correct_smooth.CS_GRID` on the validation score too (recorded in
``cs_settings``), test labels never enter.

Unlabeled nodes (label ``-1`` or NaN, as in ogbn-papers100M) are dropped from
every split: documented handling, never a silent NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.nn.models import MLP

__all__ = ["ProbeResult", "evaluate_embedding", "planetoid_split", "WEIGHT_DECAY_GRID"]

PROBES = ("linear", "mlp")
SOLVERS = ("auto", "lbfgs", "adam")
#: weight decays tried by the L-BFGS linear probe (selected on the validation split)
WEIGHT_DECAY_GRID = (100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-5, 1e-6)


@dataclass
class ProbeResult:
    """Scores over seeds (fractions in [0, 1])."""

    probe: str
    valid: List[float] = field(default_factory=list)
    test: List[float] = field(default_factory=list)
    num_params: int = 0
    #: the weight decay selected on valid (L-BFGS linear probe), else the one given
    weight_decay: Optional[float] = None
    #: scores of the probe before Correct & Smooth (empty without it)
    base_valid: List[float] = field(default_factory=list)
    base_test: List[float] = field(default_factory=list)
    #: the Correct & Smooth settings used for each run (empty without C&S)
    cs_settings: List[Dict] = field(default_factory=list)

    @property
    def valid_mean(self) -> float:
        return float(np.mean(self.valid))

    @property
    def valid_std(self) -> float:
        return float(np.std(self.valid))

    @property
    def test_mean(self) -> float:
        return float(np.mean(self.test))

    @property
    def test_std(self) -> float:
        return float(np.std(self.test))

    @property
    def base_test_mean(self) -> float:
        return float(np.mean(self.base_test)) if self.base_test else float("nan")

    def __str__(self) -> str:
        return (f"{self.probe}: valid {100 * self.valid_mean:.2f} ± {100 * self.valid_std:.2f}, "
                f"test {100 * self.test_mean:.2f} ± {100 * self.test_std:.2f} ({len(self.test)} run(s), "
                f"{self.num_params} params"
                + ("" if self.weight_decay is None else f", weight decay {self.weight_decay:g}")
                + ("" if not self.base_test else f", test before C&S {100 * self.base_test_mean:.2f}") + ")")


def planetoid_split(data) -> Dict[str, Tensor]:
    """The public Planetoid split as OGB-style index tensors."""
    return {"train": data.train_mask.nonzero().view(-1), "valid": data.val_mask.nonzero().view(-1),
            "test": data.test_mask.nonzero().view(-1)}


def _labels(y: Tensor, n: int) -> Tensor:
    y = y.view(n, -1)
    if y.size(1) != 1:
        raise ValueError(f"expected one label per node, got labels of shape {list(y.shape)}.")
    y = y[:, 0]
    if y.is_floating_point():
        bad = ~torch.isfinite(y)
        y = torch.where(bad, torch.full_like(y, -1), y).long()
    return y.long()


def evaluate_embedding(embedding: Tensor, y: Tensor, split_idx: Dict[str, Tensor], *, features: Optional[Tensor] = None,
                       probe: str = "linear", seeds: int = 5, evaluator=None, epochs: int = 300, lr: float = 0.05,
                       weight_decay: Optional[Union[float, Sequence[float]]] = None, hidden_channels: int = 256,
                       dropout: float = 0.5, standardize: bool = True, solver: str = "auto",
                       max_iter: int = 100, device=None, correct_and_smooth: Union[bool, Dict, None] = None,
                       edge_index: Optional[Tensor] = None, edge_weight: Optional[Tensor] = None) -> ProbeResult:
    """Train a probe on ``embedding`` (optionally concatenated with ``features``) and score it.

    Args:
        embedding: ``[n, d]`` node embedding (e.g. learned eigenvectors), or ``None`` to probe ``features`` only.
        y: ``[n]`` or ``[n, 1]`` labels; ``-1``/NaN mark unlabeled nodes.
        split_idx: dict with ``train``, ``valid``, ``test`` node indices.
        features: optional ``[n, f]`` node features concatenated to the embedding.
        probe: ``"linear"`` or ``"mlp"`` (two layers, ``hidden_channels``, dropout).
        seeds: number of seeds for Adam-trained probes (mean ± std reported); the L-BFGS linear
            probe is deterministic and runs once.
        weight_decay: L2 penalty; for the L-BFGS linear probe a number or a grid to select from on
            valid (default :data:`WEIGHT_DECAY_GRID`); for Adam a number (default 5e-3).
        solver: ``"auto"`` (L-BFGS for ``"linear"``, Adam for ``"mlp"``), ``"lbfgs"`` (linear only) or
            ``"adam"`` (``epochs`` full-batch steps at ``lr``, best epoch on valid).
        max_iter: L-BFGS iterations per weight decay.
        evaluator: an ``ogb.nodeproppred.Evaluator`` (else accuracy).
        standardize: center the embedding's columns on the train split and scale it by one factor to
            mean squared row norm 1 (rotation-equivariant); scale the features by one factor likewise
            (not centered).
        correct_and_smooth: ``True`` (settings :data:`~pyg_spectral.evaluation.correct_smooth.CS_DEFAULTS`),
            a dict of overrides, or ``"select"`` (the best of
            :data:`~pyg_spectral.evaluation.correct_smooth.CS_GRID` on valid): post-process the probe's
            probabilities with Correct & Smooth on ``edge_index``.
        edge_index, edge_weight: the (undirected) graph, needed by ``correct_and_smooth``.
    """
    if probe not in PROBES:
        raise ValueError(f"Unknown probe {probe!r}; choose one of {PROBES}.")
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; choose one of {SOLVERS}.")
    if solver == "auto":
        solver = "lbfgs" if probe == "linear" else "adam"
    if solver == "lbfgs" and probe != "linear":
        raise ValueError("solver='lbfgs' fits the linear probe only; use solver='adam' for the MLP probe.")
    cs_settings = None
    if correct_and_smooth is not None and correct_and_smooth is not False:
        if correct_and_smooth is not True and correct_and_smooth != "select" and not isinstance(correct_and_smooth,
                                                                                                  dict):
            raise ValueError("correct_and_smooth must be True, False, None, 'select' or a dict, got "
                             f"{correct_and_smooth!r}.")
        if edge_index is None:
            raise ValueError("correct_and_smooth needs the graph: pass edge_index (and edge_weight if weighted).")
        from .correct_smooth import CS_GRID

        cs_settings = ([{}] if correct_and_smooth is True else list(CS_GRID) if correct_and_smooth == "select"
                       else [dict(correct_and_smooth)])
    parts = [t for t in (embedding, features) if t is not None]
    if not parts:
        raise ValueError("evaluate_embedding needs an embedding or features.")
    n = y.view(-1).size(0) if y.dim() == 1 else y.size(0)
    for name, t in (("embedding", embedding), ("features", features)):
        if t is not None and (t.dim() != 2 or t.size(0) != n):
            raise ValueError(f"{name} has {t.size(0) if t.dim() else 0} rows but there are {n} labeled nodes "
                             f"(shape {list(t.shape)}); it must be [num_nodes, d].")
        if t is not None and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} has NaN or infinite entries.")
    labels = _labels(y.cpu(), n)
    split = {}
    for key in ("train", "valid", "test"):
        if key not in split_idx:
            raise ValueError(f"split_idx has no '{key}' split.")
        idx = torch.as_tensor(split_idx[key]).long().view(-1).cpu()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(f"split '{key}' has indices outside [0, {n - 1}].")
        split[key] = idx[labels[idx] >= 0]  # unlabeled nodes are not scored
        if split[key].numel() == 0:
            raise ValueError(f"split '{key}' has no labeled nodes.")
    device = torch.device(device) if device is not None else torch.device("cpu")
    train = split["train"]
    if embedding is not None:
        embedding = embedding.detach().float().cpu()
        if standardize:
            # Unit-norm eigenvectors have entries ~1/sqrt(n): center the columns on the train split and
            # divide by ONE overall scale (mean squared row norm 1 on train). Both commute with rotations of
            # the embedding, so two bases of the same eigenspace (e.g. inside a degenerate eigenvalue) give
            # the same probe inputs up to rotation; per-column scaling would not.
            embedding = embedding - embedding[train].mean(0)
            embedding = embedding / embedding[train].pow(2).sum(1).mean().sqrt().clamp_min(1e-12)
    if features is not None:
        features = features.detach().float().cpu()
        if standardize:
            # One factor too (sparse bag-of-words stay sparse): with both blocks at mean squared row norm 1,
            # one weight decay does not favour the block with more or larger columns.
            features = features / features[train].pow(2).sum(1).mean().sqrt().clamp_min(1e-12)
    x = torch.cat([p for p in (embedding, features) if p is not None], dim=1)
    x, labels_d = x.to(device), labels.to(device)
    num_classes = int(labels.max()) + 1
    if solver == "lbfgs":
        grid = WEIGHT_DECAY_GRID if weight_decay is None else (
            [float(weight_decay)] if isinstance(weight_decay, (int, float)) else [float(w) for w in weight_decay])
        result, logits = _lbfgs_probe(x, labels_d, split, num_classes, grid, max_iter, evaluator)
        return _with_cs(result, [logits], labels_d, split, evaluator, cs_settings, edge_index, edge_weight)
    weight_decay = 5e-3 if weight_decay is None else float(weight_decay)
    result = ProbeResult(probe, weight_decay=weight_decay)
    best_logits = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        if probe == "linear":
            model = nn.Linear(x.size(1), num_classes)
        else:
            model = MLP([x.size(1), hidden_channels, num_classes], dropout=dropout, norm="batch_norm")
        model = model.to(device)
        result.num_params = sum(p.numel() for p in model.parameters())
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        best_valid, best_test = -1.0, 0.0
        for _ in range(epochs):
            model.train()
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[split["train"]]), labels_d[split["train"]])
            loss.backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                logits = model(x)
            pred = logits.argmax(-1)
            valid = _score(pred, labels_d, split["valid"], evaluator)
            if valid > best_valid:
                best_valid, best_test = valid, _score(pred, labels_d, split["test"], evaluator)
                if cs_settings is not None:
                    best = logits
        result.valid.append(best_valid)
        result.test.append(best_test)
        if cs_settings is not None:
            best_logits.append(best)
    return _with_cs(result, best_logits, labels_d, split, evaluator, cs_settings, edge_index, edge_weight)


def _with_cs(result: ProbeResult, logits: List[Tensor], y: Tensor, split: Dict[str, Tensor], evaluator,
             settings: Optional[Dict], edge_index: Optional[Tensor], edge_weight: Optional[Tensor]) -> ProbeResult:
    """``result`` itself without C&S; else the C&S scores of each selected probe, base scores kept.

    ``settings`` lists the C&S settings to try; for each probe the one with the best validation score is kept
    (the first on ties: the grid starts with the defaults)."""
    if settings is None:
        return result
    from .correct_smooth import correct_and_smooth

    valid, test, chosen = [], [], []
    for z in logits:
        best = None
        for setting in settings:
            pred = correct_and_smooth(z.softmax(-1), y, split["train"], edge_index, edge_weight, **setting).argmax(-1)
            score = _score(pred, y, split["valid"], evaluator)
            if best is None or score > best[0]:
                best = (score, pred, setting)
        valid.append(best[0])
        test.append(_score(best[1], y, split["test"], evaluator))
        chosen.append(best[2])
    return ProbeResult(result.probe + "+C&S", valid=valid, test=test, num_params=result.num_params,
                       weight_decay=result.weight_decay, base_valid=result.valid, base_test=result.test,
                       cs_settings=chosen)


def _lbfgs_probe(x: Tensor, y: Tensor, split: Dict[str, Tensor], num_classes: int, grid: Sequence[float],
                 max_iter: int, evaluator) -> Tuple[ProbeResult, Tensor]:
    """Logistic regression + (wd/2)||W||^2 by L-BFGS for each wd (largest first); best wd on valid.

    The first weight decay starts from zero, each next one from the previous solution (a
    regularisation path). PyTorch's L-BFGS stopping tests use max-abs norms, which are not
    rotation-invariant; they are switched off, so every solve runs exactly ``max_iter`` iterations
    and the whole path is rotation-equivariant.
    """
    xt, yt = x[split["train"]], y[split["train"]]
    weight = torch.zeros(x.size(1), num_classes, device=x.device, requires_grad=True)
    bias = torch.zeros(num_classes, device=x.device, requires_grad=True)
    best = None
    for wd in sorted(grid, reverse=True):  # ties keep the stronger penalty
        opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, max_eval=2 * max_iter, history_size=20,
                                tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(xt @ weight + bias, yt) + 0.5 * wd * weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            logits = x @ weight + bias
        pred = logits.argmax(-1)
        valid = _score(pred, y, split["valid"], evaluator)
        if best is None or valid > best[0]:
            best = (valid, _score(pred, y, split["test"], evaluator), wd, logits)
    return ProbeResult("linear", valid=[best[0]], test=[best[1]], num_params=x.size(1) * num_classes + num_classes,
                       weight_decay=best[2]), best[3]


def _score(pred: Tensor, y: Tensor, idx: Tensor, evaluator) -> float:
    if evaluator is None:
        return float((pred[idx] == y[idx]).float().mean())
    out = evaluator.eval({"y_true": y[idx].view(-1, 1).cpu(), "y_pred": pred[idx].view(-1, 1).cpu()})
    return float(out[evaluator.eval_metric])
