"""tf3d.geometry: icosphere, topology, normals, sampling, nearest neighbours, Laplacian,
batching."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf3d import geometry
from tf3d.geometry import batching
from tf3d.ops import testing as ops_testing

# Two triangles sharing the edge (0, 1), folded at a right angle:
#   face 0 = (0, 1, 2) lies in z = 0 with normal +z, face 1 = (1, 0, 3) in y = 0 with normal +y.
FOLD_VERTICES = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float64)
FOLD_FACES = np.array([[0, 1, 2], [1, 0, 3]], np.int32)
TETRA_VERTICES = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float64)
TETRA_FACES = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]], np.int32)  # outward


def fan(ring=4, height=3.0):
    """A vertex at (0, 0, height) joined to `ring` vertices on the unit circle in z = 0."""
    angles = 2 * np.pi * np.arange(ring) / ring
    vertices = np.concatenate([[[0, 0, height]], np.stack(
        [np.cos(angles), np.sin(angles), np.zeros(ring)], 1)])
    faces = np.array([[0, 1 + i, 1 + (i + 1) % ring] for i in range(ring)], np.int32)
    return vertices, faces


def bumpy_sphere(level, seed, scale=0.05):
    vertices, faces = geometry.icosphere(level, dtype=tf.float64)
    rng = np.random.default_rng(seed)
    return vertices.numpy() * (1 + scale * rng.normal(size=(len(vertices), 1))), faces.numpy()


# ----------------------------------------------------------------------------- icosphere

@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_icosphere_counts_euler_and_outward_faces(level):
    vertices, faces = geometry.icosphere(level, radius=2.0)
    assert vertices.dtype == tf.float32 and faces.dtype == tf.int32
    v, f = vertices.numpy(), faces.numpy()
    edges = geometry.unique_edges(faces).numpy()
    assert (len(v), len(f), len(edges)) == (10 * 4**level + 2, 20 * 4**level, 30 * 4**level)
    assert len(v) - len(edges) + len(f) == 2  # Euler characteristic of the sphere
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 2.0, rtol=1e-6)
    normals = geometry.face_normals(vertices, faces).numpy()
    centroids = v[f].mean(axis=1)
    cosines = (normals * centroids).sum(1) / np.linalg.norm(centroids, axis=1)
    assert cosines.min() > 0.95  # every face outward (CCW seen from outside)
    assert len(np.unique(np.sort(f, axis=1), axis=0)) == len(f)


def test_icosphere_float64_and_errors():
    vertices, _ = geometry.icosphere(2, dtype=tf.float64)
    assert vertices.dtype == tf.float64
    np.testing.assert_allclose(np.linalg.norm(vertices.numpy(), axis=1), 1.0, atol=1e-14)
    for level in (-1, 1.5, True):
        with pytest.raises(ValueError, match="level"):
            geometry.icosphere(level)


# ----------------------------------------------------------------------------- topology

def test_unique_edges_of_a_tetrahedron():
    edges, face_edges = geometry.unique_edges(TETRA_FACES, return_face_edges=True)
    assert edges.numpy().tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    for f, face in enumerate(TETRA_FACES):
        for k in range(3):  # side k is opposite corner k
            side = sorted([face[(k + 1) % 3], face[(k + 2) % 3]])
            assert edges.numpy()[face_edges.numpy()[f, k]].tolist() == side


def test_face_adjacency_pairs_and_opposite_vertices():
    adjacency = geometry.face_adjacency(FOLD_FACES)
    assert adjacency.faces.numpy().tolist() == [[0, 1]]
    assert adjacency.edges.numpy().tolist() == [[0, 1]]
    assert adjacency.opposite.numpy().tolist() == [[2, 3]]
    # three faces on one edge (a "book" of pages): all three pairs, once each
    book = geometry.face_adjacency([[0, 1, 2], [1, 0, 3], [0, 1, 4]])
    assert sorted(map(tuple, book.faces.numpy().tolist())) == [(0, 1), (0, 2), (1, 2)]
    assert set(map(tuple, book.opposite.numpy().tolist())) == {(2, 3), (2, 4), (3, 4)}
    # four faces on an edge: 6 pairs (PyTorch3D's loop lists one of them twice)
    assert len(geometry.face_adjacency([[0, 1, i] for i in range(2, 6)]).faces) == 6


def test_face_adjacency_of_a_closed_mesh_has_one_pair_per_edge():
    _, faces = geometry.icosphere(2)
    adjacency = geometry.face_adjacency(faces)
    edges = geometry.unique_edges(faces)
    np.testing.assert_array_equal(adjacency.edges.numpy(), edges.numpy())
    f = faces.numpy()
    for (f0, f1), (a, b), edge in zip(adjacency.faces.numpy(), adjacency.opposite.numpy(),
                                      adjacency.edges.numpy()):
        assert set(edge) <= set(f[f0]) & set(f[f1]) and a in f[f0] and b in f[f1]
        assert a not in edge and b not in edge


def test_topology_under_tf_function_and_errors():
    traced = tf.function(geometry.unique_edges,
                         input_signature=[tf.TensorSpec([None, 3], tf.int32)])
    assert traced(tf.constant(TETRA_FACES)).shape == (6, 2)
    with pytest.raises(ValueError, match=r"faces must have shape \[F, 3\], got \(4, 4\)"):
        geometry.unique_edges(np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match="faces must hold integer"):
        geometry.face_adjacency(np.zeros((4, 3), np.float32))


# ----------------------------------------------------------------------------- normals

def test_face_normals_and_areas_golden():
    # unit right triangle in z = 0, counter-clockwise from +z: normal +z, area 1/2
    triangle = [[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]
    np.testing.assert_allclose(geometry.face_normals(triangle, [[0, 1, 2]]), [[0, 0, 1]])
    np.testing.assert_allclose(geometry.face_normals(triangle, [[0, 1, 2]], unit=False),
                               [[0, 0, 1]])
    np.testing.assert_allclose(geometry.face_areas(triangle, [[0, 2, 1]]), [0.5])
    _, faces = geometry.icosphere(3)
    vertices, _ = geometry.icosphere(3, dtype=tf.float64)
    area = geometry.face_areas(vertices, faces).numpy().sum()
    assert 0.98 * 4 * math.pi < area < 4 * math.pi  # inscribed polyhedron


def test_vertex_normals_are_area_weighted():
    # vertex 0 shared by the +z face (area 1/2) and the +y face (area 1/2 * 2 = 1):
    # sum of the faces' cross products = (0, 0, 1) + (0, 2, 0) -> (0, 2, 1) / sqrt(5)
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 2]], np.float64)
    normals = geometry.vertex_normals(vertices, FOLD_FACES).numpy()
    np.testing.assert_allclose(normals[0], np.array([0, 2, 1]) / math.sqrt(5), atol=1e-12)
    np.testing.assert_allclose(normals[2], [0, 0, 1], atol=1e-12)  # on the +z face only
    np.testing.assert_allclose(normals[3], [0, 1, 0], atol=1e-12)


def test_vertex_normals_of_a_sphere_point_outward():
    vertices, faces = geometry.icosphere(2)
    normals = geometry.vertex_normals(vertices[None] * [[[2.0]], [[3.0]]], faces).numpy()
    assert normals.shape == (2, 162, 3)
    assert (normals * vertices.numpy()).sum(-1).min() > 0.999


def test_vertex_normals_jacobian():
    vertices, faces = bumpy_sphere(0, seed=1)
    error = ops_testing.jacobian_error(lambda v: geometry.vertex_normals(v, faces), vertices)
    assert error < 1e-7


def test_degenerate_face_gets_zero_normal_and_finite_gradient():
    points = tf.constant([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    with tf.GradientTape() as tape:
        tape.watch(points)
        normal = geometry.face_normals(points, [[0, 1, 2]])
        area = geometry.face_areas(points, [[0, 1, 2]])
        total = tf.reduce_sum(normal) + tf.reduce_sum(area)
    assert np.all(normal.numpy() == 0) and area.numpy()[0] == 0
    assert np.all(np.isfinite(tape.gradient(total, points).numpy()))


# ----------------------------------------------------------------------------- sampling

def test_samples_lie_on_the_mesh_with_their_face_normals():
    from tf3d.ops import primitives

    vertices, faces = primitives.box(0.5)
    points, normals = geometry.sample_points(vertices, faces, 2000, seed=3, return_normals=True)
    points, normals = points.numpy(), normals.numpy()
    assert points.shape == normals.shape == (2000, 3)
    np.testing.assert_allclose(np.abs(points).max(axis=1), 0.5, atol=1e-6)  # on the surface
    on_face = np.argmax(np.abs(points), axis=1)
    np.testing.assert_allclose(np.abs(normals[np.arange(2000), on_face]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.sign(normals[np.arange(2000), on_face]),
                               np.sign(points[np.arange(2000), on_face]))  # outward


def test_samples_follow_the_area_and_fill_each_triangle_uniformly():
    # two triangles of areas 1/2 (x < 2) and 3/2 (x > 2): 1/4 and 3/4 of the samples
    vertices = [[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [3, 0, 0], [6, 0, 0], [3, 1, 0]]
    points = geometry.sample_points(vertices, [[0, 1, 2], [3, 4, 5]], 40000, seed=7).numpy()
    small = points[:, 0] < 2
    assert abs(small.mean() - 0.25) < 0.01  # 5 sigma = 5 * sqrt(.25 * .75 / 40000) = 0.011
    # uniform in a triangle: mean at the centroid (1/3, 1/3), E[x^2] = 1/6 for the unit one
    np.testing.assert_allclose(points[small, :2].mean(0), [1 / 3, 1 / 3], atol=0.01)
    np.testing.assert_allclose((points[small, 0] ** 2).mean(), 1 / 6, atol=0.01)
    np.testing.assert_allclose(points[~small, :2].mean(0), [4, 1 / 3], atol=0.02)


def test_sampling_is_seeded_batched_and_padded():
    vertices, faces = geometry.icosphere(1)
    first = geometry.sample_points(vertices, faces, 50, seed=11)
    np.testing.assert_array_equal(first, geometry.sample_points(vertices, faces, 50, seed=11))
    assert not np.array_equal(first, geometry.sample_points(vertices, faces, 50, seed=12))
    traced = tf.function(lambda v: geometry.sample_points(v, faces, 50, seed=[11, 0]))
    np.testing.assert_array_equal(first, traced(vertices))
    # a padded batch: mesh 1 is a tetrahedron in the first 4 faces; its samples stay on it
    batch_vertices = np.zeros((2, 42, 3), np.float32)
    batch_vertices[0] = vertices.numpy()
    batch_vertices[1, :4] = TETRA_VERTICES * 5
    batch_faces = np.full((2, 80, 3), 999, np.int32)  # padding indices are never read
    batch_faces[0], batch_faces[1, :4] = faces.numpy(), TETRA_FACES
    points = geometry.sample_points(batch_vertices, batch_faces, 300, face_counts=[80, 4],
                                    seed=1).numpy()
    np.testing.assert_allclose(np.linalg.norm(points[0], axis=1), 1.0, atol=0.21)
    assert np.linalg.norm(points[1], axis=1).min() > 2.5  # never on padding faces at 0


def test_sample_gradients_reach_the_vertices():
    vertices, faces = bumpy_sphere(0, seed=2)
    error = ops_testing.jacobian_error(
        lambda v: geometry.sample_points(v, faces, 30, seed=5), vertices)
    assert error < 1e-8
    with tf.GradientTape() as tape:
        v = tf.constant(vertices)
        tape.watch(v)
        total = tf.reduce_sum(geometry.sample_points(v, faces, 2000, seed=5))
    # each sample's barycentric weights sum to 1, so d(sum of coordinates)/d(vertex) sums to S
    gradient = tape.gradient(total, v).numpy()
    np.testing.assert_allclose(gradient.sum(0), [2000, 2000, 2000], rtol=1e-9)
    assert (gradient[:, 0] > 0).all()  # every vertex of the 12 got some samples


def test_sampling_errors():
    vertices, faces = geometry.icosphere(0)
    with pytest.raises(ValueError, match="num_samples"):
        geometry.sample_points(vertices, faces, 0)
    with pytest.raises(ValueError, match=r"vertices must have shape \[B, V, 3\] or \[V, 3\]"):
        geometry.sample_points(vertices[:, :2], faces, 10)
    with pytest.raises(ValueError, match="seed"):
        geometry.sample_points(vertices, faces, 10, seed=[1, 2, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="zero surface area"):
        geometry.sample_points(tf.zeros([3, 3]), [[0, 1, 2]], 10)


# ----------------------------------------------------------------------------- nearest neighbours

@pytest.mark.parametrize("chunk_size", [None, 1, 7, 1000])
def test_nearest_neighbors_match_brute_force(chunk_size):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 53, 3)), rng.normal(size=(2, 31, 3))
    lengths = np.array([31, 12])
    d2, index = geometry.nearest_neighbors(x, y, y_lengths=lengths, chunk_size=chunk_size)
    full = ((x[:, :, None] - y[:, None]) ** 2).sum(-1)
    full[1, :, 12:] = np.inf  # padding is never chosen
    np.testing.assert_array_equal(index.numpy(), full.argmin(-1))
    np.testing.assert_allclose(d2.numpy(), full.min(-1), rtol=1e-12)


def test_nearest_neighbors_under_tf_function_unbatched_and_errors():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(100, 2)).astype(np.float32), rng.normal(size=(60, 2))
    traced = tf.function(geometry.nearest_neighbors, input_signature=[
        tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None, 2], tf.float32)])
    d2, index = traced(x, y.astype(np.float32))
    assert d2.dtype == tf.float32 and index.shape == (100,)
    np.testing.assert_array_equal(index, ((x[:, None] - y[None]) ** 2).sum(-1).argmin(-1))
    with pytest.raises(ValueError, match=r"y must have shape \[B, N, 2\] or \[N, 2\]"):
        geometry.nearest_neighbors(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="both be batched"):
        geometry.nearest_neighbors(x, y[None])
    with pytest.raises(ValueError, match="x and y must have the same batch size B"):
        geometry.nearest_neighbors(np.stack([x, x]), y[None])
    with pytest.raises(ValueError, match="chunk_size"):
        geometry.nearest_neighbors(x, y, chunk_size=0)
    with pytest.raises(ValueError, match=r"y_lengths must have shape \[B\]"):
        geometry.nearest_neighbors(x[None], y[None], y_lengths=[[3]])


# ----------------------------------------------------------------------------- Laplacian

def _dense_laplacian(vertices, faces, method):
    """Reference: build the weight matrix with Python loops, delta = W v / rowsum - v."""
    weights = np.zeros((len(vertices),) * 2)
    for face in faces:
        for k in range(3):
            a, b, c = face[k], face[(k + 1) % 3], face[(k + 2) % 3]
            if method == "uniform":
                weights[b, c] = weights[c, b] = 1.0
            else:
                e1, e2 = vertices[b] - vertices[a], vertices[c] - vertices[a]
                cot = e1 @ e2 / np.linalg.norm(np.cross(e1, e2))
                weights[b, c] += cot
                weights[c, b] += cot
    return weights @ vertices / weights.sum(1, keepdims=True) - vertices


def test_laplacian_of_a_symmetric_fan():
    vertices, faces = fan(ring=4, height=3.0)
    # centre (0, 0, 3): neighbours' centroid is the origin -> delta = (0, 0, -3) for both
    # methods (by symmetry all four cotangent weights are equal)
    for method in ("uniform", "cotangent"):
        delta = geometry.mesh_laplacian(vertices, faces, method).numpy()
        np.testing.assert_allclose(delta[0], [0, 0, -3], atol=1e-12)
    # rim vertex (1, 0, 0): neighbours (0, 0, 3), (0, 1, 0), (0, -1, 0) -> centroid (0, 0, 1)
    delta = geometry.mesh_laplacian(vertices, faces).numpy()
    np.testing.assert_allclose(delta[1], [-1, 0, 1], atol=1e-12)
    # a flat fan of 6 has zero cotangent Laplacian at its centre, for any ring shape
    flat, flat_faces = fan(ring=6, height=0.0)
    flat[1:] *= np.random.default_rng(0).uniform(0.8, 1.2, size=(6, 1))
    assert np.abs(geometry.mesh_laplacian(flat, flat_faces, "cotangent").numpy()[0]).max() < 1e-12


@pytest.mark.parametrize("method", ["uniform", "cotangent"])
def test_laplacian_matches_dense_reference_and_jacobian(method):
    vertices, faces = bumpy_sphere(1, seed=3)
    np.testing.assert_allclose(geometry.mesh_laplacian(vertices, faces, method).numpy(),
                               _dense_laplacian(vertices, faces, method), atol=1e-12)
    small, small_faces = bumpy_sphere(0, seed=4)
    error = ops_testing.jacobian_error(
        lambda v: geometry.mesh_laplacian(v, small_faces, method), small)
    assert error < 1e-7


def test_laplacian_method_error():
    with pytest.raises(ValueError, match="method must be one of 'uniform', 'cotangent'"):
        geometry.mesh_laplacian(TETRA_VERTICES, TETRA_FACES, "cot")


# ----------------------------------------------------------------------------- batching

def test_packed_meshes_of_different_sizes():
    batch_vertices = np.zeros((2, 12, 3))
    batch_vertices[0, :4], batch_vertices[1] = TETRA_VERTICES, geometry.icosphere(0)[0].numpy()
    batch_faces = np.zeros((2, 20, 3), np.int32)
    batch_faces[0, :4], batch_faces[1] = TETRA_FACES, geometry.icosphere(0)[1].numpy()
    packed = batching.pack_meshes(batch_vertices, batch_faces, vertex_counts=[4, 12],
                                  face_counts=[4, 20])
    assert packed.faces.shape == (24, 3) and packed.vertices.shape == (24, 3)
    assert packed.faces.numpy()[4:].min() == 12  # mesh 1's indices are offset by V
    np.testing.assert_array_equal(packed.vertex_mask.numpy(),
                                  [True] * 4 + [False] * 8 + [True] * 12)
    normals = geometry.vertex_normals(batch_vertices, batch_faces, [4, 12], [4, 20]).numpy()
    np.testing.assert_allclose(normals[0, :4], TETRA_VERTICES / math.sqrt(3), atol=1e-12)
    assert np.all(normals[0, 4:] == 0)


def test_batching_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"faces must have shape \[F, 3\] or \[B, F, 3\] with "
                                         r"B = 2"):
        batching.pack_meshes(np.zeros((2, 4, 3)), np.zeros((3, 4, 3), np.int32))
    with pytest.raises(ValueError, match=r"faces must have shape \[F, 3\], got \(1, 4, 3\)"):
        batching.pack_meshes(TETRA_VERTICES, TETRA_FACES[None])
    with pytest.raises(ValueError, match=r"face_counts must have shape \[B\] = \[2\], got \(3,\)"):
        batching.pack_meshes(np.zeros((2, 4, 3)), TETRA_FACES, face_counts=[1, 2, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="beyond its mesh's vertex count"):
        batching.pack_meshes(np.zeros((2, 4, 3)), TETRA_FACES, vertex_counts=[4, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="must not exceed"):
        batching.pack_meshes(np.zeros((2, 4, 3)), TETRA_FACES, face_counts=[4, 5])
