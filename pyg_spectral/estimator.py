"""The scikit-learn style estimator: graph -> operator -> encoder -> loss -> optimizer -> eigenpairs."""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Dict, List, Optional, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from .exceptions import ConvergenceWarning, GraphInputError
from .utils.graph import count_components, count_components_csr, warn_disconnected
from .utils.validation import check_features
from .encoders import GNN_MODELS, EmbeddingEncoder, GNNEncoder, MLPEncoder
from .losses import LOSSES, SpectralLoss, build_loss
from .operators import OPERATORS, GraphOperator, build_operator
from .spectrum import fix_signs, normalize_columns, rayleigh_ritz, ritz_from_moments, ritz_residuals
from .training import build_optimizer, resolve_optimizer, train_loop
from .training.distributed import rank_seed
from .training.minibatch import SAMPLERS, MiniBatchObjective

__all__ = ["NeuralSpectralEmbedding", "ConvergenceWarning"]

ENCODERS = ("embedding", "mlp", "gnn") + tuple(GNN_MODELS)


class NeuralSpectralEmbedding:
    r"""Learn the leading eigenvectors of a graph operator with a neural
    network and a nested variational loss.

    No eigen-solver runs in the loop and no orthogonality is imposed: the
    encoder outputs :math:`m = k + p` functions on the nodes, trained with
    NestedLoRA or NestedOMM on the operator applied by sparse message passing.
    Every ``eval_every`` steps, a Rayleigh–Ritz step on the span of the
    outputs (an :math:`m \times m` eigenproblem) gives Ritz pairs and their
    residuals :math:`\|Tu - \lambda u\|`; training stops when the largest of
    the first :math:`k` residuals is below ``tol``.

    Why :math:`p` extra ("guard") functions: top eigen-gaps of real graphs are
    ~1e-3, and a gradient method resolves a subspace at a rate set by the gap
    at its edge. Learning :math:`k + p` functions and keeping the top
    :math:`k` Ritz pairs moves that gap from :math:`\lambda_k -
    \lambda_{k+1}` to :math:`\lambda_k - \lambda_{k+p+1}`, as block Lanczos,
    LOBPCG and randomized SVD do. The nesting orders the learned functions;
    Rayleigh–Ritz (on by default) resolves the order exactly inside the
    learned subspace, where neighbouring gaps can be ~1e-4.

    Args:
        num_components: number :math:`k` of eigenpairs.
        operator: ``"laplacian"`` (default; bottom of :math:`L_{sym}`,
            ascending), ``"adjacency"``, ``"lazy_adjacency"`` or
            ``"random_walk"`` (top, descending). See :mod:`pyg_spectral.operators`.
        loss: ``"nested_lora"`` or ``"nested_omm"`` (PSD operators only).
        nesting: ``"joint"``, ``"sequential"`` or ``None``.
        encoder: ``"embedding"`` (free table, transductive), ``"mlp"`` (on
            ``data.x``), ``"gnn"``/``"gcn"``/``"gin"``/``"sage"`` (PyG GNN on
            ``data.x`` plus fixed random node features), or an ``nn.Module``
            with ``forward(x, edge_index) -> [n, m]``.
        max_steps: maximum optimisation steps.
        tol: stop when the max residual :math:`\|Ou - \lambda u\|_2` of the
            :math:`k` unit-norm Ritz vectors, in the units of the operator
            :math:`O` the user asked for, is ``<= tol``.
        lr: learning rate (``None``: 0.2 for the embedding table with
            heavy-ball SGD, 1e-3 for Adam).
        device: ``"cpu"``, ``"cuda"``... (``None``: the device of ``data``).
        seed: seed for initialisation and random features.
        progress: show a progress bar.
        n_oversamples: guard functions :math:`p` (``"auto"``:
            ``max(8, k // 2)``, capped by the graph size).
        filter_degree: learn :math:`T^d` (a gap-widening power filter of the
            PSD training operator; costs ``d`` matmuls per step).
        optimizer: ``"auto"`` (SGD with momentum for the table, Adam for
            networks), ``"sgd"``, ``"adam"`` or ``"rmsprop"``.
        momentum: SGD momentum.
        lr_schedule: ``"auto"``, ``"constant"`` or ``"cosine"``.
        eval_every: steps between Rayleigh–Ritz evaluations.
        rayleigh_ritz: finish with Rayleigh–Ritz on the learned subspace; if
            ``False``, the first :math:`k` learned functions are returned in
            nesting order with Rayleigh-quotient eigenvalues.
        gradient: ``"custom"`` (operator applied without gradient; hand-built
            gradient) or ``"autograd"`` (differentiate through the operator).
        symmetrize: accept a directed graph and symmetrize it; otherwise
            directed input raises.
        dtype: floating dtype of training (Rayleigh–Ritz is float64).
        encoder_kwargs: extra arguments of the encoder (e.g.
            ``hidden_channels``, ``num_layers``, ``random_features``).
        loss_kwargs: extra arguments of the loss (e.g. ``order`` for OMM,
            ``step`` for joint nesting).
        warm_start: reuse the encoder of the previous :meth:`fit` when shapes agree.
        batch_size: ``None`` (default): exact full-batch training. An integer
            :math:`B`: unbiased mini-batch training (see
            :mod:`pyg_spectral.training.minibatch`); memory grows with
            :math:`B` (and the sampled neighbourhoods), not with :math:`n`,
            for ``"mlp"`` and GNN encoders. Inference is batched too.
        sampler: ``"node"`` (nodes drawn from the measure; :math:`Tf` from
            the exact rows of :math:`T`), ``"edge"`` (directed edges; one
            sampled neighbour per row) or ``"neighbor"`` (node batches for
            GNN encoders on neighbor-sampled subgraphs).
        num_neighbors: fan-out per GNN layer for sampled subgraphs (default
            10 per layer); its length must equal the GNN's number of layers.
        edge_mode: ``"uniform"`` or ``"weighted"`` law of the edge sampler.
        eval_size: held-out node sample on which mini-batch training
            estimates Ritz residuals (no ground truth needed); when it is
            ``>= n`` the evaluation is exact.
        ema_decay: keep an exponential moving average of the encoder's
            parameters (e.g. 0.995) and use it for evaluation and the result.
        sampler_backend: ``"auto"``, ``"pyg"`` (pyg-lib/torch-sparse) or
            ``"torch"`` for GNN subgraph sampling.
        mode: ``"evd"`` (default; eigenpairs of a symmetric operator) or
            ``"svd"``: singular triplets of the directed normalized adjacency
            :math:`D_{out}^{-1/2} A D_{in}^{-1/2}` (directed or bipartite
            graphs; see :mod:`pyg_spectral.svd`), with two embedding tables;
            sets ``singular_values_``, ``left_singular_vectors_`` (also
            ``embedding_``) and ``right_singular_vectors_``.
        callback: called at every evaluation as ``callback(record, outputs)``
            with the history record (a dict) and a function returning the
            encoder's current ``[n, m]`` outputs (computed on demand, no
            gradient); e.g. to log prefix metrics against a reference.
        checkpoint: path of a checkpoint file. Written (atomically; by rank
            0 only when distributed) at evaluations; if it exists when
            :meth:`fit` starts, training resumes from it, bit for bit as if
            uninterrupted. It must come from the same settings and graph.
        checkpoint_every: steps between checkpoints (default: every
            evaluation; rounded up to a multiple of ``eval_every``). The last
            evaluation is always saved.
        distributed: ``"auto"`` (default): when a ``torch.distributed``
            process group with more than one rank is initialised (e.g. under
            ``torchrun``; see :func:`pyg_spectral.training.distributed.init_distributed`),
            train data-parallel with DDP: each rank draws its own
            ``batch_size`` rows and the loss is the single-process unbiased
            estimator on the ranks' concatenated batch (see
            :mod:`pyg_spectral.training.distributed`). ``False``: ignore any
            process group.

    Attributes:
        eigenvalues_ (Tensor): ``[k]`` eigenvalues of the user's operator
            (float64), ascending for ``"laplacian"``, descending otherwise.
        embedding_ (Tensor): ``[n, k]`` unit-norm eigenvectors in the same
            order; the sign makes each column's largest-magnitude entry
            positive. For ``"laplacian"`` (and on a connected graph) the first
            column is the trivial eigenvector :math:`D^{1/2}\mathbf 1 /
            \sqrt{\mathrm{vol}}` with eigenvalue 0. For ``"random_walk"`` the
            columns are right eigenvectors of :math:`P`, i.e. :math:`D^{-1/2}u`.
        residuals_ (Tensor): ``[k]`` final residuals in the user's units.
        history_ (list of dict): per evaluation: ``step``, ``time``, ``loss``,
            ``lr``, ``residual`` (max), ``eigenvalues``.
        n_iter_ (int), converged_ (bool), fit_time_ (float),
        n_components_learned_ (int): :math:`m = k + p`,
        n_connected_components_ (int), operator_, encoder_, loss_fn_.

    Example:
        >>> from pyg_spectral import NeuralSpectralEmbedding
        >>> from pyg_spectral.datasets import load_planetoid
        >>> from torch_geometric.transforms import LargestConnectedComponents
        >>> data = LargestConnectedComponents()(load_planetoid("Cora")[0])
        >>> model = NeuralSpectralEmbedding(16).fit(data)
        >>> model.eigenvalues_[:3]          # 0 = trivial, then the Fiedler value
        >>> pe = model.transform()          # [n, 16]
    """

    def __init__(
        self,
        num_components: int,
        operator: str = "laplacian",
        loss: str = "nested_lora",
        nesting: Optional[str] = "joint",
        encoder: Union[str, nn.Module] = "embedding",
        max_steps: int = 10000,
        tol: float = 1e-4,
        lr: Optional[float] = None,
        device: Optional[Union[str, torch.device]] = None,
        seed: int = 0,
        progress: bool = True,
        *,
        n_oversamples: Union[int, str] = "auto",
        filter_degree: int = 1,
        optimizer: str = "auto",
        momentum: float = 0.9,
        lr_schedule: str = "auto",
        eval_every: int = 25,
        rayleigh_ritz: bool = True,
        gradient: str = "custom",
        symmetrize: bool = False,
        dtype: torch.dtype = torch.float32,
        encoder_kwargs: Optional[Dict[str, Any]] = None,
        loss_kwargs: Optional[Dict[str, Any]] = None,
        warm_start: bool = False,
        batch_size: Optional[int] = None,
        sampler: str = "node",
        num_neighbors: Optional[List[int]] = None,
        edge_mode: str = "uniform",
        eval_size: int = 4096,
        ema_decay: Optional[float] = None,
        sampler_backend: str = "auto",
        callback: Optional[Any] = None,
        mode: str = "evd",
        checkpoint: Optional[str] = None,
        checkpoint_every: Optional[int] = None,
        distributed: Union[bool, str] = "auto",
    ):
        self.num_components = num_components
        self.operator = operator
        self.loss = loss
        self.nesting = nesting
        self.encoder = encoder
        self.max_steps = max_steps
        self.tol = tol
        self.lr = lr
        self.device = device
        self.seed = seed
        self.progress = progress
        self.n_oversamples = n_oversamples
        self.filter_degree = filter_degree
        self.optimizer = optimizer
        self.momentum = momentum
        self.lr_schedule = lr_schedule
        self.eval_every = eval_every
        self.rayleigh_ritz = rayleigh_ritz
        self.gradient = gradient
        self.symmetrize = symmetrize
        self.dtype = dtype
        self.encoder_kwargs = encoder_kwargs
        self.loss_kwargs = loss_kwargs
        self.warm_start = warm_start
        self.batch_size = batch_size
        self.sampler = sampler
        self.num_neighbors = num_neighbors
        self.edge_mode = edge_mode
        self.eval_size = eval_size
        self.ema_decay = ema_decay
        self.sampler_backend = sampler_backend
        self.callback = callback
        self.mode = mode
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    # ------------------------------------------------------------------ params
    _PARAMS = (
        "num_components", "operator", "loss", "nesting", "encoder", "max_steps", "tol", "lr", "device",
        "seed", "progress", "n_oversamples", "filter_degree", "optimizer", "momentum", "lr_schedule",
        "eval_every", "rayleigh_ritz", "gradient", "symmetrize", "dtype", "encoder_kwargs", "loss_kwargs",
        "warm_start", "batch_size", "sampler", "num_neighbors", "edge_mode", "eval_size", "ema_decay",
        "sampler_backend", "callback", "mode", "checkpoint", "checkpoint_every", "distributed",
    )
    #: parameters that do not change what is computed (left out of checkpoint digests)
    _RUNTIME_PARAMS = ("progress", "callback", "checkpoint", "checkpoint_every", "device", "distributed")

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> "NeuralSpectralEmbedding":
        """Set constructor parameters (scikit-learn convention)."""
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"Unknown parameter {name!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = NeuralSpectralEmbedding(1).get_params()
        shown = [f"{self.num_components}"]
        for name, value in self.get_params().items():
            if name != "num_components" and not _same(value, defaults[name]):
                shown.append(f"{name}={value!r}")
        return f"NeuralSpectralEmbedding({', '.join(shown)})"

    def _check_params(self) -> None:
        k = self.num_components
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"num_components must be a positive integer, got {k!r}.")
        if isinstance(self.operator, str) and self.operator not in OPERATORS:
            raise ValueError(f"Unknown operator {self.operator!r}; choose one of {sorted(OPERATORS)}.")
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}.")
        if self.nesting not in ("joint", "sequential", None):
            raise ValueError(f"Unknown nesting {self.nesting!r}; choose 'joint', 'sequential' or None.")
        if isinstance(self.encoder, str) and self.encoder not in ENCODERS:
            raise ValueError(f"Unknown encoder {self.encoder!r}; choose one of {ENCODERS} or pass an nn.Module.")
        for name in ("max_steps", "eval_every", "filter_degree"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"{name} must be a positive integer, got {val!r}.")
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}.")
        if self.n_oversamples != "auto" and (not isinstance(self.n_oversamples, int) or self.n_oversamples < 0):
            raise ValueError(f"n_oversamples must be 'auto' or a non-negative integer, got {self.n_oversamples!r}.")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
                                            or self.batch_size < 2):
            raise ValueError(f"batch_size must be None or an integer >= 2, got {self.batch_size!r}.")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"Unknown sampler {self.sampler!r}; choose one of {SAMPLERS}.")
        if self.mode not in ("evd", "svd"):
            raise ValueError(f"Unknown mode {self.mode!r}; choose 'evd' or 'svd'.")
        if self.ema_decay is not None and not (0.0 < float(self.ema_decay) < 1.0):
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay!r}.")
        if isinstance(self.eval_size, bool) or not isinstance(self.eval_size, int) or self.eval_size < 2:
            raise ValueError(f"eval_size must be an integer >= 2, got {self.eval_size!r}.")
        if self.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            raise ValueError(f"dtype must be a floating torch dtype, got {self.dtype!r}.")
        if self.checkpoint_every is not None and (isinstance(self.checkpoint_every, bool) or
                                                  not isinstance(self.checkpoint_every, int) or
                                                  self.checkpoint_every < 1):
            raise ValueError(f"checkpoint_every must be None or a positive integer, got {self.checkpoint_every!r}.")
        if self.distributed not in ("auto", True, False):
            raise ValueError(f"distributed must be 'auto', True or False, got {self.distributed!r}.")

    def _settings(self, data: Data) -> Dict[str, Any]:
        """What a run computes from: the parameters and a fingerprint of the graph."""
        params = {name: (value.__class__.__name__ if isinstance(value, nn.Module) else
                         str(value) if isinstance(value, torch.dtype) else value)
                  for name, value in self.get_params().items() if name not in self._RUNTIME_PARAMS}
        ei = data.edge_index.long()
        graph = {"num_nodes": int(data.num_nodes), "num_edges": int(ei.size(1)),
                 "edge_checksum": [int(ei[0].sum()), int(ei[1].sum()),
                                   int((ei[0] * 7 + ei[1] * 3).remainder(1_000_003).sum())]}
        ew = getattr(data, "edge_weight", None)
        if ew is not None:
            graph["edge_weight_sum"] = float(ew.double().sum())
        x = getattr(data, "x", None)
        if isinstance(x, Tensor):
            graph["x"] = [list(x.shape), float(x.double().sum())]
        return {"params": params, "graph": graph}

    def _distributed_context(self):
        from .training.distributed import current_context

        if self.distributed is False:
            return None
        ctx = current_context()
        if ctx is None or ctx.world_size == 1:
            if self.distributed is True:
                raise RuntimeError("distributed=True but no torch.distributed process group with more than one "
                                   "rank is initialised; launch with torchrun and call init_distributed().")
            return None
        return ctx

    # ----------------------------------------------------------------- helpers
    def _resolve_device(self, data: Data) -> torch.device:
        return torch.device(self.device) if self.device is not None else data.edge_index.device

    @staticmethod
    def _check_devices(data: Data) -> None:
        devices = {key: val.device for key, val in data.items() if isinstance(val, Tensor)}
        if len(set(devices.values())) > 1:
            listing = ", ".join(f"{k}: {v}" for k, v in devices.items())
            raise GraphInputError(f"The tensors of data are on different devices ({listing}); move them together.")

    def _encoder_kind(self) -> str:
        if isinstance(self.encoder, nn.Module):
            return "module"
        return "gnn" if self.encoder in GNN_MODELS or self.encoder == "gnn" else self.encoder

    def _build_encoder(self, data: Data, x: Optional[Tensor], op: GraphOperator, m: int, device) -> nn.Module:
        kwargs = dict(self.encoder_kwargs or {})
        kind = self._encoder_kind()
        if kind == "module":
            return self.encoder.to(device)
        if kind == "embedding":
            return EmbeddingEncoder(op.num_nodes, m, measure=op.measure.detach().cpu().float(), seed=self.seed,
                                    **kwargs).to(device)
        torch.manual_seed(self.seed)
        if kind == "mlp":
            if x is None:
                raise GraphInputError("encoder='mlp' needs node features, but data.x is None.")
            return MLPEncoder(x.size(-1), m, **kwargs).to(device)
        gnn = self.encoder if self.encoder in GNN_MODELS else kwargs.pop("gnn", "gcn")
        kwargs.setdefault("seed", self.seed)
        return GNNEncoder(x.size(-1) if x is not None else 0, m, gnn=gnn, **kwargs).to(device)

    def _encode(self, encoder: nn.Module, x: Optional[Tensor], edge_index: Tensor) -> Tensor:
        return encoder(x, edge_index)

    def _full_outputs(self, encoder: nn.Module, x: Optional[Tensor], edge_index: Tensor) -> Tensor:
        """Outputs at every node; batched over node chunks for MLPs when ``batch_size`` is set.

        GNN encoders run one full-graph forward pass without gradient
        (activations ``n x hidden`` per layer, as PyG's layer-wise inference).
        """
        if self.batch_size is not None and isinstance(encoder, MLPEncoder) and x is not None:
            chunk = max(int(self.batch_size), 1024)
            out = None
            for start in range(0, x.size(0), chunk):  # filled in place: no list of chunks plus a copy
                part = encoder(x[start:start + chunk])
                if out is None:
                    out = part.new_empty(x.size(0), part.size(1))
                out[start:start + part.size(0)] = part
            return out
        return encoder(x, edge_index)

    def _check_distributed(self, ctx, settings: Dict[str, Any], n: int) -> None:
        from .training.distributed import check_consistent

        check_consistent(ctx, settings)
        if self.batch_size is None:
            raise ValueError("Distributed training is mini-batch data parallelism: set batch_size (rows per rank "
                             "per step), or call fit outside the process group (distributed=False).")
        if self.batch_size * ctx.world_size > n:
            raise ValueError(
                f"world_size x batch_size = {ctx.world_size} x {self.batch_size} = {ctx.world_size * self.batch_size} "
                f"rows per step exceed the graph's {n} nodes: fewer processes or a smaller batch_size."
            )

    def _minibatch(self, op: GraphOperator, encoder: nn.Module, x: Optional[Tensor], edge_index: Tensor,
                   loss_fn: SpectralLoss, n: int, device, rank: int = 0) -> MiniBatchObjective:
        if self.batch_size > n:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the graph ({n} nodes); use batch_size=None for "
                "exact full-batch training, or a smaller batch."
            )
        if self.batch_size < loss_fn.independent_parts:
            raise ValueError(f"batch_size must be at least {loss_fn.independent_parts} for {self.loss} "
                             "(it is split into independent parts).")
        if self.gradient != "custom":
            raise ValueError("Mini-batch training uses gradient='custom' ((Tf) is estimated without gradient).")
        gen = torch.Generator(device=device).manual_seed(rank_seed(self.seed, rank))
        return MiniBatchObjective(op, encoder, x, edge_index, self.batch_size, sampler=self.sampler,
                                  num_neighbors=self.num_neighbors, edge_mode=self.edge_mode,
                                  backend=self.sampler_backend, generator=gen)

    # --------------------------------------------------------------------- fit
    def fit(self, data: Data, y: Any = None) -> "NeuralSpectralEmbedding":
        """Learn the eigenpairs of ``data``'s graph operator.

        Args:
            data: a PyG ``Data`` with ``edge_index`` (``[2, E]``), optional
                ``edge_weight`` (``[E]``) and ``x`` (needed by ``"mlp"``,
                used by GNNs).
            y: ignored (scikit-learn signature).

        Returns:
            ``self``.
        """
        self._check_params()
        if not hasattr(data, "edge_index") or data.edge_index is None:
            raise GraphInputError("data must be a torch_geometric.data.Data with an edge_index.")
        if self.mode == "svd":
            from .svd import fit_svd

            if self.encoder != "embedding" or self.batch_size is not None or self.loss != "nested_lora":
                raise ValueError("mode='svd' supports encoder='embedding', loss='nested_lora' and full-batch "
                                 "training (batch_size=None).")
            fit_svd(self, data)
            if not self.converged_:
                warnings.warn(f"Stopped at max_steps={self.max_steps} with max residual "
                              f"{float(self.residuals_.max()):.2e} > tol={self.tol:g}.", ConvergenceWarning,
                              stacklevel=2)
            return self
        self._check_devices(data)
        ctx = self._distributed_context()
        device = self._resolve_device(data)
        if ctx is not None and self.device is None:
            device = ctx.device
        start = time.perf_counter()

        num_nodes = data.num_nodes
        edge_weight = getattr(data, "edge_weight", None)
        op = build_operator(self.operator, data.edge_index, edge_weight, num_nodes,
                            symmetrize=self.symmetrize, filter_degree=self.filter_degree, dtype=self.dtype)
        op = op.to(device)
        n = op.num_nodes
        k = self.num_components
        if k >= n:
            raise ValueError(f"num_components={k} must be smaller than the number of nodes ({n}).")
        base_op = op.base
        if hasattr(base_op, "laplacian"):  # components from the operator's own CSR arrays: no graph copy
            lap = base_op.laplacian
            n_comp, n_iso = count_components_csr(lap.crow_indices(), lap.col_indices(), base_op.degree)
        else:
            n_comp, n_iso = count_components(data.edge_index, n)
        self.n_connected_components_ = n_comp
        warn_disconnected(n_comp, n_iso, f"{op.base.trivial_mode()[1]:g}", f"{op.base.isolated_eigenvalue():g}")
        p = max(8, k // 2) if self.n_oversamples == "auto" else int(self.n_oversamples)
        m = min(k + p, n)
        self.n_components_learned_ = m

        x = getattr(data, "x", None)
        kind = self._encoder_kind()
        if kind in ("mlp", "gnn", "module") and x is not None:
            x = check_features(x, n, data.edge_index.device).to(device=device, dtype=self.dtype)
        else:
            x = None if kind == "embedding" else x
        edge_index = data.edge_index.to(device).long()

        loss_fn = build_loss(self.loss, m, nesting=self.nesting, gradient=self.gradient,
                             **(self.loss_kwargs or {})).to(device)
        loss_fn.check_operator(op)

        reuse = (self.warm_start and getattr(self, "encoder_", None) is not None
                 and getattr(self, "n_components_learned_prev_", None) == m and getattr(self, "_n_prev", None) == n)
        encoder = self.encoder_ if reuse else self._build_encoder(data, x, op, m, device)
        encoder = encoder.to(device=device, dtype=self.dtype)
        if isinstance(encoder, EmbeddingEncoder):
            encoder.column_grad_scale.copy_(1.0 / loss_fn.vector_mask)
            if not reuse:
                _ritz_initialize(encoder, op)
        minibatch = None
        # what this run computes from (parameters + graph fingerprint): compared across ranks, keys checkpoints
        settings = self._settings(data) if ctx is not None or self.checkpoint is not None else None
        if ctx is not None:
            self._check_distributed(ctx, settings, n)
        if self.batch_size is not None:
            minibatch = self._minibatch(op, encoder, x, edge_index, loss_fn, n, device,
                                        rank=ctx.rank if ctx is not None else 0)
        train_module = encoder
        if ctx is not None:
            from torch.nn.parallel import DistributedDataParallel

            # Global-RNG consumers (PyG's compiled neighbor sampler, dropout) get a stream per rank too.
            torch.manual_seed(rank_seed(self.seed, ctx.rank))

            train_module = DistributedDataParallel(
                encoder, device_ids=[device] if device.type == "cuda" else None, broadcast_buffers=False)
            minibatch.train_module = train_module
        optimizer, lr, schedule = resolve_optimizer(
            self.optimizer, self.lr, self.lr_schedule, kind == "embedding",
            op.spectral_radius * loss_fn.curvature, minibatch=minibatch is not None, num_nodes=n)
        opt, sched = build_optimizer(encoder.parameters(), optimizer, lr, schedule, self.max_steps, self.momentum)
        ema = None
        if self.ema_decay is not None:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            ema = AveragedModel(encoder, multi_avg_fn=get_ema_multi_avg_fn(float(self.ema_decay)), use_buffers=True)
        rho = op.measure
        custom = self.gradient == "custom"
        base = op.base

        def full_batch() -> Tensor:
            f = self._encode(encoder, x, edge_index)
            if custom:
                with torch.no_grad():
                    tf = op.matvec(f.detach())
            else:
                tf = op.matvec(f)
            return loss_fn(f, tf, weight=rho)

        world = ctx.world_size if ctx is not None else 1

        def mini_batch() -> Tensor:
            f, tf, w = minibatch.batch(self.dtype)
            if ctx is not None:
                f, tf, w = ctx.gather_batch(f, tf, w)
            return loss_fn(f, tf, weight=w, split=True)

        def step() -> Tensor:
            opt.zero_grad(set_to_none=True)
            loss = full_batch() if minibatch is None else mini_batch()
            # DDP averages gradients over ranks; each rank holds one share of the global loss's gradient.
            (loss * world if world > 1 else loss).backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(encoder)
            return loss.detach()

        held_out = None
        if minibatch is not None and self.eval_size < n:
            held_out = minibatch.held_out(self.eval_size, self.seed)

        from .training.distributed import DistributedContext, TrainingCheckpoint, fingerprint

        run_ctx = ctx if ctx is not None else DistributedContext(0, 1, device)
        checkpoint = None
        start_step, history0, done = 0, [], False
        if self.checkpoint is not None:
            checkpoint = TrainingCheckpoint(
                self.checkpoint, run_ctx, fingerprint(settings), self.checkpoint_every or self.eval_every,
                dict(encoder=encoder, optimizer=opt, scheduler=sched, ema=ema),
                minibatch.generator if minibatch is not None else None)
            start_step, history0, done = checkpoint.resume(map_location=device)

        def on_record(record: Dict[str, Any], history: List[Dict[str, Any]]) -> None:
            if checkpoint is not None:
                converged = record["residual"] <= self.tol
                checkpoint.record(record, history, final=converged or record["step"] >= self.max_steps,
                                  converged=converged)
            if self.callback is None:
                return
            model = encoder if ema is None else ema.module

            def outputs() -> Tensor:
                with torch.no_grad():
                    return self._full_outputs(model, x, edge_index)

            self.callback(record, outputs)

        def evaluate_here() -> Dict[str, Any]:
            model = encoder if ema is None else ema.module
            if held_out is not None:
                return minibatch.sample_ritz(held_out[0], held_out[1], k, encoder=model)
            with torch.no_grad():
                f = self._full_outputs(model, x, edge_index)
                tf = base.matvec(f)
            theta, coef = rayleigh_ritz(f, tf, rho)
            if theta.numel() < k:
                return {"residual": math.inf, "eigenvalues": base.to_original(theta).tolist(), "rank": theta.numel()}
            res = ritz_residuals(f, tf, theta[:k], coef[:, :k]) / abs(base.scale)
            return {"residual": float(res.max()), "eigenvalues": base.to_original(theta[:k]).tolist(),
                    "rank": theta.numel()}

        def evaluate() -> Dict[str, Any]:
            # One rank evaluates and every rank gets its numbers, so that all stop at the same step.
            return run_ctx.broadcast(evaluate_here() if run_ctx.is_main else None)

        encoder.train()
        if done:
            history, steps, converged = history0, start_step, True
        else:
            history, steps, converged = train_loop(
                step, evaluate, max_steps=self.max_steps, eval_every=self.eval_every, tol=self.tol,
                progress=self.progress and run_ctx.is_main, desc=f"{self.loss} k={k}",
                lr_fn=lambda: opt.param_groups[0]["lr"],
                on_record=on_record if (self.callback is not None or self.checkpoint is not None) else None,
                start_step=start_step, history=history0,
            )
        if ema is not None:
            encoder = ema.module
        encoder.eval()
        self.operator_, self.encoder_, self.loss_fn_ = op, encoder, loss_fn
        self.n_components_learned_prev_, self._n_prev = m, n
        self._x, self._edge_index = x, edge_index
        self.history_ = history
        self.n_iter_, self.converged_ = steps, converged
        self._finalize(x, edge_index)
        self.fit_time_ = time.perf_counter() - start
        if not converged:
            warnings.warn(
                f"Stopped at max_steps={self.max_steps} with max residual {self.residuals_.max():.2e} > tol={self.tol:g}. "
                "Raise max_steps, widen gaps with filter_degree, or add n_oversamples.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _finalize(self, x: Optional[Tensor], edge_index: Tensor, chunk: int = 65536) -> None:
        """Rayleigh–Ritz (or Rayleigh quotients) on the learned functions.

        Works over row chunks: the moments, residuals and signs are
        accumulated in float64 chunk by chunk, and :math:`Tf` is computed
        chunk by chunk from rows of the operator, so beyond the ``[n, m]``
        outputs and the ``[n, k]`` result only chunk-sized buffers are
        allocated.
        """
        op, k = self.operator_.base, self.num_components
        with torch.no_grad():
            f = self._full_outputs(self.encoder_, x, edge_index)
        n, m = f.shape
        rho = op.measure.double()
        bounds = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
        if hasattr(op, "matvec_rows"):
            tf = None  # (Tf) is streamed by row chunks (one sparse matmul per pass in total)
        else:
            with torch.no_grad():
                tf = op.matvec(f)

        def pieces():
            for start, end in bounds:
                with torch.no_grad():
                    tfc = op.matvec_rows(f, start, end) if tf is None else tf[start:end]
                yield slice(start, end), f[start:end].double(), tfc.double()

        if self.rayleigh_ritz:
            M = torch.zeros(m, m, dtype=torch.float64, device=f.device)
            Q = torch.zeros_like(M)
            for idx, fc, tfc in pieces():
                fw = fc * rho[idx].unsqueeze(-1)
                M += fw.T @ fc
                Q += fw.T @ tfc
            theta, coef = ritz_from_moments(M, Q)
            if theta.numel() < k:
                raise RuntimeError(
                    f"Only {theta.numel()} of the {k} requested eigenfunctions were learned (the rest collapsed). "
                    + ("The EVD form of NestedLoRA learns only positive eigenvalues and "
                       f"{self.operator!r} has negative ones; use 'lazy_adjacency' or 'laplacian'."
                       if not op.is_psd else "Train longer or use fewer components.")
                )
            theta, coef = theta[:k], coef[:, :k]
        else:
            # The functions in the loss's own order (SpIN: whitened by its Cholesky factor).
            coef = torch.eye(m, k, dtype=torch.float64, device=f.device)
            to_output = getattr(self.loss_fn_, "output_coefficients", None)
            if to_output is not None:
                M = torch.zeros(m, m, dtype=torch.float64, device=f.device)
                for idx, fc, _ in pieces():
                    M += (fc * rho[idx].unsqueeze(-1)).T @ fc
                coef = to_output(M)[:, :k]
            num = torch.zeros(k, dtype=torch.float64, device=f.device)
            den = torch.zeros_like(num)
            for idx, fc, tfc in pieces():
                w = rho[idx].unsqueeze(-1)
                uc, tuc = fc @ coef, tfc @ coef
                num += (w * uc * tuc).sum(0)
                den += (w * uc ** 2).sum(0)
            theta = num / den.clamp_min(1e-300)
        res2 = torch.zeros(k, dtype=torch.float64, device=f.device)
        norm2 = torch.zeros_like(res2)
        peak = torch.zeros_like(res2)
        peak_sign = torch.ones_like(res2)
        for idx, fc, tfc in pieces():
            uc, tuc = fc @ coef, tfc @ coef
            res2 += ((tuc - uc * theta) ** 2).sum(0)
            norm2 += (uc * uc).sum(0)
            val, pos = uc.abs().max(0)
            better = val > peak
            peak = torch.where(better, val, peak)
            peak_sign = torch.where(better, torch.sign(uc.gather(0, pos.unsqueeze(0)).squeeze(0)), peak_sign)
        norms = norm2.sqrt().clamp_min(torch.finfo(torch.float64).tiny)
        residuals = (res2.sqrt() / norms) / abs(op.scale)
        # Fold norms and signs into the coefficients, so that transform(new data) uses the same map.
        peak_sign = torch.where(peak_sign == 0, torch.ones_like(peak_sign), peak_sign)
        coef = coef * (peak_sign / norms)
        u = torch.empty(n, k, dtype=self.dtype, device=f.device)
        for start, end in bounds:
            u[start:end] = (f[start:end].double() @ coef).to(self.dtype)
        self.ritz_coefficients_ = coef
        self.eigenvalues_ = op.to_original(theta).detach().cpu()
        self.residuals_ = residuals.detach().cpu()
        self.embedding_ = u

    @property
    def eigenvectors_(self) -> Tensor:
        """Alias of :attr:`embedding_`."""
        return self.embedding_

    # --------------------------------------------------------------- transform
    def _check_fitted(self) -> None:
        if not hasattr(self, "embedding_"):
            raise RuntimeError("This NeuralSpectralEmbedding is not fitted yet; call fit(data) first.")

    def transform(self, data: Optional[Data] = None) -> Tensor:
        """Return the ``[n, k]`` eigenvectors.

        With ``data=None``, those of the fitted graph. With a new graph
        (``"mlp"``/GNN encoders only), the encoder is evaluated on it and
        mapped with the fitted Rayleigh–Ritz coefficients, then each column
        is normalised and sign-fixed as in :meth:`fit`.
        """
        self._check_fitted()
        if data is None:
            return self.embedding_.clone()
        kind = self._encoder_kind()
        if kind == "embedding":
            if data.num_nodes != self.embedding_.size(0):
                raise ValueError(
                    "encoder='embedding' is transductive: it has no values for a graph with "
                    f"{data.num_nodes} nodes (fitted on {self.embedding_.size(0)}). Use encoder='mlp' or 'gnn'."
                )
            return self.embedding_.clone()
        self._check_devices(data)
        device = self._edge_index.device
        x = getattr(data, "x", None)
        if x is not None:
            x = check_features(x, data.num_nodes, data.edge_index.device).to(device=device, dtype=self.dtype)
        with torch.no_grad():
            f = self._encode(self.encoder_, x, data.edge_index.to(device).long())
        return fix_signs(normalize_columns(f.double() @ self.ritz_coefficients_)).to(self.dtype)

    def fit_transform(self, data: Data, y: Any = None) -> Tensor:
        """:meth:`fit` then :meth:`transform` on the same graph."""
        return self.fit(data).transform()


@torch.no_grad()
def _ritz_initialize(encoder: EmbeddingEncoder, op: GraphOperator) -> None:
    r"""Start the table at the minimiser of the loss inside its random initial span.

    Inside a subspace, NestedLoRA (and OMM) are minimised by the Ritz vectors
    :math:`u_l` scaled by :math:`\sqrt{\theta_l}`. Starting there (one matvec
    and an :math:`m \times m` eigenproblem) skips the transient in which
    tiny random columns grow exponentially and, with heavy-ball momentum,
    overshoot into the region where the quartic Gram term is stiff; that
    overshoot diverges on small graphs where :math:`m` is close to :math:`n`.
    Ritz values below 1% of the largest are floored there, so no column starts
    at the zero saddle.
    """
    f = encoder()
    tf = op.matvec(f)
    theta, coef = rayleigh_ritz(f, tf, op.measure)
    r = theta.numel()
    if r == 0:
        return
    scale = theta.clamp_min(0.01 * float(theta.max().clamp_min(1e-12))).sqrt()
    start = f.detach().double().clone()
    start[:, :r] = (f.detach().double() @ coef) * scale
    encoder.set_functions_(start)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - e.g. tensors
        return a is b
