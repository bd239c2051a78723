"""Pareto fronts, the balanced (knee) pick and hypervolume, all on minimisation matrices (n, m)."""

from __future__ import annotations

import numpy as np


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """True for rows no other row dominates (<= in every objective, < in one); duplicates of a
    non-dominated point are all kept. Rows are visited in lexicographic order, so a dominator
    always comes first, and each row is compared with the front found so far only (a dominated
    dominator implies a front dominator): O(n x front size)."""
    f = np.asarray(objectives, float)
    keep = np.zeros(len(f), bool)
    front = np.empty((0, f.shape[1]))
    for i in np.lexsort(f.T[::-1]):
        dominated = np.any(np.all(front <= f[i], axis=1) & np.any(front < f[i], axis=1))
        if not dominated:
            keep[i] = True
            front = np.vstack([front, f[i]])
    return keep


def normalise(objectives: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(f - low) / (high - low) per objective; a constant objective maps to 0."""
    span = np.where(high > low, high - low, 1.0)
    return (np.asarray(objectives, float) - low) / span


def knee_index(front: np.ndarray, weights: np.ndarray) -> int:
    """The balanced pick: normalise each objective over the front to [0, 1] (0 = the front's
    best), then take the point closest to the ideal point (0, ..., 0) in weighted Euclidean
    distance sqrt(sum_i w_i * f_i^2). Ties go to the first objective (goodput)."""
    f = np.asarray(front, float)
    scaled = normalise(f, f.min(axis=0), f.max(axis=0))
    distance = np.sqrt((np.asarray(weights, float) * scaled**2).sum(axis=1))
    best = np.flatnonzero(np.isclose(distance, distance.min(), rtol=0, atol=1e-12))
    return int(best[np.argmin(f[best, 0])])


def _hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    p = points[np.all(points < reference, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    volume, best_y = 0.0, reference[1]
    for x, y in p:
        if y < best_y:
            volume += (reference[0] - x) * (best_y - y)
            best_y = y
    return volume


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by `points` (minimisation) and bounded by `reference`, for 2
    or 3 objectives: sweep the third objective, summing 2-D slices (HSO slicing, While 2006)."""
    p = np.asarray(points, float)
    r = np.asarray(reference, float)
    p = p[np.all(p < r, axis=1)]
    if len(p) == 0:
        return 0.0
    if p.shape[1] == 2:
        return _hypervolume_2d(p, r)
    if p.shape[1] != 3:
        raise ValueError("hypervolume supports 2 or 3 objectives")
    p = p[np.argsort(p[:, 2])]
    volume = 0.0
    for i in range(len(p)):
        top = p[i + 1, 2] if i + 1 < len(p) else r[2]
        if top > p[i, 2]:
            volume += _hypervolume_2d(p[: i + 1, :2], r[:2]) * (top - p[i, 2])
    return volume
