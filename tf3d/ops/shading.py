"""Lambertian shading of meshes with ambient and directional light, anti-aliased edges.

A renderer by composition (PyTorch3D's rasterizer-then-shader split):
`rasterize` picks the visible face of every pixel, `interpolate` carries the
per-vertex albedo (and, for smooth shading, the vertex normals) to it, and
the pixel's intensity is Lambert's law with an ambient term,

    I = albedo * (ambient + diffuse * max(0, n . l)),

with `l` the unit direction towards a directional light (a sun) and `n`
turned towards the camera (surfaces are lit on the side they are seen from,
as Blender does). Along the outline, coverage comes from `mesh_silhouette`'s
soft silhouette: its alpha blends the shaded surface over the background, so
edges are anti-aliased and the image is differentiable in the silhouette
too; a pixel whose centre misses the mesh but whose alpha does not vanish
takes the mean shade of its covered 3x3 neighbours. Covered pixels whose 3x3
neighbourhood is all covered are opaque. Gradients reach the vertices, the
albedo, the light and the cameras.
"""

from typing import NamedTuple

import tensorflow as tf

from tf3d.geometry import normals as geometry_normals
from tf3d.ops import _camera, _checks
from tf3d.ops.interpolate import interpolate
from tf3d.ops.mesh_silhouette import mesh_silhouette
from tf3d.ops.rasterize import rasterize
from tf3d.ops.rasterize_reference import check_arguments


class Shaded(NamedTuple):
    """`lambertian_shading`'s result.

    Attributes:
      image: `[B, h, w]` intensities composited over the background.
      alpha: `[B, h, w]` soft coverage in [0, 1].
      fragments: the `Fragments` rasterized on the way (depth, face ids).
    """

    image: tf.Tensor
    alpha: tf.Tensor
    fragments: object


def default_sigma(image_size):
    """`mesh_silhouette`'s sigma that blurs an edge over about one pixel of `image_size`:
    the alpha of a pixel centre half a pixel outside an edge is sigmoid(-2) = 0.12."""
    height, width = _camera.image_size_pair(image_size)
    half_pixel = 1.0 / max(height, width)  # normalized units: the longer side spans 2
    return half_pixel ** 2 / 2.0


def _per_mesh(value, name, batch, dtype):
    """A scalar or `[B]` value as `[B, 1, 1]` (`batch` may be None)."""
    value = tf.cast(tf.convert_to_tensor(value), dtype)
    if value.shape.rank == 0:
        return value[None, None, None]
    if value.shape.rank != 1 or None not in (batch, value.shape[0]) and value.shape[0] != batch:
        raise ValueError(f"{name} must be a scalar or have shape [B] with B = {batch}, got "
                         f"{value.shape}")
    return value[:, None, None]


def _check_albedo(albedo, batch, dtype):
    albedo = tf.convert_to_tensor(albedo)
    albedo = tf.cast(albedo, dtype)
    if albedo.shape.rank not in (1, 2) or (albedo.shape.rank == 2 and None not in (
            batch, albedo.shape[0]) and albedo.shape[0] != batch):
        raise ValueError(f"albedo must have shape [B, V] with B = {batch} or [V], got "
                         f"{albedo.shape}")
    return albedo[..., None]  # [(B,) V, 1]: one channel for interpolate


def _check_light(light_direction, batch, dtype):
    light = tf.cast(tf.convert_to_tensor(light_direction), dtype)
    if light.shape.rank not in (1, 2) or light.shape[-1] != 3 or (
            light.shape.rank == 2 and None not in (batch, light.shape[0])
            and light.shape[0] != batch):
        raise ValueError(f"light_direction must have shape [B, 3] with B = {batch} or [3], got "
                         f"{light.shape}")
    light = geometry_normals.unit_vectors(light)
    # [B or 1, 1, 1, 3]
    return light[None, None, None] if light.shape.rank == 1 else light[:, None, None]


def _fill_edges(shade, covered):
    """Pixels not `covered` take the mean `shade` of their covered 3x3 neighbours (0 if none)."""
    weight = tf.cast(covered, shade.dtype)[..., None]  # [B, h, w, 1]

    def box(x):
        return tf.nn.avg_pool2d(x, 3, 1, "SAME")

    spread = tf.math.divide_no_nan(box(shade[..., None] * weight), box(weight))[..., 0]
    return tf.where(covered, shade, spread)


def lambertian_shading(vertices, faces, projection, image_size, albedo, light_direction, *,
                       ambient=0.3, diffuse=0.7, smooth=True, sigma=None, background=0.0,
                       perspective=True):
    """Renders grayscale images of meshes with per-vertex albedo under a sun and ambient light.

    Args:
      vertices: `[B, V, 3]` float world positions.
      faces: `[F, 3]` integer vertex indices, shared by the batch.
      projection: `[B, 3, 4]` cameras (`tf3d.conventions`), with an invertible
        left 3x3 block (the view rays decide which side of a face is seen).
      image_size: `h` or `(h, w)`.
      albedo: `[B, V]` or `[V]` per-vertex reflectance, interpolated
        perspective-correctly over the faces.
      light_direction: `[B, 3]` or `[3]` world direction towards the light
        (any length but zero).
      ambient, diffuse: scalars or `[B]`: the light's two terms.
      smooth: interpolate area-weighted vertex normals (True, Phong's normals)
        or use the faces' own (False, flat shading, for meshes of flat parts).
      sigma: `mesh_silhouette`'s sharpness for the alpha; None: `default_sigma`,
        about a pixel.
      background: intensity behind the mesh.
      perspective: whether `projection` divides by depth.

    Returns:
      `Shaded(image [B, h, w], alpha [B, h, w], fragments)`: float32 from the
      native ops, the vertices' dtype under `TF3D_OPS=reference`.

    Raises:
      ValueError: a static shape or argument is wrong (names it).
      tf.errors.InvalidArgumentError: bad values (see `rasterize`), or a
        camera's left 3x3 block is singular.
    """
    vertices, faces, projection, height, width = check_arguments(vertices, faces, projection,
                                                                 image_size)
    projection = _checks.with_checks(projection,
                                     _camera.projection_checks(projection, need_inverse=True))
    batch = vertices.shape[0]
    fragments = rasterize(vertices, faces, projection, (height, width), perspective=perspective)
    # float32 from the kernels, the vertices' dtype from the references
    dtype = fragments.barycentrics.dtype
    vertices, projection = tf.cast(vertices, dtype), tf.cast(projection, dtype)
    albedo = _check_albedo(albedo, batch, dtype)
    light = _check_light(light_direction, batch, dtype)
    ambient = _per_mesh(ambient, "ambient", batch, dtype)
    diffuse = _per_mesh(diffuse, "diffuse", batch, dtype)
    sigma = default_sigma((height, width)) if sigma is None else sigma

    face_normals = geometry_normals.face_normals(vertices, faces)  # [B, F, 3]
    # a zero normal for the background
    face_normals = tf.pad(face_normals, [[0, 0], [0, 1], [0, 0]])
    seen_face = tf.where(fragments.mask, fragments.face_ids, tf.shape(faces)[0])
    flat = tf.gather(face_normals, seen_face, batch_dims=1)  # [B, h, w, 3]
    if smooth:
        normal = geometry_normals.unit_vectors(
            interpolate(geometry_normals.vertex_normals(vertices, faces), fragments))
    else:
        normal = flat
    # The side of the face the view ray arrives on is lit (two-sided, as
    # Blender): a face normal along the ray faces away from the camera.
    _, rays = _camera.pixel_rays(projection, height, width, perspective)  # [B, h, w, 3]
    away = tf.reduce_sum(flat * rays, axis=-1, keepdims=True) > 0.0
    normal = tf.where(away, -normal, normal)
    lambert = tf.nn.relu(tf.reduce_sum(normal * light, axis=-1))  # [B, h, w]
    shade = interpolate(albedo, fragments)[..., 0] * (ambient + diffuse * lambert)
    shade = _fill_edges(shade, fragments.mask)
    alpha = mesh_silhouette(vertices, faces, projection, (height, width), sigma=sigma,
                            perspective=perspective)
    # SoftRas's silhouette dips to 3/4 along the mesh's inner edges (each of
    # two adjacent faces counts 1/2 there), which would draw every edge as a
    # line: covered pixels away from the silhouette's outline are opaque.
    outline = tf.nn.max_pool2d(tf.cast(~fragments.mask, dtype)[..., None], 3, 1, "SAME")[..., 0] > 0
    alpha = tf.where(fragments.mask & ~outline, tf.ones_like(alpha), alpha)
    image = alpha * shade + (1.0 - alpha) * tf.cast(background, shade.dtype)
    return Shaded(image, alpha, fragments)
