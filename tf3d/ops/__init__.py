"""Differentiable renderers as custom TensorFlow ops.

`voxel_silhouette` projects occupancy grids (Differentiable Ray Consistency
or max aggregation), `mesh_silhouette` renders SoftRas-style soft silhouettes
of meshes, and `rasterize` is a hard z-buffer returning `Fragments` (face
ids, perspective-correct barycentrics, depth; differentiable through the
barycentrics and depth). All three are C++ kernels, built on first use
(`tf3d.ops.build`), and each has a pure-TensorFlow `*_reference` with the
same signature; `TF3D_OPS=reference` or `set_implementation("reference")`
runs the references instead. On top, in TensorFlow: `interpolate` carries
vertex attributes to the pixels, `lambertian_shading` renders grayscale
images under ambient and directional light with anti-aliased outlines, and
`depth_to_mesh` lifts depth maps into meshes. `VoxelSilhouette` /
`MeshSilhouette` wrap the silhouette ops as Keras layers, `render_mesh` /
`render_voxels` render one object through a dataset record's camera.
Importing this package builds and loads nothing.
"""

from tf3d.ops.backend import implementation, set_implementation
from tf3d.ops.depth_to_mesh import depth_to_mesh
from tf3d.ops.interpolate import interpolate
from tf3d.ops.layers import MeshSilhouette, VoxelSilhouette
from tf3d.ops.mesh_silhouette import mesh_silhouette
from tf3d.ops.mesh_silhouette_reference import mesh_silhouette_reference
from tf3d.ops.preview import render_mesh, render_voxels
from tf3d.ops.rasterize import Fragments, rasterize
from tf3d.ops.rasterize_reference import rasterize_reference
from tf3d.ops.shading import Shaded, lambertian_shading
from tf3d.ops.voxel_silhouette import voxel_silhouette
from tf3d.ops.voxel_silhouette_reference import voxel_silhouette_reference

__all__ = ["Fragments", "MeshSilhouette", "Shaded", "VoxelSilhouette", "depth_to_mesh",
           "implementation", "interpolate", "lambertian_shading", "mesh_silhouette",
           "mesh_silhouette_reference", "rasterize", "rasterize_reference", "render_mesh",
           "render_voxels", "set_implementation", "voxel_silhouette",
           "voxel_silhouette_reference"]
