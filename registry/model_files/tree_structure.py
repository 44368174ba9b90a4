"""The shape check shared by scikit-learn's Tree and HistGradientBoosting's TreePredictor."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Summary:
    """A checked tree: its problems, and the highest feature a split uses (-1: none)."""

    problems: list[str] = field(default_factory=list)
    max_split_feature: int = -1


def parent_first_tree_problems(
    left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray, path: str
) -> tuple[list[str], int]:
    """Problems with a node array numbered parent-first, and its depth.

    Each split node's children must come after it and inside the array, and every node
    but the root must have exactly one parent: then every node is reachable exactly once
    from node 0 and there is no cycle, so any walk from the root ends at a leaf.
    """
    count = len(left)
    index = np.arange(count)
    split = ~is_leaf
    nodes, lefts, rights = index[split], left[split], right[split]
    outside = (lefts <= nodes) | (lefts >= count) | (rights <= nodes) | (rights >= count)
    outside |= lefts == rights
    if outside.any():
        node = int(nodes[outside][0])
        return [
            f"{path}: node {node} has children ({left[node]}, {right[node]}), "
            f"not two distinct nodes in ({node}, {count})"
        ], 0
    parents = np.bincount(np.concatenate([lefts, rights]), minlength=count)
    orphans = np.flatnonzero(parents[1:] != 1) + 1
    if orphans.size:
        node = int(orphans[0])
        return [f"{path}: node {node} has {parents[node]} parents, not 1"], 0
    depth = 0
    frontier = np.array([0])
    while True:  # one level per pass; children always have higher numbers, so this ends
        frontier = frontier[split[frontier]]
        if not frontier.size:
            return [], depth
        frontier = np.concatenate([left[frontier], right[frontier]])
        depth += 1
