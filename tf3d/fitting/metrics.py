"""Scores of a fitted mesh against its target (the numbers a fit prints at the end).

  chamfer_l2          symmetric squared chamfer distance between `num_samples`
                      area-weighted surface samples of each mesh (`tf3d.losses.chamfer`,
                      means over points, both directions summed), in normalized units^2
  fscore_1, fscore_2  F-score at 1% and 2% of the target's bounding-box diagonal:
                      the harmonic mean of precision (fitted samples within the
                      threshold of a target sample) and recall (the converse), as
                      Tatarchenko et al. 2019, "What do single-view 3D reconstruction
                      networks learn?", sec. 3
  normal_consistency  mean |cos| between each sample's face normal and that of its
                      nearest sample on the other mesh, both directions averaged
                      (Mesh R-CNN's metric; 1 is perfect)
  silhouette_iou      mean IoU over held-out views of the fitted mesh's exact
                      coverage (`tf3d.alignment.mesh_coverage`) and the target's
                      Blender mask, both thresholded at `conventions.MASK_THRESHOLD`
"""

import numpy as np
import tensorflow as tf

from tf3d import alignment
from tf3d.geometry import nearest_neighbors, sample_points
from tf3d.losses.chamfer import chamfer_distance

FSCORE_FRACTIONS = {"fscore_1": 0.01, "fscore_2": 0.02}


def surface_metrics(vertices, faces, target, num_samples=10000, seed=0):
    """Chamfer-L2, F-scores and normal consistency of a mesh against a `Target`.

    Args:
      vertices: `[V, 3]` fitted vertices; faces: `[F, 3]` int.
      target: `tf3d.fitting.target.Target`.
      num_samples: surface samples per mesh.
      seed: sampling seed (the same for every mesh scored, so scores compare).

    Returns:
      dict of floats (see the module docstring).
    """
    x, x_normals = sample_points(tf.constant(vertices, tf.float64), tf.constant(faces, tf.int32),
                                 num_samples, seed=seed, return_normals=True)
    y, y_normals = sample_points(tf.constant(target.vertices, tf.float64),
                                 tf.constant(target.faces, tf.int32), num_samples, seed=seed + 1,
                                 return_normals=True)
    chamfer, normal_distance = chamfer_distance(x, y, x_normals=x_normals, y_normals=y_normals)
    to_target = np.sqrt(nearest_neighbors(x, y)[0].numpy())  # [S] distances, fitted -> target
    to_fitted = np.sqrt(nearest_neighbors(y, x)[0].numpy())
    scores = {"chamfer_l2": float(chamfer),
              "normal_consistency": 1.0 - 0.5 * float(normal_distance)}  # mean of both directions
    for key, fraction in FSCORE_FRACTIONS.items():
        threshold = fraction * target.diagonal()
        precision, recall = np.mean(to_target < threshold), np.mean(to_fitted < threshold)
        scores[key] = float(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return scores


def silhouette_iou(vertices, faces, projections, masks):
    """Mean IoU of the mesh's exact silhouettes and `masks [N, S, S]` (coverage in [0, 1])."""
    size = masks.shape[-1]
    ious = [alignment.silhouette_iou(
        alignment.mesh_coverage(vertices, faces, p, size, supersample=2) >= 0.5,
        alignment.mask_from_alpha(m)) for p, m in zip(projections, masks)]
    return float(np.mean(ious))
