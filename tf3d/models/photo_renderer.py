"""Unsup3D's renderer: canonical depth, albedo and light -> the image in the input view.

Wu et al. 2020, "Unsupervised Learning of Probably Symmetric Deformable 3D
Objects from Images in the Wild", sec. 3.2, composed from tf3d's ops:

1. the canonical depth map `d [B, H, W]` is seen by the canonical camera
   `[K | 0]` (at the origin, looking down +z, OpenCV axes); its normals
   (`depth_normals`) and a light `(ambient, diffuse, direction)` give the
   canonical shading `ambient + diffuse * max(0, n . l)` (eq. 2), and
   `albedo * shading` the canonical image;
2. the view `w [B, 6]` (three rotations, three translations) moves the
   depth map's mesh (`tf3d.ops.depth_to_mesh`) about the point `(0, 0,
   rotation_centre)`: `X' = R (X - c) + c + T` (eq. 3), which is the camera
   `K [R | c - R c + T]` (`view_projection`);
3. `tf3d.ops.rasterize` of that mesh gives the depth seen in the input view
   and, per pixel, the canonical pixels (mesh vertices) it falls between;
   `tf3d.ops.interpolate` carries the canonical image (and normals) there:
   the backward warp of eq. 4, differentiable through the barycentrics into
   the depth and the view, as Unsup3D's grid sampling is.

Every pixel centre of the canonical image is a mesh vertex, so interpolating
per-vertex values is bilinear-like (triangle) sampling of the canonical
image at the inverse-warped location. The camera frame: x right, y down, z
away from the camera; a light direction `(x, y, -1)` comes from the viewer's
side, and normals facing the camera have `n_z < 0`.
"""

from typing import NamedTuple

import tensorflow as tf

from tf3d.geometry import normals as geometry_normals
from tf3d.ops import depth_to_mesh, interpolate, rasterize


class Warped(NamedTuple):
    """`warp_to_view`'s result.

    Attributes:
      image: `[B, H, W, C]` the canonical values seen in the input view, 0 where no face is.
      depth: `[B, H, W]` depth along the view camera's optical axis, 0 off the mesh.
      normal: `[B, H, W, 3]` unit normals in the view camera's frame, 0 off the mesh.
      mask: `[B, H, W]` bool, where a face of the warped mesh is seen.
    """

    image: tf.Tensor
    depth: tf.Tensor
    normal: tf.Tensor
    mask: tf.Tensor


def _pixel_rays(intrinsics, height, width, dtype):
    """`[H, W, 3]` camera-frame rays `K^-1 (u, v, 1)` through the pixel centres."""
    k_inv = tf.linalg.inv(tf.cast(intrinsics, dtype))
    v, u = tf.meshgrid(tf.range(height, dtype=dtype) + 0.5, tf.range(width, dtype=dtype) + 0.5, indexing="ij")
    return tf.einsum("ij,hwj->hwi", k_inv, tf.stack([u, v, tf.ones_like(u)], -1))


def depth_normals(depth, intrinsics):
    """Unit normals of depth maps in the camera frame, facing the camera (central differences).

    Args:
      depth: `[B, H, W]` depth along the optical axis, H, W >= 3.
      intrinsics: `[3, 3]` the camera's K.

    Returns:
      `[B, H, W, 3]`: `normalize(dP/dv x dP/du)` of the back-projected points P,
      the border pixels copying their inner neighbour's.
    """
    depth = tf.convert_to_tensor(depth)
    if depth.shape.rank != 3 or None in depth.shape[1:] or min(depth.shape[1:]) < 3:
        raise ValueError(f"depth must have shape [B, H, W] with H, W >= 3 known, got {depth.shape}")
    height, width = depth.shape[1], depth.shape[2]
    points = depth[..., None] * _pixel_rays(intrinsics, height, width, depth.dtype)  # [B, H, W, 3]
    du = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]  # [B, H - 2, W - 2, 3]
    dv = points[:, 2:, 1:-1] - points[:, :-2, 1:-1]
    normal = geometry_normals.unit_vectors(tf.linalg.cross(dv, du))  # x right, y down: towards the camera
    return tf.pad(normal, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")


def light_direction(xy):
    """`[B, 3]` unit directions towards the light from `[B, 2]` (x, y): `normalize(x, y, -1)`."""
    xy = tf.convert_to_tensor(xy)
    return geometry_normals.unit_vectors(tf.concat([xy, -tf.ones_like(xy[:, :1])], -1))


def lambertian(normal, ambient, diffuse, direction):
    """Shading `ambient + diffuse * max(0, n . l)`: `[B, H, W]` from normals `[B, H, W, 3]`,
    `[B]` ambient and diffuse terms and `[B, 3]` unit directions towards the light."""
    cos = tf.nn.relu(tf.einsum("bhwc,bc->bhw", normal, direction))
    return ambient[:, None, None] + diffuse[:, None, None] * cos


def rotation_matrix(angles):
    """`[B, 3, 3]` rotations `R_x R_y R_z` from `[B, 3]` angles in radians."""
    x, y, z = tf.unstack(angles, axis=-1)
    zero, one = tf.zeros_like(x), tf.ones_like(x)

    def mat(rows):
        return tf.stack([tf.stack(r, -1) for r in rows], -2)

    rx = mat([[one, zero, zero], [zero, tf.cos(x), -tf.sin(x)], [zero, tf.sin(x), tf.cos(x)]])
    ry = mat([[tf.cos(y), zero, tf.sin(y)], [zero, one, zero], [-tf.sin(y), zero, tf.cos(y)]])
    rz = mat([[tf.cos(z), -tf.sin(z), zero], [tf.sin(z), tf.cos(z), zero], [zero, zero, one]])
    return rx @ ry @ rz


def view_projection(rotation, translation, intrinsics, rotation_centre):
    """`[B, 3, 4]` camera `K [R | c - R c + T]` that sees the canonical points moved by the view.

    Args:
      rotation: `[B, 3, 3]`; translation: `[B, 3]`; intrinsics: `[3, 3]`;
      rotation_centre: depth of the point `c = (0, 0, rotation_centre)` the view turns about.
    """
    centre = tf.constant([0.0, 0.0, 1.0], rotation.dtype) * rotation_centre
    t = centre[None] - tf.einsum("bij,j->bi", rotation, centre) + translation  # [B, 3]
    extrinsic = tf.concat([rotation, t[..., None]], -1)  # [B, 3, 4]
    return tf.einsum("ij,bjk->bik", tf.cast(intrinsics, rotation.dtype), extrinsic)


def warp_to_view(canonical_depth, values, normal, rotation, translation, intrinsics, rotation_centre):
    """Renders canonical maps into the input view (steps 2-3 of the module docstring).

    Args:
      canonical_depth: `[B, H, W]` depth seen by the canonical camera `[K | 0]`.
      values: `[B, H, W, C]` canonical per-pixel values to carry (the canonical image, ...).
      normal: `[B, H, W, 3]` canonical normals (camera frame), turned by `rotation`.
      rotation, translation: `[B, 3, 3]`, `[B, 3]` the view.
      intrinsics: `[3, 3]` K of both cameras.
      rotation_centre: depth the view turns about.

    Returns:
      `Warped(image, depth, normal, mask)`.
    """
    batch, height, width = tf.shape(canonical_depth)[0], canonical_depth.shape[1], canonical_depth.shape[2]
    dtype = canonical_depth.dtype
    k = tf.cast(intrinsics, dtype)
    canonical = tf.broadcast_to(tf.concat([k, tf.zeros([3, 1], dtype)], -1)[None], [batch, 3, 4])
    vertices, faces = depth_to_mesh(canonical_depth, canonical)  # [B, H W, 3] canonical camera frame
    projection = view_projection(rotation, translation, k, rotation_centre)
    fragments = rasterize(vertices, faces, projection, (height, width))
    channels = values.shape[-1]
    turned = tf.einsum("bij,bhwj->bhwi", rotation, normal)
    attributes = tf.reshape(tf.concat([values, turned], -1), [batch, height * width, channels + 3])
    carried = interpolate(attributes, fragments)  # [B, H, W, C + 3]
    mask = fragments.face_ids >= 0
    warped_normal = tf.where(mask[..., None], geometry_normals.unit_vectors(carried[..., channels:]), 0.0)
    return Warped(carried[..., :channels], fragments.depth, warped_normal, mask)
