r"""A drop-in replacement for PyG's ``AddLaplacianEigenvectorPE``, learned by a nested loss."""
from __future__ import annotations

import functools
import inspect
import itertools
import warnings
from types import MethodType
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.transforms.add_positional_encoding import add_node_attr
from torch_geometric.utils import is_undirected as _pyg_is_undirected
from torch_geometric.utils import scatter, subgraph

from ..estimator import NeuralSpectralEmbedding
from ..exceptions import ConvergenceWarning, GraphInputError
from ..operators import build_operator
from ..spectrum import fix_signs
from ..utils.graph import component_labels, component_nodes, symmetrize_edges
from ..utils.validation import check_graph

__all__ = ["AddNeuralEigenvectorPE", "precompute_pe", "ARPACK_KEYWORDS"]

#: Residual floor per dtype for ``tol``: what the estimator reaches reliably (measured: float32 stalls
#: near 3e-7 on small graphs, higher on large ones; float64 reaches 1e-12).
TOL_FLOOR = {torch.float32: 1e-5, torch.float64: 1e-10}

#: Keywords of :func:`scipy.sparse.linalg.eigsh` / ``eigs`` that PyG forwards and this transform accepts,
#: with what each becomes here.
ARPACK_KEYWORDS = {
    "maxiter": "bound on the optimisation steps (max_steps)",
    "tol": "residual tolerance max ||L u - lambda u||_2 <= max(tol, floor); floor 1e-5 (float32), 1e-10 (float64)",
    "ncv": "k + 1 + n_oversamples functions (ncv >= k + 2)",
    "which": "only the smallest eigenvalues: 'SA', 'SR' or 'SM'",
    "sigma": "accepted and ignored (an ARPACK shift-invert speed-up; nothing to factorise here)",
    "v0": "accepted and ignored (the start is set by seed=)",
    "mode": "accepted and ignored (ARPACK's shift-invert mode)",
}
_REFUSED = {
    "k": "k is the transform's first argument",
    "return_eigenvectors": "the transform always returns eigenvectors",
    "M": "a generalised problem (M) changes the eigenpairs",
    "Minv": "a generalised problem (Minv) changes the eigenpairs",
    "OPinv": "there is no shift-invert operator to supply",
    "OPpart": "there is no shift-invert operator to supply",
}
#: Estimator parameters the transform sets itself, and why.
_FIXED = {
    "num_components": "fixed by k",
    "operator": "the transform's operator is the normalized Laplacian",
    "symmetrize": "the transform symmetrizes directed input itself (is_undirected=False)",
}
_SMALLEST = ("SA", "SR", "SM")
_ARPACK_MODES = ("normal", "buckling", "cayley")


def _estimator_keywords() -> List[str]:
    """The estimator's own keywords the transform forwards (read off its signature, so that they stay in
    step with it)."""
    params = inspect.signature(NeuralSpectralEmbedding.__init__).parameters
    return sorted(p for p in params if p != "self" and p not in _FIXED and p not in ARPACK_KEYWORDS)


class _InstanceOrClassMethod:
    """A method bound to the instance when called on one and to the class when called on the class
    (``classmethod`` always binds the class)."""

    def __init__(self, func):
        self.__func__ = func
        functools.update_wrapper(self, func)

    def __get__(self, obj, objtype=None):
        return MethodType(self.__func__, objtype if obj is None else obj)


class AddNeuralEigenvectorPE(BaseTransform):
    r"""Laplacian eigenvector positional encodings learned with a nested
    spectral loss (functional drop-in for
    :class:`torch_geometric.transforms.AddLaplacianEigenvectorPE`).

    Adds the :math:`k` eigenvectors of :math:`L_{sym} = I - D^{-1/2} A
    D^{-1/2}` with the smallest eigenvalues after the trivial one as
    ``data[attr_name]`` (``[n, k]``), or concatenates them to ``data.x`` when
    ``attr_name=None``; with ``add_eigenvalues=True`` also their eigenvalues as
    ``data[attr_name + "_eigenvalues"]`` (``[k]``).

    **Which vectors.** PyG takes the :math:`k + 1` smallest eigenpairs of the
    whole :math:`L_{sym}` and drops the first. By default
    (``per_component=False``) this transform returns the same eigenvalues and
    the same space: on a connected graph the dropped vector is
    :math:`D^{1/2}\mathbf 1`; on a graph with :math:`c` components of at least
    two nodes, eigenvalue 0 has multiplicity :math:`c`, the dropped vector is
    the whole graph's :math:`D^{1/2}\mathbf 1/\|D^{1/2}\mathbf 1\|` and the
    other :math:`c - 1` null vectors come first, each constant (times
    :math:`D^{1/2}`) on every component (the :math:`q`-th separates component
    :math:`q` from components :math:`0..q-1`, components ordered by their
    first node). An isolated node has eigenvalue 1 and an indicator vector,
    as in PyG (``get_laplacian`` puts 1 on its diagonal); a graph with no edge
    at all drops its first node's indicator, as PyG does. Nodes of another
    component than a vector's are exactly zero in it.

    With ``per_component=True``, the trivial vector of *every* component is
    dropped and the :math:`k` smallest remaining eigenvalues over all
    components are kept, each vector supported on its own component (the
    per-component spectral embedding: no null-space columns, which carry
    only "which component" information).

    Differences from PyG's transform (each tested):

    * **Deterministic**: same input, same output (fixed seed; the sign of
      each column makes its largest-magnitude entry positive; PyG flips signs
      at random). Pass ``seed=`` to change the seed.
    * **No ARPACK**: nothing can fail to converge; if training stops at
      ``max_steps`` the result is still returned, with a
      :class:`~pyg_spectral.exceptions.ConvergenceWarning`.
    * **Small graphs**: fewer than :math:`k` non-trivial eigenvectors (graphs
      with :math:`\le k` nodes) are padded with zero columns instead of
      crashing. A component whose every eigenpair is needed is solved
      exactly (dense ``eigh``).
    * **Batches**: given a :class:`~torch_geometric.data.Batch`, every graph
      gets its own :math:`k` eigenvectors, and the returned batch's
      ``to_data_list()`` and indexing give each graph its own PE (the new
      attributes are registered in the batch's slice dictionaries). See
      :func:`precompute_pe` for whole datasets.
    * **Directed input**: ``is_undirected=False`` (PyG's default)
      symmetrizes, :math:`A \to A + A^\top` (the same normalized
      Laplacian as :math:`(A + A^\top)/2`; an undirected graph, duplicate
      edges included, keeps its spectrum; PyG runs a
      non-symmetric solver on the raw Laplacian instead); with
      ``is_undirected=True`` a directed graph raises a
      :class:`~pyg_spectral.exceptions.GraphInputError` (PyG's ``eigh``
      silently reads one triangle).
    * **Solver keywords**: PyG forwards ``**kwargs`` to ARPACK; here
      ``maxiter``, ``tol``, ``ncv``, ``which``, ``sigma``, ``v0`` and ``mode``
      keep a meaning (:data:`ARPACK_KEYWORDS`), the estimator's own keywords
      pass through, anything else is refused at construction.

    Args:
        k: number of eigenvectors.
        attr_name: attribute name (``None``: concatenate to ``data.x``).
        is_undirected: see *Directed input* above.
        per_component: drop one trivial vector per connected component
            instead of one for the whole graph (see above).
        add_eigenvalues: also add ``data[attr_name + "_eigenvalues"]``
            (needs ``attr_name``).
        refine_steps, refine_dtype: inductive mode only (:meth:`fit`): sparse
            matmuls of refinement after the network's forward pass and their
            dtype.
        **kwargs: PyG's ARPACK keywords (:data:`ARPACK_KEYWORDS`: ``maxiter``
            bounds the steps; ``tol`` is a *residual*
            :math:`\max_j\|L u_j - \lambda_j u_j\|_2` floored at what the
            dtype resolves, 1e-5 in float32, 1e-10 in float64, since ARPACK's
            relative ``tol=1e-8`` is out of float32's reach; ``ncv``
            :math:`= k + 1 + p` sets the oversampling :math:`p`), or keywords of
            :class:`~pyg_spectral.NeuralSpectralEmbedding` (``max_steps``,
            ``seed``, ``device``, ``dtype``, ``encoder``, ...).

    Example:
        >>> from pyg_spectral.datasets import cycle_graph
        >>> pe = AddNeuralEigenvectorPE(4, is_undirected=True, add_eigenvalues=True)
        >>> out = pe(cycle_graph(12))
        >>> out.laplacian_eigenvector_pe.shape
        torch.Size([12, 4])
        >>> [round(float(v), 4) for v in out.laplacian_eigenvector_pe_eigenvalues]
        [0.134, 0.134, 0.5, 0.5]
    """

    def __init__(self, k: int, attr_name: Optional[str] = "laplacian_eigenvector_pe", is_undirected: bool = False,
                 *, per_component: bool = False, add_eigenvalues: bool = False, refine_steps: int = 24,
                 refine_dtype: torch.dtype = torch.float32, **kwargs: Any):
        from .inductive import refinement_schedule

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        if add_eigenvalues and attr_name is None:
            raise ValueError("add_eigenvalues=True needs an attr_name (the eigenvalues go to attr_name + "
                             "'_eigenvalues'); with attr_name=None the PE is concatenated to data.x.")
        refinement_schedule(refine_steps, refine_dtype)  # validates both now, not at the first graph
        self.k = k
        self.attr_name = attr_name
        self.is_undirected = bool(is_undirected)
        self.per_component = bool(per_component)
        self.add_eigenvalues = bool(add_eigenvalues)
        self.refine_steps = int(refine_steps)
        self.refine_dtype = refine_dtype
        self.kwargs = dict(kwargs)
        self.estimator_kwargs = self._map_keywords(k, kwargs)
        self.model_ = None  # set by fit() or load(): inductive mode

    @staticmethod
    def _map_keywords(k: int, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        """PyG's ARPACK keywords and the estimator's own -> the estimator's keywords."""
        own = _estimator_keywords()
        out: Dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in _FIXED:
                raise ValueError(f"{key!r} cannot be set on AddNeuralEigenvectorPE: {_FIXED[key]}.")
            if key in _REFUSED:
                raise TypeError(f"AddNeuralEigenvectorPE does not accept the eigsh keyword {key!r}: {_REFUSED[key]}.")
            if key not in ARPACK_KEYWORDS and key not in own:
                raise TypeError(
                    f"AddNeuralEigenvectorPE got an unknown keyword {key!r}. Accepted: PyG's eigsh/eigs keywords "
                    f"{sorted(ARPACK_KEYWORDS)} and NeuralSpectralEmbedding's {own}.")
            if key not in ARPACK_KEYWORDS:
                out[key] = value
        dtype = out.get("dtype", torch.float32)
        if "maxiter" in kwargs:
            maxiter = kwargs["maxiter"]
            if "max_steps" in kwargs:
                raise ValueError("Pass maxiter or max_steps, not both (maxiter is PyG's name for the step bound).")
            if maxiter is not None:
                if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
                    raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}.")
                out["max_steps"] = maxiter
        if "tol" in kwargs:
            tol = kwargs["tol"]
            if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
                raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
            floor = TOL_FLOOR.get(dtype, TOL_FLOOR[torch.float32])
            if 0 < tol < floor:
                warnings.warn(f"tol={tol:g} is below what {dtype} resolves; using the residual floor {floor:g} "
                              "(dtype=torch.float64 goes down to 1e-10).", UserWarning, stacklevel=3)
            out["tol"] = max(float(tol), floor)  # ARPACK's tol=0 means "machine precision": the floor
        if "ncv" in kwargs and kwargs["ncv"] is not None:
            ncv = kwargs["ncv"]
            if "n_oversamples" in kwargs:
                raise ValueError("Pass ncv or n_oversamples, not both (ncv = k + 1 + n_oversamples).")
            if isinstance(ncv, bool) or not isinstance(ncv, int) or ncv < k + 2:
                raise ValueError(f"ncv must be an integer >= k + 2 = {k + 2} (ARPACK needs ncv > k + 1), got {ncv!r}.")
            out["n_oversamples"] = ncv - k - 1
        which = kwargs.get("which", "SA")
        if which not in _SMALLEST:
            raise ValueError(f"which={which!r}: the transform computes the smallest eigenvalues of L_sym; "
                             f"accepted: {list(_SMALLEST)}.")
        mode = kwargs.get("mode", "normal")
        if mode not in _ARPACK_MODES:
            raise ValueError(f"mode={mode!r} is not an ARPACK mode {list(_ARPACK_MODES)}.")
        out.setdefault("progress", False)
        return out

    # -------------------------------------------------------------- inductive
    @_InstanceOrClassMethod
    def fit(self_or_cls, graphs: Iterable, k: Optional[int] = None, *, steps: int = 2000, batch_graphs: int = 32,
            lr: float = 3e-3, progress: bool = True, seed: Optional[int] = None,
            **kwargs: Any) -> "AddNeuralEigenvectorPE":
        r"""Train one GNN across ``graphs`` (inductive mode); the fitted transform encodes unseen graphs with
        a forward pass and ``refine_steps`` sparse matmuls of Chebyshev-filtered subspace iteration with
        Rayleigh–Ritz, in ``refine_dtype`` (0: Rayleigh–Ritz of the forward pass alone; float64 to converge
        past float32's ~1e-6; see :class:`~pyg_spectral.transforms.inductive.InductivePEModel`). Apply it
        to a whole :class:`~torch_geometric.data.Batch` to encode many graphs at once
        (``benchmarks/results/pe_throughput.md``).

        Two spellings:

        * ``AddNeuralEigenvectorPE.fit(graphs, k=8, **settings)``: a new transform; ``settings`` are the
          constructor's (``attr_name``, ``is_undirected``, ``per_component``, ``add_eigenvalues``,
          ``refine_steps``, ``refine_dtype``) or :class:`InductivePEModel`'s (``gnn``,
          ``hidden_channels``, ``num_layers``, ``random_features``, ``n_oversamples``).
        * ``AddNeuralEigenvectorPE(8, ...).fit(graphs)``: fits *this* transform with its own settings (its
          ``k``, ``attr_name``, ..., its ``seed=`` and an integer ``n_oversamples=``/``ncv=``) and returns
          it; ``kwargs`` are then the model's. The per-graph estimator's settings (``max_steps``, ``tol``,
          ``encoder``, ...) do not apply to the inductive model.

        ``steps``, ``batch_graphs``, ``lr``: training of the model; ``seed`` (default: the transform's
        ``seed=``, else 0) seeds the training and the model's random features.

        Example:
            >>> from pyg_spectral.datasets import cycle_graph, grid_graph
            >>> pe = AddNeuralEigenvectorPE(3).fit([grid_graph(4, 5), cycle_graph(12)], steps=20, progress=False)
            >>> pe(grid_graph(5, 6)).laplacian_eigenvector_pe.shape
            torch.Size([30, 3])
            >>> AddNeuralEigenvectorPE.fit([cycle_graph(12)], k=2, steps=5, progress=False,
            ...                            per_component=True)  # doctest: +ELLIPSIS
            AddNeuralEigenvectorPE(k=2, ..., per_component=True, inductive, refine_steps=24, ...)
        """
        from .inductive import InductivePEModel

        if isinstance(self_or_cls, type):
            if k is None:
                raise TypeError("AddNeuralEigenvectorPE.fit(graphs, k=...) needs k; or fit an instance: "
                                "AddNeuralEigenvectorPE(k, ...).fit(graphs).")
            names = ("attr_name", "is_undirected", "per_component", "add_eigenvalues", "refine_steps", "refine_dtype")
            settings = {name: kwargs.pop(name) for name in names if name in kwargs}
            transform = self_or_cls(k, **settings)
        else:
            transform = self_or_cls
            if k is not None and k != transform.k:
                raise ValueError(f"This transform has k={transform.k}; fit(graphs, k={k}) would change it. "
                                 f"Build AddNeuralEigenvectorPE({k}, ...) instead.")
        if seed is None:
            seed = int(transform.estimator_kwargs.get("seed", 0))
        oversamples = transform.estimator_kwargs.get("n_oversamples")
        if isinstance(oversamples, int) and not isinstance(oversamples, bool):
            kwargs.setdefault("n_oversamples", oversamples)
        model = InductivePEModel(transform.k, seed=seed, **kwargs)
        model.fit(graphs, steps=steps, batch_graphs=batch_graphs, lr=lr, progress=progress, seed=seed)
        transform.model_ = model
        return transform

    @classmethod
    def _inductive(cls, model, attr_name, refine_steps, refine_dtype=torch.float32,
                   **settings: Any) -> "AddNeuralEigenvectorPE":
        transform = cls(model.config["k"], attr_name=attr_name, refine_steps=refine_steps, refine_dtype=refine_dtype,
                        **settings)
        transform.model_ = model
        return transform

    def save(self, path) -> None:
        """Save the trained inductive model (configuration and state dict)."""
        if self.model_ is None:
            raise RuntimeError("Only an inductive transform (from AddNeuralEigenvectorPE.fit) can be saved.")
        self.model_.save(path)

    @classmethod
    def load(cls, path, attr_name: Optional[str] = "laplacian_eigenvector_pe", refine_steps: int = 24,
             refine_dtype: torch.dtype = torch.float32, **settings: Any) -> "AddNeuralEigenvectorPE":
        """Load a model written by :meth:`save`; checks the format version and parameter shapes. ``settings``:
        the constructor's (``is_undirected``, ``per_component``, ``add_eigenvalues``)."""
        from .inductive import InductivePEModel

        return cls._inductive(InductivePEModel.load(path), attr_name, refine_steps, refine_dtype, **settings)

    # ---------------------------------------------------------------- input
    def _graph(self, data: Data) -> Tuple[Tensor, Optional[Tensor], int]:
        edge_index = data.edge_index
        edge_weight = data.edge_weight if "edge_weight" in data else None
        edge_index, edge_weight, n = check_graph(edge_index, edge_weight, data.num_nodes, require_undirected=False,
                                                 allow_no_edges=True)
        if self.is_undirected:
            if edge_index.numel() and not _pyg_is_undirected(edge_index, edge_weight, num_nodes=n):
                raise GraphInputError(
                    "AddNeuralEigenvectorPE(is_undirected=True) got a directed graph (edge_index/edge_weight is "
                    "not symmetric). Pass is_undirected=False (PyG's default) to symmetrize it first "
                    "(A -> A + A^T).")
        else:
            # A + A^T (the same normalized operators as (A + A^T) / 2): every edge both ways, parallel edges
            # kept and summed by the operator after its rescaling, so huge weights cannot overflow here
            edge_index, edge_weight = symmetrize_edges(edge_index, edge_weight)
        return edge_index, edge_weight, n

    @staticmethod
    def _degree(edge_index: Tensor, edge_weight: Optional[Tensor], n: int) -> Tensor:
        """Weighted degrees, self-loops excluded (as the operator and ``get_laplacian`` do), float64."""
        keep = edge_index[0] != edge_index[1]
        w = (torch.ones(int(keep.sum()), dtype=torch.float64) if edge_weight is None
             else edge_weight[keep].double().cpu())
        return scatter(w, edge_index[0, keep].cpu(), dim=0, dim_size=n, reduce="sum")

    @staticmethod
    def null_vectors(degree: Tensor, position: Tensor, count: int, limit: int) -> Tensor:
        r"""Orthonormal basis of the null space of :math:`L_{sym}` orthogonal to :math:`D^{1/2}\mathbf 1`.

        With components :math:`0..c-1` (``count``; ``position``: each node's component, ``degree``: its
        weighted degree), volumes :math:`v_p`, :math:`a_p = \sqrt{v_p}`, :math:`S_q = \sum_{p \le q} v_p`,
        vector :math:`q = 1..c-1` is :math:`a_q \sqrt{d_i}` on components :math:`p < q` and
        :math:`-S_{q-1}\sqrt{d_i}/a_q` on component :math:`q`, over :math:`\sqrt{S_{q-1} S_q}`: each orthogonal
        to the whole graph's :math:`D^{1/2}\mathbf 1` and to the others. Returns the first
        ``min(c - 1, limit)`` (``[nodes, .]``, float64, signed by
        :func:`~pyg_spectral.spectrum.fix_signs`).

        Example:
            >>> deg = torch.tensor([2.0, 2.0, 2.0, 1.0, 1.0])  # a triangle and an edge
            >>> AddNeuralEigenvectorPE.null_vectors(deg, torch.tensor([0, 0, 0, 1, 1]), 2, 8).flatten()
            tensor([-0.2887, -0.2887, -0.2887,  0.6124,  0.6124], dtype=torch.float64)
        """
        q_count = max(0, min(count - 1, limit))
        out = torch.zeros(degree.numel(), q_count, dtype=torch.float64)
        if q_count == 0:
            return out
        vol = scatter(degree.double(), position, dim=0, dim_size=count, reduce="sum")
        a, cum, root = vol.sqrt(), torch.cumsum(vol, 0), degree.double().sqrt()
        for q in range(1, q_count + 1):
            norm = torch.sqrt(cum[q - 1] * cum[q])
            before, here = position < q, position == q
            out[before, q - 1] = a[q] * root[before] / norm
            out[here, q - 1] = -cum[q - 1] * root[here] / (a[q] * norm)
        return fix_signs(out)

    # ---------------------------------------------------------- transductive
    def eigenpairs(self, data: Data) -> Tuple[Tensor, Tensor]:
        """Return ``(eigenvalues [k], pe [n, k])`` for one graph (zero-padded)."""
        if self.model_ is not None:
            eig, pe = self._inductive_eigenpairs(data, torch.zeros(data.num_nodes, dtype=torch.long), 1)
            return eig[0], pe
        edge_index, edge_weight, n = self._graph(data)
        dtype = self.estimator_kwargs.get("dtype", torch.float32)
        parts = [torch.from_numpy(p) for p in component_nodes(edge_index, n, edge_weight)]
        multi = [p for p in parts if p.numel() >= 2]
        singles = [p for p in parts if p.numel() == 1]
        # candidates (eigenvalue, nodes, vector on those nodes); null vectors first so that ties keep them first
        values: List[float] = []
        columns: List[Tuple[Tensor, Tensor]] = []
        need = self.k
        if not self.per_component:
            if multi:
                nodes = torch.cat(multi)
                position = torch.repeat_interleave(torch.arange(len(multi)), torch.tensor([p.numel() for p in multi]))
                deg = self._degree(edge_index, edge_weight, n)[nodes]
                block = self.null_vectors(deg, position, len(multi), self.k)
                for j in range(block.size(1)):
                    values.append(0.0)
                    columns.append((nodes, block[:, j]))
                need = self.k - block.size(1)
            else:
                singles = singles[1:]  # PyG drops one eigenvalue-1 indicator when there is no null vector
        for nodes in multi if need > 0 else []:
            sub_ei, sub_w = subgraph(nodes, edge_index, edge_weight, relabel_nodes=True, num_nodes=n)
            vals, vecs = self._component(sub_ei, sub_w, nodes.numel(), need)
            for j in range(vals.numel()):
                values.append(float(vals[j]))
                columns.append((nodes, vecs[:, j]))
        for nodes in singles:
            values.append(1.0)
            columns.append((nodes, torch.ones(1, dtype=torch.float64)))
        order = np.argsort(np.asarray(values), kind="stable")[: self.k]
        pe = torch.zeros(n, self.k, dtype=dtype)
        eig = torch.zeros(self.k, dtype=torch.float64)
        for col, idx in enumerate(order):
            nodes, vec = columns[idx]
            pe[nodes, col] = vec.to(dtype).cpu()
            eig[col] = values[idx]
        return eig, pe

    def _component(self, edge_index: Tensor, edge_weight: Optional[Tensor], size: int,
                   need: int) -> Tuple[Tensor, Tensor]:
        """The ``need`` smallest non-trivial eigenpairs of one connected component of >= 2 nodes (fewer if
        it has fewer)."""
        wanted = min(need + 1, size)
        if wanted >= size:
            # every eigenpair: exactly (no variational method learns all of a tiny graph's with k + p functions)
            op = build_operator("laplacian", edge_index, edge_weight, size, dtype=torch.float64)
            w, V = np.linalg.eigh(op.symmetric_matrix().toarray())
            lam = torch.from_numpy(2.0 * (1.0 - w[::-1].copy()))  # T = I - L/2 -> L = 2 (1 - T)
            vecs = fix_signs(torch.from_numpy(np.ascontiguousarray(V[:, ::-1])))
            return lam[1:wanted], vecs[:, 1:wanted]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # components are connected by construction
            warnings.simplefilter("always", ConvergenceWarning)
            model = NeuralSpectralEmbedding(wanted, operator="laplacian", **self.estimator_kwargs)
            model.fit(Data(edge_index=edge_index, edge_weight=edge_weight, num_nodes=size))
        return model.eigenvalues_[1:], model.embedding_[:, 1:].double()

    def _inductive_eigenpairs(self, data: Data, graph: Tensor, num_graphs: int) -> Tuple[Tensor, Tensor]:
        """Inductive mode for one graph or a batch (``graph``: graph index of each node, sorted):
        ``(eigenvalues [num_graphs, k], pe [n, k])``, each graph's columns its own k smallest."""
        edge_index, edge_weight, n = self._graph(data)
        k, dtype = self.k, self.estimator_kwargs.get("dtype", torch.float32)
        eig = torch.zeros(num_graphs, k, dtype=torch.float64)
        if n == 0:
            return eig, torch.zeros(0, k, dtype=dtype)
        graph = graph.cpu()
        labels = torch.from_numpy(component_labels(edge_index, n, edge_weight)[1].astype(np.int64))
        sizes = torch.bincount(labels)
        comp_graph = torch.zeros(sizes.numel(), dtype=torch.long).scatter_(0, labels, graph)
        # Candidates (value, graph): the Ritz pairs of every component of >= 2 nodes, the isolated nodes
        # (eigenvalue 1, indicator vector, PyG's convention) and, by default, the null vectors of graphs with
        # several components of >= 2 nodes; null vectors first so that ties keep them first.
        multi = sizes >= 2
        multi_count = torch.bincount(comp_graph[multi], minlength=num_graphs)
        # Each graph one connected component (the usual batch): nothing to relabel.
        same = bool(multi.all()) and sizes.numel() == num_graphs and torch.equal(labels, graph)
        node_perm = None if same else torch.argsort(labels, stable=True)  # nodes grouped by component
        cand_val, cand_graph = [], []
        nulls: List[Tuple[Tensor, Tensor]] = []  # (nodes, [nodes, q] block), one per graph with q null vectors
        if not self.per_component and bool((multi_count >= 2).any()):
            degree = self._degree(edge_index, edge_weight, n)
            comp_rank = torch.zeros_like(sizes)  # position of a multi-node component inside its graph
            multi_ids = torch.nonzero(multi).flatten()
            first = torch.searchsorted(comp_graph[multi_ids], comp_graph[multi_ids], side="left")
            comp_rank[multi_ids] = torch.arange(multi_ids.numel()) - first
            grouped = node_perm[multi[labels[node_perm]]]  # nodes of multi components, by component
            owner = graph[grouped]
            bounds = torch.searchsorted(owner, torch.arange(num_graphs + 1))  # components never cross graphs
            for g in torch.nonzero(multi_count >= 2).flatten().tolist():
                nodes = grouped[bounds[g]:bounds[g + 1]]
                block = self.null_vectors(degree[nodes], comp_rank[labels[nodes]], int(multi_count[g]), k)
                nulls.append((nodes, block))
                cand_val.append(torch.zeros(block.size(1), dtype=torch.float64))
                cand_graph.append(torch.full((block.size(1),), g, dtype=torch.long))
        num_null = sum(int(b.size(1)) for _, b in nulls)
        if bool(multi.any()):
            if same:
                nodes, sub_ei, sub_w, sub_batch = torch.arange(n), edge_index, edge_weight, labels
            else:
                comp_id = torch.full_like(sizes, -1)
                comp_id[multi] = torch.arange(int(multi.sum()))
                nodes = node_perm[multi[labels[node_perm]]]  # grouped by component
                new_id = torch.empty(n, dtype=torch.long)
                new_id[nodes] = torch.arange(nodes.numel())
                keep = multi[labels[edge_index[0]]]
                sub_ei = new_id[edge_index[:, keep]]
                sub_w = edge_weight[keep] if edge_weight is not None else None
                sub_batch = comp_id[labels[nodes]]
            theta, u = self.model_.encode(sub_ei, sub_w, nodes.numel(), sub_batch, int(multi.sum()),
                                          self.refine_steps, self.refine_dtype)
            theta, u = theta[:, :k].double(), u[:, :k]  # u is signed graph by graph already
            cand_val.append(theta.flatten())
            cand_graph.append(comp_graph[multi].repeat_interleave(theta.size(1)))
        single = torch.nonzero(~multi).flatten()
        single_keep = torch.ones(single.numel(), dtype=torch.bool)
        if not self.per_component and single.numel():
            # A graph without a multi-node component has no null vector: PyG then drops one eigenvalue-1
            # indicator, that of the graph's first isolated node.
            owner = comp_graph[single]
            first = torch.ones_like(single_keep)
            first[1:] = owner[1:] != owner[:-1]
            single_keep = ~(first & (multi_count[owner] == 0))
        single = single[single_keep]
        cand_val.append(torch.ones(single.numel(), dtype=torch.float64))
        cand_graph.append(comp_graph[single])
        values, graphs = torch.cat(cand_val), torch.cat(cand_graph)
        # Rank the candidates inside their graph by eigenvalue (stable: ties keep candidate order).
        order = torch.argsort(values, stable=True)
        order = order[torch.argsort(graphs[order], stable=True)]
        first = torch.searchsorted(graphs[order], graphs[order], side="left")
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.numel()) - first
        chosen = (rank < k) & torch.isfinite(values)
        eig[graphs[chosen], rank[chosen]] = values[chosen]
        if same:
            # One component per graph: each graph's Ritz pairs, ascending, are its k columns in order (the
            # unchosen ones, past a small graph's n - 1, are zero columns of u already).
            return eig, u.to(dtype).contiguous()
        column = torch.where(chosen, rank, torch.full_like(rank, k))
        pe = torch.zeros(n, k + 1, dtype=dtype)  # last column collects the unused pairs
        start = 0
        for nodes_g, block in nulls:
            cols = column[start:start + block.size(1)]
            pe[nodes_g.unsqueeze(1).expand_as(block), cols.unsqueeze(0).expand_as(block)] = block.to(dtype)
            start += block.size(1)
        if bool(multi.any()):
            count = theta.numel()
            col = column[num_null:num_null + count].view(theta.shape)[sub_batch]  # [nodes, k]: column of each
            pe[nodes.unsqueeze(1).expand_as(col), col] = u.to(dtype)
        if single.numel():
            single_col = column[values.numel() - single.numel():]
            isolated = node_perm[(~multi)[labels[node_perm]]]  # isolated nodes, in component order
            pe[isolated[single_keep], single_col] = 1.0
        return eig, pe[:, :k]

    # ---------------------------------------------------------------- apply
    def forward(self, data: Data) -> Data:
        r"""Add the PEs to ``data``. A :class:`~torch_geometric.data.Batch` gets each graph's own ``k``
        eigenvectors (``[N, k]``; eigenvalues, if added, ``[num_graphs * k]``), laid out as collating the
        graphs transformed one by one would give (same eigenpairs up to rounding; inside a repeated
        eigenvalue any orthonormal basis is as valid), and the new attributes are registered in the batch's
        slice dictionaries so that ``to_data_list()`` and ``batch[i]`` return them graph by graph. In
        inductive mode the whole batch shares every sparse matmul (much faster than one graph at a time)."""
        if data.edge_index is None:
            raise ValueError("AddNeuralEigenvectorPE needs data.edge_index.")
        if isinstance(data, Batch):
            if self.model_ is not None:
                eig, pe = self._inductive_eigenpairs(data, data.batch, data.num_graphs)
                eig = eig.flatten()
            else:
                parts = [self.eigenpairs(g) for g in data.to_data_list()]
                eig = torch.cat([p[0] for p in parts]) if parts else torch.zeros(0, dtype=torch.float64)
                pe = (torch.cat([p[1] for p in parts]) if parts
                      else torch.zeros(0, self.k, dtype=self.estimator_kwargs.get("dtype", torch.float32)))
        else:
            eig, pe = self.eigenpairs(data)
        had_x = data.x is not None
        data = add_node_attr(data, pe, attr_name=self.attr_name)
        if self.add_eigenvalues:
            data[self.attr_name + "_eigenvalues"] = eig
        if isinstance(data, Batch):
            self._register_slices(data, had_x)
        return data

    def _register_slices(self, batch: Batch, had_x: bool) -> None:
        """Record the new attributes in the batch's slice/increment dictionaries (PyG separates only the
        attributes it collated). New dictionaries: ``copy.copy`` of a batch shares them with the original."""
        if not hasattr(batch, "_slice_dict"):
            return  # not built by from_data_list: it cannot be split anyway
        num_graphs = batch.num_graphs
        counts = torch.bincount(batch.batch.cpu(), minlength=num_graphs)
        node_slices = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
        zeros = torch.zeros(num_graphs, dtype=torch.long)
        slices, incs = dict(batch._slice_dict), dict(batch._inc_dict)
        node_key = "x" if self.attr_name is None else self.attr_name
        if self.attr_name is not None or not had_x:
            slices[node_key], incs[node_key] = node_slices, zeros
        if self.add_eigenvalues:
            key = self.attr_name + "_eigenvalues"
            slices[key] = torch.arange(num_graphs + 1, dtype=torch.long) * self.k
            incs[key] = zeros
        batch._slice_dict, batch._inc_dict = slices, incs

    def __repr__(self) -> str:
        extra = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        for name, default in (("is_undirected", False), ("per_component", False), ("add_eigenvalues", False)):
            if getattr(self, name) != default:
                extra += f", {name}={getattr(self, name)!r}"
        mode = (f", inductive, refine_steps={self.refine_steps}, refine_dtype={self.refine_dtype}"
                if self.model_ is not None else "")
        return f"{self.__class__.__name__}(k={self.k}, attr_name={self.attr_name!r}{extra}{mode})"


def precompute_pe(graphs: Iterable[Data], transform: BaseTransform, batch_size: int = 128) -> List[Data]:
    r"""Apply ``transform`` to every graph of ``graphs`` (a dataset or any iterable of ``Data``),
    ``batch_size`` graphs per :class:`~torch_geometric.data.Batch`, and return the graphs one by one, each
    with its own PE.

    With an inductive :class:`AddNeuralEigenvectorPE` (from :meth:`~AddNeuralEigenvectorPE.fit`) a batch
    shares every sparse matmul, so this is much faster than ``[transform(g) for g in graphs]``; a
    transductive one solves graph by graph either way. The result goes to a
    :class:`~torch_geometric.loader.DataLoader` as it is, or to ``InMemoryDataset.collate`` / ``save``.

    Raises:
        ValueError: if the transform's output batch holds an attribute that ``to_data_list()`` would drop
            (a transform that does not register what it adds in the batch's slice dictionaries).

    Example:
        >>> from pyg_spectral.datasets import cycle_graph, path_graph
        >>> out = precompute_pe([cycle_graph(8), path_graph(5), cycle_graph(6)], AddNeuralEigenvectorPE(3),
        ...                     batch_size=2)
        >>> [tuple(g.laplacian_eigenvector_pe.shape) for g in out]
        [(8, 3), (5, 3), (6, 3)]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    out: List[Data] = []
    it = iter(graphs)
    while True:
        chunk = list(itertools.islice(it, batch_size))
        if not chunk:
            return out
        batch = Batch.from_data_list(chunk)
        before = set(batch.keys())
        batch = transform(batch)
        lost = sorted(set(batch.keys()) - before - set(getattr(batch, "_slice_dict", {})))
        if lost:
            raise ValueError(f"{transform!r} added {lost} to the batch without registering them in its slice "
                             "dictionaries: to_data_list() would drop them.")
        out.extend(batch.to_data_list())
