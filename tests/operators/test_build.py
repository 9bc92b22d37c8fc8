import pytest
import torch

from pyg_spectral.exceptions import GraphInputError
from pyg_spectral.operators import OPERATORS, PolynomialFilter, build_operator


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_build_each(karate, name):
    op = build_operator(name, karate.edge_index)
    assert op.name == name and op.num_nodes == 34 and op.dtype == torch.float32


def test_filter_degree(karate):
    op = build_operator("laplacian", karate.edge_index, filter_degree=3)
    assert isinstance(op, PolynomialFilter) and op.poly_degree == 3


def test_unknown_name(karate):
    with pytest.raises(ValueError, match="Unknown operator"):
        build_operator("hamiltonian", karate.edge_index)


def test_directed_input_needs_symmetrize():
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    with pytest.raises(GraphInputError, match="directed"):
        build_operator("laplacian", ei)
    op = build_operator("laplacian", ei, symmetrize=True, dtype=torch.float64)
    assert torch.allclose(op.degree, torch.full((3,), 2.0, dtype=torch.float64))
