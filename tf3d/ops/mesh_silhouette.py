"""Differentiable soft mesh silhouettes, SoftRas-style (custom op with a registered gradient).

Each face j contributes `D_j = sigmoid(delta_j d_j^2 / sigma)` to a pixel,
with d_j the distance from the pixel centre to the projected triangle
(normalized image units: the longer side spans 2, as SoftRas's NDC) and
delta_j = +1 inside, -1 outside; the pixel's value is `1 - prod_j (1 - D_j)`
(Liu et al. 2019, "Soft Rasterizer", eqs. 1 and 6). Faces whose D_j would be
below 1e-5 (`d^2 > log(1e5) sigma` outside the face) are skipped, found via
tiles of the image, so the cost follows the faces near each pixel.
Gradients reach the vertices and the cameras. Kernels:
`csrc/mesh_silhouette/`.
"""

import tensorflow as tf

from tf3d.ops import backend, build
from tf3d.ops.mesh_silhouette_reference import check_arguments, mesh_silhouette_reference


def mesh_silhouette(vertices, faces, projection, image_size, *, sigma, perspective=True):
    """Renders soft silhouettes of triangle meshes.

    Args:
      vertices: `[B, V, 3]` float32 world positions.
      faces: `[F, 3]` integer vertex indices in [0, V), shared by the batch
        (either winding; faces with a vertex at or behind depth 1e-6 are
        dropped in perspective).
      projection: `[B, 3, 4]` finite cameras, `K [R | t]` or
        `conventions.orthographic_matrix` (any finite matrix: the left 3x3
        block need not be invertible).
      image_size: `h` (square) or `(h, w)`; at most `2**31 - 1` pixels
        (B * h * w) per call.
      sigma: sharpness in normalized image units squared; 1e-4 at 128 x 128
        blurs edges over about a pixel.
      perspective: whether `projection` divides by depth.

    Returns:
      `[B, h, w]` float32 soft silhouettes, differentiable with respect to
      `vertices` and `projection`.

    Raises:
      ValueError: a static shape or argument is wrong (names it).
      tf.errors.InvalidArgumentError: a face index is out of range, a camera
        or vertex is not finite, or B * h * w is too large.
    """
    if backend.use_reference():
        return mesh_silhouette_reference(vertices, faces, projection, image_size, sigma=sigma,
                                         perspective=perspective)
    vertices, faces, projection, height, width, sigma = check_arguments(
        vertices, faces, projection, image_size, sigma)
    return build.load_library().mesh_silhouette(
        tf.cast(vertices, tf.float32), faces, tf.cast(projection, tf.float32), height=height,
        width=width, sigma=sigma, perspective=bool(perspective))


@tf.RegisterGradient("MeshSilhouette")
def _mesh_silhouette_grad(op, grad):
    grad_vertices, grad_projection = build.load_library().mesh_silhouette_grad(
        grad, op.inputs[0], op.inputs[1], op.inputs[2], sigma=op.get_attr("sigma"),
        perspective=op.get_attr("perspective"))
    return grad_vertices, None, grad_projection
