"""Downstream evaluation of spectral embeddings: probes and OGB data."""
from .ogb import OGB_NODE_DATASETS, export_ogb_node_dataset, load_ogb_node_dataset, make_evaluator, ogb_safe_load
from .correct_smooth import CS_DEFAULTS, CS_GRID, correct_and_smooth
from .probe import ProbeResult, evaluate_embedding, planetoid_split

__all__ = ["evaluate_embedding", "ProbeResult", "planetoid_split", "load_ogb_node_dataset", "export_ogb_node_dataset",
           "make_evaluator", "ogb_safe_load", "OGB_NODE_DATASETS", "correct_and_smooth", "CS_DEFAULTS",
           "CS_GRID"]
