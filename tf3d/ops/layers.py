"""Keras layers wrapping the silhouette ops.

A raw op cannot take a symbolic `KerasTensor`, so these layers call the ops
from `call` (where Keras passes real tensors) and state their output shapes
themselves. One attribute per constructor argument; `get_config` round-trips.
"""

import keras

from tf3d.ops import _camera
from tf3d.ops.mesh_silhouette import mesh_silhouette
from tf3d.ops.voxel_silhouette import voxel_silhouette


@keras.saving.register_keras_serializable(package="tf3d")
class VoxelSilhouette(keras.layers.Layer):
    """Renders occupancy grids to silhouettes (`tf3d.ops.voxel_silhouette`).

    Args:
      image_size: `h` or `(h, w)` of the silhouettes.
      near, far: finite depth range integrated along each ray.
      num_samples: quadrature points per ray (the result converges as they grow).
      perspective: whether the cameras divide by depth.
      mode: `"drc"` (DRC's escape probability as a density integral,
        `1 - exp(-integral sigma dl)` with `sigma = -log(1 - p)` per voxel
        length) or `"max"`.
      **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
      occupancy: `[B, X, Y, Z]` probabilities.
      projection: `[B, 3, 4]` cameras.

    Returns:
      `[B, h, w]` silhouettes, differentiable with respect to both inputs.

    Example:
    >>> layer = VoxelSilhouette(64, near=1.6, far=3.4)
    >>> silhouettes = layer(occupancy, projection)  # [B, 64, 64]
    """

    def __init__(self, image_size, near, far, num_samples=64, perspective=True, mode="drc",
                 **kwargs):
        super().__init__(**kwargs)
        self.image_size = _camera.image_size_pair(image_size)
        self.near = float(near)
        self.far = float(far)
        self.num_samples = int(num_samples)
        self.perspective = bool(perspective)
        self.mode = mode

    def call(self, occupancy, projection):
        return voxel_silhouette(occupancy, projection, self.image_size,
                                num_samples=self.num_samples, near=self.near, far=self.far,
                                perspective=self.perspective, mode=self.mode)

    def compute_output_shape(self, occupancy_shape, projection_shape):
        return (occupancy_shape[0], *self.image_size)

    def get_config(self):
        config = super().get_config()
        config.update(image_size=list(self.image_size), near=self.near, far=self.far,
                      num_samples=self.num_samples, perspective=self.perspective, mode=self.mode)
        return config


@keras.saving.register_keras_serializable(package="tf3d")
class MeshSilhouette(keras.layers.Layer):
    """Renders soft mesh silhouettes (`tf3d.ops.mesh_silhouette`).

    Args:
      image_size: `h` or `(h, w)` of the silhouettes.
      sigma: SoftRas sharpness in normalized image units squared.
      perspective: whether the cameras divide by depth.
      **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
      vertices: `[B, V, 3]` positions.
      faces: `[F, 3]` int32 indices.
      projection: `[B, 3, 4]` cameras.

    Returns:
      `[B, h, w]` soft silhouettes, differentiable with respect to `vertices`
      and `projection`.

    Example:
    >>> layer = MeshSilhouette(128, sigma=1e-4)
    >>> silhouettes = layer(vertices, faces, projection)  # [B, 128, 128]
    """

    def __init__(self, image_size, sigma=1e-4, perspective=True, **kwargs):
        super().__init__(**kwargs)
        self.image_size = _camera.image_size_pair(image_size)
        self.sigma = float(sigma)
        self.perspective = bool(perspective)

    def call(self, vertices, faces, projection):
        return mesh_silhouette(vertices, faces, projection, self.image_size, sigma=self.sigma,
                               perspective=self.perspective)

    def compute_output_shape(self, vertices_shape, faces_shape, projection_shape):
        return (vertices_shape[0], *self.image_size)

    def get_config(self):
        config = super().get_config()
        config.update(image_size=list(self.image_size), sigma=self.sigma,
                      perspective=self.perspective)
        return config
