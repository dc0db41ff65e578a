"""Triangle-mesh geometry in TensorFlow: primitives, connectivity, normals, sampling, search.

Modules, one concept each:

  icosphere         `icosphere(level)`: the subdivided icosahedron on the unit sphere.
  topology          `unique_edges(faces)`, `face_adjacency(faces)`.
  normals           `face_normals`, `face_areas`, `vertex_normals` (area-weighted).
  sampling          `sample_points`: area-weighted surface samples whose positions
                    are differentiable with respect to the vertices.
  nearest_neighbor  `nearest_neighbors`: chunked exact 1-NN between point sets.
  laplacian         `mesh_laplacian`: uniform or cotangent Laplacian vectors.
  batching          the batch convention below and its checks.

Everything is plain TensorFlow: it runs eagerly and under `tf.function`, in
float32 and float64, and differentiates with respect to vertex positions.
Vertex indices are int32 (int64 and other integer inputs are converted).
`face_adjacency` (and so `tf3d.losses.normal_consistency`) returns as many
pairs as the data has, which XLA cannot compile (`jit_compile=True`); the
rest compiled with XLA on CPU when tried.

Batches: padded, not ragged
---------------------------
A batch of B meshes is

  vertices       `[B, V, 3]` float: mesh b's vertices are rows `[0, vertex_counts[b])`
                 of `vertices[b]`; the rest is padding and never read.
  faces          `[F, 3]` int, shared by every mesh of the batch (the usual case when
                 a network deforms one template, e.g. an icosphere), or `[B, F, 3]`,
                 one row of faces per mesh, mesh b's faces being rows
                 `[0, face_counts[b])`; indices are local to the mesh (0 <= i < V_b).
  vertex_counts  optional `[B]` int: V_b; None means every mesh uses all V rows.
  face_counts    optional `[B]` int: F_b; None means every mesh uses all F rows.

A single mesh may be given unbatched, `vertices [V, 3]` with `faces [F, 3]`;
per-vertex outputs then come back unbatched too. Point sets follow the same
rule: `[B, N, 3]` with optional `lengths [B]` (PyTorch3D's `x_lengths`), or
`[N, 3]`.

Padded tensors are what `tf.data` batches (`padded_batch`), what Keras models
output and what `tf.function` traces once; `tf.RaggedTensor` would make every
op here a ragged op for no gain. Inside, operations that need connectivity
(edges, face pairs, Laplacians) flatten the batch into one "packed" mesh, as
PyTorch3D's `Meshes.verts_packed()` / `faces_packed()` do
(`batching.pack_meshes`): vertex b·V + i is vertex i of mesh b, only valid
faces are kept, and per-mesh reductions are segment sums. Losses average over
a mesh's own elements first and over the batch second, so a small mesh counts
as much as a large one (PyTorch3D's weighting); a mesh with no elements
(no faces, no points) contributes 0 to that mean.
"""

from tf3d.geometry.icosphere import icosphere
from tf3d.geometry.laplacian import mesh_laplacian
from tf3d.geometry.nearest_neighbor import nearest_neighbors
from tf3d.geometry.normals import face_areas, face_normals, vertex_normals
from tf3d.geometry.sampling import sample_points
from tf3d.geometry.topology import FaceAdjacency, face_adjacency, unique_edges

__all__ = ["FaceAdjacency", "face_adjacency", "face_areas", "face_normals", "icosphere",
           "mesh_laplacian", "nearest_neighbors", "sample_points", "unique_edges",
           "vertex_normals"]
