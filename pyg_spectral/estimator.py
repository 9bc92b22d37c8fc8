"""The scikit-learn style estimator: graph -> operator -> encoder -> loss -> objective -> trainer -> Ritz finish."""
from __future__ import annotations

import time
import warnings
from typing import Any, Dict, List, Optional, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from .base import SpectralEstimator
from .encoders import EmbeddingEncoder, GNNEncoder, MLPEncoder, RitzHead, build_encoder, encoder_kind, full_outputs
from .encoders.build import graph_size_kwargs
from .encoders.propagated import PropagatedInputs, default_channels
from .exceptions import ConvergenceWarning, GraphInputError  # noqa: F401  (GraphInputError: re-exported)
from .losses import build_loss
from .operators import build_operator
from .params import check_embedding_params
from .spectrum import finalize_eigenpairs, fix_signs, normalize_columns
from .training import resolve_optimizer
from .training.checkpoint import TrainingCheckpoint
from .training.distributed import DistributedContext, distributed_context, fingerprint
from .training.evaluator import ExactRitzEvaluator, HeldOutRitzEvaluator
from .training.objective import build_objective
from .training.trainer import Trainer
from .utils.fingerprint import graph_fingerprint
from .utils.graph import operator_components, symmetrize_edges
from .utils.validation import check_data, check_features, check_same_device

__all__ = ["NeuralSpectralEmbedding", "ConvergenceWarning"]


class NeuralSpectralEmbedding(SpectralEstimator):
    r"""Learn the leading eigenvectors of a graph operator with a neural
    network and a nested variational loss.

    No eigen-solver runs in the loop and no orthogonality is imposed: the encoder outputs :math:`m = k + p`
    functions on the nodes, trained with NestedLoRA or NestedOMM on the operator applied by sparse message passing.
    Every ``eval_every`` steps, a Rayleigh–Ritz step on the span of the outputs (an :math:`m \times m` eigenproblem)
    gives Ritz pairs and their residuals :math:`\|Tu - \lambda u\|`; training stops when the largest of the first
    :math:`k` residuals is below ``tol``.

    Why :math:`p` extra ("guard") functions: top eigen-gaps of real graphs are ~1e-3, and a gradient method resolves
    a subspace at a rate set by the gap at its edge. Learning :math:`k + p` functions and keeping the top :math:`k`
    Ritz pairs moves that gap from :math:`\lambda_k - \lambda_{k+1}` to :math:`\lambda_k - \lambda_{k+p+1}`, as
    block Lanczos, LOBPCG and randomized SVD do. The nesting orders the learned functions; Rayleigh–Ritz (on by
    default) resolves the order exactly inside the learned subspace, where neighbouring gaps can be ~1e-4.

    Args:
        num_components: number :math:`k` of eigenpairs.
        operator: ``"laplacian"`` (default; bottom of :math:`L_{sym}`, ascending), ``"adjacency"``,
            ``"lazy_adjacency"`` or ``"random_walk"`` (top, descending). See :mod:`pyg_spectral.operators`.
        loss: ``"nested_lora"`` or ``"nested_omm"`` (PSD operators only).
        nesting: ``"joint"``, ``"sequential"`` or ``None``.
        encoder: ``"embedding"`` (free table, transductive), ``"krylov"`` (inductive: Chebyshev-Krylov features of
            node-id-keyed noise and projected ``data.x``, head solved by Rayleigh–Ritz, depth grown until ``tol``;
            ``encoder_kwargs``: ``depth``, ``depth_step``, ``max_depth``, ``ridge``, ``rcond``, ``random_channels``,
            ``feature_channels``), ``"mlp"`` (on ``data.x``), ``"gnn"``/``"gcn"``/``"gin"``/``"sage"`` (PyG GNN on
            ``data.x`` plus node-id-keyed random features, or on propagated inputs: ``encoder_kwargs["inputs"]``), or an ``nn.Module`` with ``forward(x, edge_index) -> [n,
            m]``. The networks get a :class:`~pyg_spectral.encoders.RitzHead` (last layer solved by
            Rayleigh–Ritz each step, on the whole graph in full batch, from averaged batch moments with
            ``sampler="node"``/``"neighbor"``; ``encoder_kwargs["head"]``: ``"auto"``, ``"ritz"``, ``"linear"``;
            ``"head_width"``); in full batch they stop when their residual plateaus, on mini-batches they run
            ``max_steps`` (the cosine schedule's length) and the head is re-solved exactly at the end.
        max_steps: maximum optimisation steps.
        tol: stop when the max residual :math:`\|Ou - \lambda u\|_2` of the :math:`k` unit-norm Ritz vectors, in the
            units of the operator :math:`O` the user asked for, is ``<= tol``.
        lr: learning rate (``None``: 0.2 for the embedding table with heavy-ball SGD, 1e-3 for Adam).
        device: ``"cpu"``, ``"cuda"``... (``None``: the device of ``data``).
        seed: seed for initialisation and random features.
        progress: show a progress bar.
        n_oversamples: guard functions :math:`p` (``"auto"``: ``max(8, k // 2)``, capped by the graph size).
        filter_degree: learn :math:`T^d` (a gap-widening power filter of the PSD training operator; costs ``d``
            matmuls per step).
        optimizer: ``"auto"`` (SGD with momentum for the table, Adam for networks), ``"sgd"``, ``"adam"`` or
            ``"rmsprop"``.
        momentum: SGD momentum.
        lr_schedule: ``"auto"``, ``"constant"`` or ``"cosine"``.
        eval_every: steps between Rayleigh–Ritz evaluations.
        rayleigh_ritz: finish with Rayleigh–Ritz on the learned subspace; if ``False``, the first :math:`k` learned
            functions are returned in nesting order with Rayleigh-quotient eigenvalues.
        gradient: ``"custom"`` (operator applied without gradient; hand-built gradient) or ``"autograd"``
            (differentiate through the operator).
        symmetrize: accept a directed graph and symmetrize it; otherwise directed input raises.
        dtype: floating dtype of training (Rayleigh–Ritz is float64).
        encoder_kwargs: extra arguments of the encoder (e.g. ``hidden_channels``, ``num_layers``,
            ``random_features``). ``"inputs"`` (``encoder="mlp"`` or a GNN): ``"features"`` (default, ``data.x``),
            ``"propagated"`` (:class:`~pyg_spectral.encoders.PropagatedInputs`: id-keyed noise and projected
            features smoothed by :math:`((I + \hat A)/2)^h`, ``h = 1, 2, 4, ..., 256``, computed once; an MLP
            or a GNN on a graph without features; a GNN on them gets no extra noise channels by default) or such
            a module; recomputed on the new graph by :meth:`transform`.
            ``"skip"`` (default ``True`` with built inputs, ``False`` on ``data.x``): a linear map of the inputs
            added to the network's output and started at the Rayleigh–Ritz solution on the inputs' span
            (:meth:`~pyg_spectral.encoders.MLPEncoder.ritz_initialize_`,
            :meth:`~pyg_spectral.encoders.GNNEncoder.ritz_initialize_`), the networks' Ritz start; with
            ``batch_size`` its moments are summed over node chunks of ``max(batch_size, 8192)`` rows (memory of a
            chunk's neighbourhood). ``"keep_start"`` (a solved head; default ``True`` with ``batch_size``,
            ``False`` in full batch): the start's functions are also kept, frozen, as extra columns of the basis
            the head solves over, so the final Rayleigh–Ritz is over a span that holds the start and its Ritz
            values are never below the start's. Without it the mini-batch steps move the network off its start
            (Cora's LCC, structure only, ``B = 256``, MLP: 1.6e-3 after one step, 1.3e-2 after 25; PubMed: 1.4e-2
            after 10000); with it, 3.0e-6 after one step and after 25.
        loss_kwargs: extra arguments of the loss (e.g. ``order`` for OMM, ``step`` for joint nesting).
        warm_start: reuse the encoder of the previous :meth:`fit` when shapes agree.
        batch_size: ``None`` (default): exact full-batch training. An integer :math:`B`: unbiased mini-batch
            training (see :mod:`pyg_spectral.training.minibatch`); memory grows with :math:`B` (and the sampled
            neighbourhoods), not with :math:`n`, for ``"mlp"`` and GNN encoders. Inference is batched too.
        sampler: ``"node"`` (nodes drawn from the measure; :math:`Tf` from the exact rows of :math:`T`), ``"edge"``
            (directed edges; one sampled neighbour per row) or ``"neighbor"`` (node batches for GNN encoders on
            neighbor-sampled subgraphs).
        num_neighbors: fan-out per GNN layer for sampled subgraphs (default 10 per layer); its length must equal the
            GNN's number of layers.
        edge_mode: ``"uniform"`` or ``"weighted"`` law of the edge sampler.
        eval_size: held-out node sample on which mini-batch training estimates Ritz residuals (no ground truth
            needed); when it is ``>= n`` the evaluation is exact.
        ema_decay: keep an exponential moving average of the encoder's parameters (e.g. 0.995) and use it for
            evaluation and the result.
        sampler_backend: ``"auto"``, ``"pyg"`` (pyg-lib/torch-sparse) or ``"torch"`` for GNN subgraph sampling.
        mode: ``"evd"`` (default; eigenpairs of a symmetric operator) or ``"svd"``: singular triplets of the
            directed normalized adjacency :math:`D_{out}^{-1/2} A D_{in}^{-1/2}` (directed or bipartite graphs; see
            :mod:`pyg_spectral.svd`), with two embedding tables; sets ``singular_values_``,
            ``left_singular_vectors_`` (also ``embedding_``) and ``right_singular_vectors_``.
        callback: called at every evaluation as ``callback(record, outputs)`` with the history record (a dict) and a
            function returning the encoder's current ``[n, m]`` outputs (computed on demand, no gradient); e.g. to
            log prefix metrics against a reference.
        checkpoint: path of a checkpoint file. Written (atomically; by rank 0 only when distributed) at evaluations;
            if it exists when :meth:`fit` starts, training resumes from it, bit for bit as if uninterrupted. It must
            come from the same settings and graph.
        checkpoint_every: steps between checkpoints (default: every evaluation; rounded up to a multiple of
            ``eval_every``). The last evaluation is always saved.
        distributed: ``"auto"`` (default): when a ``torch.distributed`` process group with more than one rank is
            initialised (e.g. under ``torchrun``; see :func:`pyg_spectral.training.distributed.init_distributed`),
            train data-parallel with DDP: each rank draws its own ``batch_size`` rows and the loss is the
            single-process unbiased estimator on the ranks' concatenated batch (see
            :mod:`pyg_spectral.training.distributed`). ``False``: ignore any process group.

    Attributes:
        eigenvalues_ (Tensor): ``[k]`` eigenvalues of the user's operator (float64, as the Rayleigh–Ritz finish that
            computes them), ascending for ``"laplacian"``, descending otherwise.
        embedding_ (Tensor): ``[n, k]`` unit-norm eigenvectors in the same order, in the training ``dtype`` (float32
            by default; so is :meth:`transform`'s result); the sign makes each column's largest-magnitude entry
            positive. For ``"laplacian"`` (and on a connected graph) the first column is the trivial eigenvector
            :math:`D^{1/2}\mathbf 1 / \sqrt{\mathrm{vol}}` with eigenvalue 0. For ``"random_walk"`` the columns are
            right eigenvectors of :math:`P`, i.e. :math:`D^{-1/2}u`.
        residuals_ (Tensor): ``[k]`` final residuals in the user's units.
        history_ (list of dict): per evaluation: ``step``, ``time``, ``loss``, ``lr``, ``residual`` (max),
            ``eigenvalues``.
        n_iter_ (int), converged_ (bool: the final residuals are ``<= tol``), fit_time_ (float),
        n_components_learned_ (int): :math:`m = k + p`,
        n_connected_components_ (int), operator_, encoder_, loss_fn_.

    Example:
        >>> from pyg_spectral import NeuralSpectralEmbedding
        >>> from pyg_spectral.datasets import load_planetoid
        >>> from torch_geometric.transforms import LargestConnectedComponents
        >>> data = LargestConnectedComponents()(load_planetoid("Cora")[0])
        >>> model = NeuralSpectralEmbedding(16, progress=False).fit(data)
        >>> [round(v, 5) + 0.0 for v in model.eigenvalues_[:3].tolist()]   # 0 = trivial, then the Fiedler value
        [0.0, 0.00478, 0.00743]
        >>> model.transform().shape
        torch.Size([2485, 16])
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

    #: parameters that do not change what is computed (left out of checkpoint digests)
    _RUNTIME_PARAMS = ("progress", "callback", "checkpoint", "checkpoint_every", "device", "distributed")

    def _check_params(self) -> None:
        check_embedding_params(self)

    def _settings(self, data: Data) -> Dict[str, Any]:
        """What a run computes from: the parameters and a fingerprint of the graph."""
        params = {name: (value.__class__.__name__ if isinstance(value, nn.Module) else
                         str(value) if isinstance(value, torch.dtype) else value)
                  for name, value in self.get_params().items() if name not in self._RUNTIME_PARAMS}
        return {"params": params, "graph": graph_fingerprint(data)}

    def _outputs(self, model: nn.Module) -> Tensor:
        chunk = max(int(self.batch_size), 1024) if self.batch_size is not None else None
        return full_outputs(model, self._x, self._edge_index, chunk, num_nodes=self._num_nodes)

    # --------------------------------------------------------------------- fit
    def fit(self, data: Data, y: Any = None) -> "NeuralSpectralEmbedding":
        """Learn the eigenpairs of ``data``'s graph operator.

        Args:
            data: a PyG ``Data`` with ``edge_index`` (``[2, E]``), optional ``edge_weight`` (``[E]``) and
                ``x`` (needed by ``"mlp"``, used by GNNs).
            y: ignored (scikit-learn signature).

        Returns:
            ``self``.
        """
        self._check_params()
        data = check_data(data)
        if self.mode == "svd":
            from .svd import NeuralSpectralSVD

            return NeuralSpectralSVD.fit_for(self, data)
        check_same_device(data)
        ctx = distributed_context(self.distributed)
        device = _resolve_device(self.device, data.edge_index.device)
        if ctx is not None and self.device is None:
            device = ctx.device
        start = time.perf_counter()
        # graph -> operator
        op = build_operator(self.operator, data.edge_index, getattr(data, "edge_weight", None), data.num_nodes,
                            symmetrize=self.symmetrize, filter_degree=self.filter_degree, dtype=self.dtype).to(device)
        n, k = op.num_nodes, self.num_components
        self._num_nodes = n  # what a featureless graph tells a GNN
        if k >= n:
            raise ValueError(f"num_components={k} must be smaller than the number of nodes ({n}).")
        self.n_connected_components_ = operator_components(op, data.edge_index, getattr(data, "edge_weight", None))
        p = max(8, k // 2) if self.n_oversamples == "auto" else int(self.n_oversamples)
        m = self.n_components_learned_ = min(k + p, n)
        kind = encoder_kind(self.encoder)
        x = getattr(data, "x", None)
        if kind != "embedding" and x is not None:
            x = check_features(x, n, data.edge_index.device, dtype=self.dtype).to(device=device, dtype=self.dtype)
        self._edge_index = data.edge_index.to(device).long()
        self.inputs_ = self._input_transform(kind, x)
        if self.inputs_ is not None:  # graph -> inputs: structure as MLP features, computed once
            x = self._structural_inputs(x, data, device)
        self._x = None if kind == "embedding" else x
        if kind == "krylov":
            return self._fit_krylov(data, op, m, start)
        # -> loss -> encoder
        loss_fn = build_loss(self.loss, m, nesting=self.nesting, gradient=self.gradient,
                             **(self.loss_kwargs or {})).to(device)
        loss_fn.check_operator(op)
        reuse = (self.warm_start and getattr(self, "encoder_", None) is not None
                 and getattr(self, "n_components_learned_prev_", None) == m and getattr(self, "_n_prev", None) == n)
        enc_kwargs = dict(self.encoder_kwargs or {})
        enc_kwargs.pop("inputs", None)
        if self.inputs_ is not None:  # start at the Rayleigh–Ritz solution on the inputs' span (see below)
            enc_kwargs.setdefault("skip", True)
            if kind == "gnn":  # built inputs already tell the nodes apart (id-keyed noise, propagated)
                enc_kwargs.setdefault("random_features", 0)
        head = enc_kwargs.pop("head", "auto")
        keep_start = enc_kwargs.pop("keep_start", None)
        # a solved last layer for networks: on the whole graph (full batch) or from averaged batch moments
        # (node / neighbor batches); edge batches and data-parallel ranks keep a trained linear head
        ritz_ok = kind in ("mlp", "gnn") and ctx is None and (self.batch_size is None or self.sampler != "edge")
        if head == "auto":
            head = "ritz" if ritz_ok else "linear"
        elif head == "ritz" and not ritz_ok:
            raise ValueError("encoder_kwargs['head']='ritz' solves the last layer by Rayleigh–Ritz: it needs a network "
                             "encoder ('mlp' or a GNN), one process, and full batch or sampler='node'/'neighbor'.")
        encoder = self.encoder_ if reuse else build_encoder(
            self.encoder, m, num_nodes=n, x=self._x, measure=op.measure, seed=self.seed,
            encoder_kwargs=enc_kwargs, device=device, head=head)
        encoder = encoder.to(device=device, dtype=self.dtype)
        if isinstance(encoder, EmbeddingEncoder):
            encoder.column_grad_scale.copy_(1.0 / loss_fn.vector_mask)
            if not reuse:
                encoder.ritz_initialize_(op)
        trunk = encoder.trunk if isinstance(encoder, RitzHead) else encoder
        if not reuse and isinstance(trunk, (MLPEncoder, GNNEncoder)) and trunk.skip is not None:
            # the network starts where a linear map of its inputs is best (the table's Ritz start); a trained
            # linear head starts at the nested losses' minimiser there (scaled), a solved head re-solves anyway
            # (mini-batch: moments in node chunks, so that memory stays that of a batch, as in training)
            solved = isinstance(encoder, RitzHead)
            keep = (self.batch_size is not None and solved) if keep_start is None else bool(keep_start)
            if keep and not solved:
                raise ValueError("encoder_kwargs['keep_start'] keeps the Ritz start as extra columns of the basis a "
                                 "solved head combines: it needs encoder_kwargs['head']='ritz' (or 'auto').")
            trunk.ritz_initialize_(self._x, op, scaled=not solved, keep_start=keep,
                                   chunk=None if self.batch_size is None else max(int(self.batch_size), 8192),
                                   columns=getattr(self.inputs_, "start_columns", None))
            if keep:  # the head combines the trunk's columns and the kept start's
                encoder.coef = encoder.coef.new_zeros(encoder.coef.size(0) + trunk.start.size(0), encoder.out_channels)
        elif not reuse and keep_start:
            raise ValueError("encoder_kwargs['keep_start'] keeps the Ritz start of a network's linear skip: it needs "
                             "an MLP or a GNN with encoder_kwargs['skip']=True (the default with built inputs, "
                             "encoder_kwargs['inputs']='propagated').")
        # what this run computes from (parameters + graph fingerprint): compared across ranks, keys checkpoints
        settings = self._settings(data) if ctx is not None or self.checkpoint is not None else None
        # -> objective -> trainer (-> Ritz evaluator)
        objective = build_objective(op, encoder, loss_fn, self._x, self._edge_index, batch_size=self.batch_size,
                                    sampler=self.sampler, num_neighbors=self.num_neighbors, edge_mode=self.edge_mode,
                                    sampler_backend=self.sampler_backend, custom_gradient=self.gradient == "custom",
                                    seed=self.seed, ctx=ctx, settings=settings)
        if self.batch_size is not None and self.eval_size < n:
            evaluator = HeldOutRitzEvaluator(objective if ctx is None else objective.inner, k, self.eval_size, self.seed)
        else:
            evaluator = ExactRitzEvaluator(op, k, self._outputs)
        trainer = self._trainer(encoder, op, loss_fn, objective, ctx, settings)
        # a network started at the Rayleigh–Ritz solution on its inputs: the head solved on that start is evaluated
        # before any step, and a start that meets tol trains no step (Cora's LCC without features, k = 16,
        # whitened propagated inputs: residual 2e-5 at the start; full batch ran 100 steps for nothing, mini-batch
        # all of max_steps, its sampled residual never reading below tol). Mini-batch: the exact moments
        # streamed over node chunks and the exact residual, as the final solve does; that pass costs what the
        # final solve does, so only on built inputs, whose start is the answer on real graphs (on user features,
        # e.g. one SIGN hop on a 1e6-node SBM, the start is at 4e-3 and the pass would be spent for nothing).
        started = (not reuse and ctx is None and isinstance(encoder, RitzHead)
                   and getattr(encoder.trunk, "skip", None) is not None
                   and (self.batch_size is None or self.inputs_ is not None))
        start_evaluator = None
        if started:  # in inference mode, as the final solve (batch norm: the same function on every chunk)
            encoder.eval()
            self._solve_head(encoder, objective, op)
            exact = ExactRitzEvaluator(op, k, self._outputs)

            def start_evaluator(model: nn.Module) -> Dict[str, Any]:
                training = model.training
                model.eval()
                try:
                    return exact(model)
                finally:
                    model.train(training)
        result = trainer.run(objective, loss_fn, evaluator, dtype=self.dtype, evaluate_start=start_evaluator)
        self.operator_, self.encoder_, self.loss_fn_ = op, result.model, loss_fn
        if isinstance(self.encoder_, RitzHead):  # the head of the model kept (e.g. its average), on its trunk
            self.encoder_.eval()  # inference mode (e.g. batch norm's running statistics), as transform will be
            self._solve_head(self.encoder_, objective, op)
        self.n_components_learned_prev_, self._n_prev = m, n
        self.history_, self.n_iter_, self.converged_ = result.history, result.steps, result.converged
        self._fingerprint = graph_fingerprint(data)
        # -> Ritz finish -> eigenpairs
        self._finalize()
        self.fit_time_ = time.perf_counter() - start
        if not self.converged_ and float(self.residuals_.max()) <= self.tol:
            self.converged_ = True  # the final solve (the head on exact moments, Rayleigh–Ritz) reached tol
        if not self.converged_ and self.history_ and self.history_[-1].get("stalled"):
            # CiteSeer's LCC (k = 16): the MLP on its features stalls at 9.3e-2, on propagated inputs 1.9e-6
            # (benchmarks/results/encoders_propagated_features.md)
            richer = ("encoder_kwargs={'inputs': 'propagated'}" if kind == "mlp" and self.inputs_ is None
                      else "more informative inputs")
            warnings.warn(
                f"Stopped at step {self.n_iter_}: the max residual ({self.residuals_.max():.2e}) stopped falling "
                f"above tol={self.tol:g} (what this encoder can express on these inputs). A wider network "
                f"(encoder_kwargs['head_width'], 'hidden_channels'), {richer}, or encoder='krylov'.",
                ConvergenceWarning, stacklevel=2)
        elif not self.converged_:
            warnings.warn(
                f"Stopped at max_steps={self.max_steps} with max residual {self.residuals_.max():.2e} > tol={self.tol:g}. "
                "Raise max_steps, widen gaps with filter_degree, or add n_oversamples.",
                ConvergenceWarning, stacklevel=2)
        return self

    @torch.no_grad()
    def _solve_head(self, encoder: RitzHead, objective, op) -> None:
        """The head solved exactly on the trunk's span: on every node (full batch) or from exact moments streamed
        over node chunks (mini-batch: memory of a batch, not of the graph). Columns at unit norm first: trained
        ones grow, a kept start's do not, and ``rcond`` must judge both."""
        if self.batch_size is None:
            h = full_outputs(encoder.trunk, self._x, self._edge_index, num_nodes=op.num_nodes)
            encoder.solve_(h, op.matvec(h), op.measure, equilibrate=True)
        else:
            encoder.solve_moments_(*objective.exact_moments(encoder.trunk, max(int(self.batch_size), 1024)),
                                   equilibrate=True)

    def _input_transform(self, kind: str, x: Optional[Tensor]) -> Optional[nn.Module]:
        """``encoder_kwargs["inputs"]``: ``"features"`` (default: ``data.x`` as it is; ``None`` returned),
        ``"propagated"`` (:class:`~pyg_spectral.encoders.PropagatedInputs`, channels per hop from
        :func:`~pyg_spectral.encoders.propagated.default_channels`) or a module called as
        ``inputs(x, edge_index, num_nodes=, n_id=, edge_weight=)``; an MLP or a GNN."""
        inputs = (self.encoder_kwargs or {}).get("inputs", "features")
        if isinstance(inputs, str) and inputs == "features":
            return None
        if kind not in ("mlp", "gnn"):
            raise ValueError(f"encoder_kwargs['inputs']={inputs!r} builds the inputs of a network: use encoder='mlp' "
                             f"or a GNN (got encoder={self.encoder!r}).")
        if isinstance(inputs, nn.Module):
            return inputs
        if inputs == "propagated":  # as many columns per hop as the span needs for m functions
            c = 0 if x is None else x.size(-1)
            random, feature = default_channels(c, self.n_components_learned_)
            return PropagatedInputs(c, random_channels=random, feature_channels=feature, seed=self.seed)
        raise ValueError(f"encoder_kwargs['inputs'] must be 'features', 'propagated' or a module, got {inputs!r}.")

    @torch.no_grad()
    def _structural_inputs(self, x: Optional[Tensor], data: Data, device: torch.device) -> Tensor:
        """``inputs_`` of ``data``'s graph (made undirected first when ``symmetrize``, as the operator is)."""
        edge_index, weight = data.edge_index.to(device).long(), getattr(data, "edge_weight", None)
        weight = None if weight is None else weight.to(device)
        if self.symmetrize:
            edge_index, weight = symmetrize_edges(edge_index, weight)
        out = self.inputs_(x, edge_index, num_nodes=data.num_nodes, n_id=getattr(data, "n_id", None),
                           edge_weight=weight)
        return out.to(device=device, dtype=self.dtype)

    def _fit_krylov(self, data: Data, op, m: int, start: float) -> "NeuralSpectralEmbedding":
        """``encoder="krylov"``: no training; the head is solved by Rayleigh–Ritz while the Chebyshev depth grows
        (``encoder_kwargs``: ``depth``, ``depth_step``, ``max_depth``, ``ridge``, ``rcond``; see ``fit_krylov_head``)."""
        from .encoders.krylov import fit_krylov_head

        if self.batch_size is not None:
            raise ValueError("encoder='krylov' solves its head in closed form on the full graph: use batch_size=None.")
        kwargs = dict(self.encoder_kwargs or {})
        grow = {key: kwargs.pop(key) for key in ("depth_step", "max_depth", "ridge", "rcond") if key in kwargs}
        encoder = build_encoder("krylov", m, num_nodes=op.num_nodes, x=self._x, seed=self.seed,
                                encoder_kwargs=kwargs, device=op.device)
        head, u, self.history_, self.converged_ = fit_krylov_head(
            encoder, self._x, self._edge_index, op.base, self.num_components, tol=self.tol,
            edge_weight=getattr(data, "edge_weight", None), n_id=getattr(data, "n_id", None), **grow)
        self.operator_, self.encoder_, self.loss_fn_, self.n_iter_ = op, encoder, None, encoder.depth
        self._fingerprint = graph_fingerprint(data)
        result = finalize_eigenpairs(u.to(self.dtype), op.base, self.num_components, dtype=self.dtype)
        self.eigenvalues_, self.residuals_, self.embedding_ = result.eigenvalues, result.residuals, result.vectors
        self.ritz_coefficients_ = head @ result.coefficients
        self.fit_time_ = time.perf_counter() - start
        if not self.converged_:
            last = self.history_[-1]
            warnings.warn(f"encoder='krylov' stopped at depth {encoder.depth} with max residual "
                          f"{last.get('head_residual', last['residual']):.2e} > tol={self.tol:g}. Raise "
                          "encoder_kwargs['max_depth'] or 'random_channels'.", ConvergenceWarning, stacklevel=3)
        return self

    def _trainer(self, encoder: nn.Module, op, loss_fn, objective, ctx, settings) -> Trainer:
        optimizer, lr, schedule = resolve_optimizer(
            self.optimizer, self.lr, self.lr_schedule, encoder_kind(self.encoder) == "embedding",
            op.spectral_radius * loss_fn.curvature, minibatch=self.batch_size is not None, num_nodes=op.num_nodes)
        run_ctx = ctx if ctx is not None else DistributedContext(0, 1, op.device)
        checkpoint = None
        if self.checkpoint is not None:
            generator = objective.inner.generator if ctx is not None else getattr(objective, "generator", None)

            def checkpoint(states):
                if getattr(objective, "head", None) is not None:  # a solved head's running moments
                    states = dict(states, objective=objective)
                return TrainingCheckpoint(self.checkpoint, run_ctx, fingerprint(settings),
                                          self.checkpoint_every or self.eval_every, states, generator)
        callback = None
        if self.callback is not None:
            def callback(record, model):
                self.callback(record, lambda: torch.no_grad()(self._outputs)(model))
        return Trainer(encoder, optimizer=optimizer, lr=lr, lr_schedule=schedule, momentum=self.momentum,
                       max_steps=self.max_steps, eval_every=self.eval_every, tol=self.tol, ema_decay=self.ema_decay,
                       world_size=run_ctx.world_size, checkpoint=checkpoint, is_main=run_ctx.is_main,
                       broadcast=run_ctx.broadcast, callback=callback, progress=self.progress,
                       desc=f"{self.loss} k={self.num_components}",
                       # a network's residual plateaus above a tight tol (what its inputs can express): stop there
                       # (full batch; a mini-batch run's noisy residual falls as its schedule anneals: no stop).
                       # 16 evaluations: with 8, GCN on Cora (k = 8) stopped at 2.6e-3 eigenvalue error at 2 threads
                       # and at 6.7e-4 at 1 (a plateau it leaves later); with 16, 5.1e-4 at 2 threads.
                       patience=16 if isinstance(encoder, RitzHead) and self.batch_size is None else None)

    def _finalize(self) -> None:
        """Rayleigh–Ritz (or Rayleigh quotients) on the learned functions: the fitted ``*_`` attributes."""
        with torch.no_grad():
            f = self._outputs(self.encoder_)
        hint = ("The EVD form of NestedLoRA learns only positive eigenvalues and "
                f"{self.operator!r} has negative ones; use 'lazy_adjacency' or 'laplacian'."
                if not self.operator_.base.is_psd else "Train longer or use fewer components.")
        result = finalize_eigenpairs(f, self.operator_.base, self.num_components, rayleigh_ritz=self.rayleigh_ritz,
                                     output_coefficients=getattr(self.loss_fn_, "output_coefficients", None),
                                     dtype=self.dtype, collapsed_hint=hint)
        self.eigenvalues_, self.residuals_ = result.eigenvalues, result.residuals
        self.embedding_, self.ritz_coefficients_ = result.vectors, result.coefficients

    @property
    def eigenvectors_(self) -> Tensor:
        """Alias of :attr:`embedding_`."""
        return self.embedding_

    # --------------------------------------------------------------- transform
    def transform(self, data: Optional[Data] = None) -> Tensor:
        """Return the ``[n, k]`` eigenvectors.

        With ``data=None``, those of the fitted graph. With a new graph (``"mlp"``/GNN encoders only), the
        encoder is evaluated on it and mapped with the fitted Rayleigh–Ritz coefficients, then each column is
        normalised and sign-fixed as in :meth:`fit`.
        """
        self._check_fitted()
        if data is None:
            return self.embedding_.clone()
        data = check_data(data)
        if encoder_kind(self.encoder) == "embedding":
            if data.num_nodes != self.embedding_.size(0):
                raise ValueError(
                    "encoder='embedding' is transductive: it has no values for a graph with "
                    f"{data.num_nodes} nodes (fitted on {self.embedding_.size(0)}). Use encoder='mlp' or 'gnn'.")
            if graph_fingerprint(data) != self._fingerprint:
                raise ValueError("encoder='embedding' is transductive: data is not the graph it was fitted on "
                                 "(same number of nodes, other edges, weights or features). Fit on this graph, "
                                 "or use encoder='mlp' or 'gnn' to embed new graphs.")
            return self.embedding_.clone()
        check_same_device(data)
        device = self._edge_index.device
        x = getattr(data, "x", None)
        if x is not None:
            x = check_features(x, data.num_nodes, data.edge_index.device, dtype=self.dtype).to(device=device, dtype=self.dtype)
        if getattr(self, "inputs_", None) is not None:  # the fitted inputs' scales, on the new graph's structure
            x = self._structural_inputs(x, data, device)
        extra = {}
        if getattr(self.encoder_, "takes_node_ids", False) and getattr(data, "n_id", None) is not None:
            extra["n_id"] = data.n_id.to(device)  # the new graph's global ids: seen nodes keep their inputs
        else:
            extra.update(graph_size_kwargs(self.encoder_, x, data.num_nodes))
        if encoder_kind(self.encoder) == "krylov":
            weight = getattr(data, "edge_weight", None)
            extra["edge_weight"] = None if weight is None else weight.to(device)
        with torch.no_grad():
            f = self.encoder_(x, data.edge_index.to(device).long(), **extra)
        return fix_signs(normalize_columns(f.double() @ self.ritz_coefficients_)).to(self.dtype)

    def fit_transform(self, data: Data, y: Any = None) -> Tensor:
        """:meth:`fit` then :meth:`transform` on the same graph."""
        return self.fit(data).transform()


def _resolve_device(device, default: torch.device) -> torch.device:
    """``device`` (or ``default``), refused with a clear error when this torch cannot use it."""
    if device is None:
        return default
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but this torch {torch.__version__} has no usable CUDA device "
                         "(a CPU build, or no GPU visible); use device='cpu'.")
    if device.type == "meta":
        raise ValueError("device='meta' holds no data: choose a real device such as 'cpu' or 'cuda'.")
    return device
