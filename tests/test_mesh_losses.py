"""Mesh and point-set losses: chamfer, edge length, normal consistency, Laplacian, quadric."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf3d import geometry
from tf3d.losses.chamfer import chamfer_distance
from tf3d.losses.edge_length import edge_length_loss
from tf3d.losses.laplacian import laplacian_smoothing_loss
from tf3d.losses.normal_consistency import normal_consistency_loss
from tf3d.losses.quadric import quadric_loss, vertex_quadrics
from tf3d.ops import primitives
from tf3d.ops import testing as ops_testing

from test_geometry import (FOLD_FACES, FOLD_VERTICES, TETRA_FACES, TETRA_VERTICES, bumpy_sphere,
                           fan)

RIGHT_TRIANGLE = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float64)
MESH_LOSSES = [edge_length_loss, normal_consistency_loss, laplacian_smoothing_loss,
               lambda v, f, *counts, **kw: laplacian_smoothing_loss(v, f, *counts,
                                                                    method="cotangent", **kw)]


def grid(n=4, size=1.0):
    """A flat (n + 1) x (n + 1) vertex grid in z = 0, two triangles per cell."""
    xs = np.linspace(0, size, n + 1)
    vertices = np.stack(np.meshgrid(xs, xs, [0.0], indexing="ij"), -1).reshape(-1, 3)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = i * (n + 1) + j, (i + 1) * (n + 1) + j, (i + 1) * (n + 1) + j + 1, \
                i * (n + 1) + j + 1
            faces += [[a, b, c], [a, c, d]]
    return vertices, np.array(faces, np.int32)


def padded_pair():
    """A tetrahedron and a bumpy icosahedron in one padded batch, with the two meshes."""
    tetra = (TETRA_VERTICES * 0.7, TETRA_FACES)
    sphere = bumpy_sphere(0, seed=8)
    vertices = np.full((2, 12, 3), 123.0)  # padding that must never be read
    faces = np.full((2, 20, 3), 7, np.int32)
    vertices[0, :4], faces[0, :4] = tetra
    vertices[1], faces[1] = sphere
    return vertices, faces, [4, 12], [4, 20], [tetra, sphere]


# ----------------------------------------------------------------------------- chamfer

def test_chamfer_golden_two_point_sets():
    x = [[0.0, 0, 0], [1, 0, 0]]
    y = [[0.0, 0, 0], [0, 2, 0]]
    # x -> y: (0,0,0) -> 0; (1,0,0) -> min(1, 1 + 4) = 1; mean 0.5
    # y -> x: (0,0,0) -> 0; (0,2,0) -> min(4, 1 + 4) = 4; mean 2
    distance, normals = chamfer_distance(x, y)
    assert normals is None
    np.testing.assert_allclose(distance, 2.5)
    np.testing.assert_allclose(chamfer_distance(x, y, point_reduction="sum")[0], 5.0)
    # normals: x's are +z; y's are +z and +y. x -> y: both nearest y0 (+z): 1 - |cos| = 0;
    # y -> x: y0 -> x0, 0; y1 -> x0: 1 - |(0,1,0).(0,0,1)| = 1; mean 0.5. Sign-blind: -z same.
    _, normals = chamfer_distance(x, y, x_normals=[[0, 0, 1.0], [0, 0, -3]],
                                  y_normals=[[0, 0, 2.0], [0, 1, 0]])
    np.testing.assert_allclose(normals, 0.5)


def test_chamfer_batch_reductions_and_padding():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    c, d = rng.normal(size=(11, 3)), rng.normal(size=(25, 3))
    x = np.full((2, 30, 3), 1e3)  # padding far away: it must not count either way
    y = np.full((2, 25, 3), -1e3)
    x[0], x[1, :11], y[0, :20], y[1] = a, c, b, d
    per_set, _ = chamfer_distance(x, y, x_lengths=[30, 11], y_lengths=[20, 25],
                                  batch_reduction=None)
    expected = [chamfer_distance(a, b)[0].numpy(), chamfer_distance(c, d)[0].numpy()]
    np.testing.assert_allclose(per_set, expected, rtol=1e-12)
    mean, _ = chamfer_distance(x, y, [30, 11], [20, 25])
    total, _ = chamfer_distance(x, y, [30, 11], [20, 25], batch_reduction="sum")
    np.testing.assert_allclose([mean, total], [np.mean(expected), np.sum(expected)], rtol=1e-12)


def test_chamfer_chunking_dtypes_and_tf_function():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 300, 3)), rng.normal(size=(2, 200, 3))
    whole = chamfer_distance(x, y, chunk_size=300)[0].numpy()
    np.testing.assert_allclose(chamfer_distance(x, y, chunk_size=7)[0], whole, rtol=1e-12)
    np.testing.assert_allclose(chamfer_distance(x, y)[0], whole, rtol=1e-12)
    traced = tf.function(lambda a, b: chamfer_distance(a, b)[0], input_signature=[
        tf.TensorSpec([None, None, 3], tf.float32)] * 2)
    value = traced(x.astype(np.float32), y.astype(np.float32))
    assert value.dtype == tf.float32
    np.testing.assert_allclose(value, whole, rtol=1e-5)
    assert chamfer_distance(x, x)[0].numpy() == 0.0
    np.testing.assert_allclose(chamfer_distance(y, x)[0], whole, rtol=1e-12)  # symmetric


def test_chamfer_jacobian():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 5, 3))
    assert ops_testing.jacobian_error(lambda a: chamfer_distance(a, y)[0], x) < 1e-8
    assert ops_testing.jacobian_error(lambda b: chamfer_distance(x, b)[0], y) < 1e-8
    nx, ny = rng.normal(size=x.shape), rng.normal(size=y.shape)
    assert ops_testing.jacobian_error(
        lambda n: chamfer_distance(x, y, x_normals=n, y_normals=ny)[1], nx) < 1e-8


def test_chamfer_errors():
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match="x_normals and y_normals must be given together"):
        chamfer_distance(x, x, x_normals=x)
    with pytest.raises(ValueError, match=r"y must have shape \[B, N, 3\] or \[N, 3\], got "
                                         r"\(2, 5, 2\)"):
        chamfer_distance(x, np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match=r"x must have shape \[B, N, D\] or \[N, D\]"):
        chamfer_distance(np.zeros(5), x)
    with pytest.raises(ValueError, match=r"y_normals must have the shape of its points"):
        chamfer_distance(x, x, x_normals=x, y_normals=np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="point_reduction must be one of 'mean', 'sum'"):
        chamfer_distance(x, x, point_reduction=None)
    with pytest.raises(ValueError, match="batch_reduction must be one of 'mean', 'sum' or None"):
        chamfer_distance(x, x, batch_reduction="max")
    with pytest.raises(ValueError, match=r"x_lengths must have shape \[B\] = \[2\], got \(3,\)"):
        chamfer_distance(x, x, x_lengths=[1, 2, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="must not exceed"):
        chamfer_distance(x, x, y_lengths=[5, 6])


# ----------------------------------------------------------------------------- edge length

def test_edge_length_golden():
    # unit right triangle: edges 1, 1, sqrt(2) -> squares 1, 1, 2 -> mean 4/3
    np.testing.assert_allclose(edge_length_loss(RIGHT_TRIANGLE, [[0, 1, 2]]), 4 / 3)
    # target 1: (0 + 0 + (sqrt(2) - 1)^2) / 3 = (3 - 2 sqrt(2)) / 3
    np.testing.assert_allclose(edge_length_loss(RIGHT_TRIANGLE, [[0, 1, 2]], target_length=1.0),
                               (3 - 2 * math.sqrt(2)) / 3)
    # the fold's shared edge counts once: 5 unique edges, lengths^2 1, 1, 2, 1, 2 -> 7/5
    np.testing.assert_allclose(edge_length_loss(FOLD_VERTICES, FOLD_FACES), 7 / 5)


# ----------------------------------------------------------------------------- normal consistency

def test_normal_consistency_golden():
    # the fold: normals +z and +y at 90 degrees -> 1 - cos 90 = 1
    np.testing.assert_allclose(normal_consistency_loss(FOLD_VERTICES, FOLD_FACES), 1.0)
    # winding does not matter (the normals come from the edge and the far corners)
    np.testing.assert_allclose(normal_consistency_loss(FOLD_VERTICES, [[0, 1, 2], [0, 1, 3]]), 1.0)
    # flat: the far corner at (0, -1, 0) -> 0; folded onto itself at (0.5, 1, 0) -> 2
    flat, closed = FOLD_VERTICES.copy(), FOLD_VERTICES.copy()
    flat[3], closed[3] = [0, -1, 0], [0.5, 1, 0]
    np.testing.assert_allclose(normal_consistency_loss(flat, FOLD_FACES), 0.0, atol=1e-12)
    np.testing.assert_allclose(normal_consistency_loss(closed, FOLD_FACES), 2.0)
    # three pages on the edge (0, 1) toward +y, +z and -y: pairs (y, z) 1, (y, -y) 0 (flat),
    # (z, -y) 1 -> mean 2/3
    book = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, -1, 0]], np.float64)
    np.testing.assert_allclose(
        normal_consistency_loss(book, [[0, 1, 2], [1, 0, 3], [1, 0, 4]]), 2 / 3)


# ----------------------------------------------------------------------------- Laplacian

def test_laplacian_smoothing_golden():
    vertices, faces = fan(ring=4, height=3.0)
    # centre: |(0, 0, -3)| = 3; each rim vertex: |(-1, 0, 1)| = sqrt(2) (tests/test_geometry.py)
    np.testing.assert_allclose(laplacian_smoothing_loss(vertices, faces),
                               (3 + 4 * math.sqrt(2)) / 5)
    delta = geometry.mesh_laplacian(vertices, faces, "cotangent").numpy()
    np.testing.assert_allclose(laplacian_smoothing_loss(vertices, faces, method="cotangent"),
                               np.linalg.norm(delta, axis=1).mean())
    assert np.linalg.norm(delta[0]) == pytest.approx(3.0)


def test_cotangent_loss_treats_weights_as_constants():
    vertices, faces = bumpy_sphere(0, seed=5)
    v = tf.constant(vertices)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(v)
        loss = laplacian_smoothing_loss(v, faces, method="cotangent")
        delta = geometry.mesh_laplacian(v, faces, "cotangent", constant_weights=True)
        direct = tf.reduce_mean(tf.norm(delta, axis=-1))
    np.testing.assert_allclose(tape.gradient(loss, v), tape.gradient(direct, v), atol=1e-12)


# ----------------------------------------------------------------------------- quadric

def test_quadric_golden():
    # one face in z = 0; the point (0.1, 0.1, 0.3) is nearest to vertex 0, whose only plane
    # is z = 0: distance d = 0.3 -> d^2 = 0.09
    np.testing.assert_allclose(quadric_loss([[0.1, 0.1, 0.3]], RIGHT_TRIANGLE, [[0, 1, 2]]),
                               0.09)
    # vertex 0 of the fold lies on the planes z = 0 and y = 0: (0.1, 0.2, 0.3) is nearest to
    # it (|p|^2 = 0.14 vs 0.94, 0.74, 0.54) -> 0.3^2 + 0.2^2 = 0.13
    np.testing.assert_allclose(quadric_loss([[0.1, 0.2, 0.3]], FOLD_VERTICES, FOLD_FACES), 0.13)
    quadrics = vertex_quadrics(FOLD_VERTICES, FOLD_FACES).numpy()
    np.testing.assert_allclose(quadrics[0], np.diag([0, 1, 1, 0]), atol=1e-12)


def test_quadric_is_zero_on_the_surface_and_grows_off_it():
    vertices, faces = grid(n=4)
    on_plane = geometry.sample_points(vertices, faces, 500, seed=1).numpy()
    assert quadric_loss(on_plane, vertices, faces).numpy() < 1e-30
    assert quadric_loss(vertices, vertices, faces).numpy() < 1e-30
    # lifting every vertex by d: its own quadric sums as many planes z = 0 as it has faces,
    # so the mean is d^2 * 3F / V = d^2 * 96 / 25
    for d in (0.01, 0.05, 0.1):
        np.testing.assert_allclose(quadric_loss(vertices + [0, 0, d], vertices, faces),
                                   d * d * 3 * len(faces) / len(vertices))
    sphere, sphere_faces = geometry.icosphere(2, dtype=tf.float64)
    losses = [quadric_loss(sphere * s, sphere, sphere_faces).numpy() for s in (1.0, 1.02, 1.1)]
    assert losses[0] < 1e-28 and 0 < losses[1] < losses[2]
    quadrics = vertex_quadrics(sphere, sphere_faces).numpy()
    homogeneous = np.concatenate([sphere.numpy(), np.ones((len(sphere), 1))], 1)
    np.testing.assert_allclose(np.einsum("vij,vj->vi", quadrics, homogeneous), 0, atol=1e-12)
    assert np.linalg.eigvalsh(quadrics).min() > -1e-12  # positive semi-definite


def test_quadric_jacobian_and_errors():
    vertices, faces = bumpy_sphere(0, seed=6)
    points = np.random.default_rng(3).normal(size=(1, 9, 3))
    assert ops_testing.jacobian_error(lambda p: quadric_loss(p, vertices[None], faces),
                                      points) < 1e-8
    assert ops_testing.jacobian_error(lambda v: quadric_loss(points, v, faces),
                                      vertices[None]) < 1e-8
    with pytest.raises(ValueError, match="points and target_vertices must both be batched"):
        quadric_loss(points, vertices, faces)
    with pytest.raises(ValueError, match=r"target_faces must have shape \[F, 3\] or \[B, F, 3\]"):
        quadric_loss(points, vertices[None], faces[:, :2])
    with pytest.raises(ValueError, match=r"points must have shape \[B, N, 3\]"):
        quadric_loss(points[..., :2], vertices[None], faces)


# ----------------------------------------------------------------------------- all mesh losses

@pytest.mark.parametrize("loss", [edge_length_loss, normal_consistency_loss,
                                  laplacian_smoothing_loss])
def test_mesh_loss_jacobians(loss):
    vertices, faces = bumpy_sphere(0, seed=7)
    assert ops_testing.jacobian_error(lambda v: loss(v, faces), vertices[None]) < 1e-8


@pytest.mark.parametrize("loss", MESH_LOSSES)
def test_padded_batch_equals_separate_meshes(loss):
    vertices, faces, vertex_counts, face_counts, meshes = padded_pair()
    per_mesh = loss(vertices, faces, vertex_counts, face_counts, batch_reduction=None).numpy()
    expected = [loss(v, f).numpy() for v, f in meshes]
    np.testing.assert_allclose(per_mesh, expected, rtol=1e-12)
    np.testing.assert_allclose(loss(vertices, faces, vertex_counts, face_counts),
                               np.mean(expected), rtol=1e-12)
    # faces shared by the batch, and float32 under tf.function
    shared = np.stack([meshes[1][0], meshes[1][0] * 2.0]).astype(np.float32)
    traced = tf.function(lambda v: loss(v, meshes[1][1], batch_reduction=None))
    value = traced(tf.constant(shared))
    assert value.dtype == tf.float32 and value.shape == (2,)


def test_padded_quadric_equals_separate_targets():
    vertices, faces, vertex_counts, face_counts, meshes = padded_pair()
    points = np.random.default_rng(4).normal(size=(2, 7, 3))
    per_set = quadric_loss(points, vertices, faces, points_lengths=[7, 5],
                           target_vertex_counts=vertex_counts, target_face_counts=face_counts,
                           batch_reduction=None).numpy()
    expected = [quadric_loss(points[0], *meshes[0]).numpy(),
                quadric_loss(points[1, :5], *meshes[1]).numpy()]
    np.testing.assert_allclose(per_set, expected, rtol=1e-12)


@pytest.mark.parametrize("loss", MESH_LOSSES[:3])
def test_mesh_loss_errors(loss):
    with pytest.raises(ValueError, match=r"vertices must have shape \[B, V, 3\] or \[V, 3\], "
                                         r"got \(4, 2\)"):
        loss(TETRA_VERTICES[:, :2], TETRA_FACES)
    with pytest.raises(ValueError, match="faces must hold integer vertex indices"):
        loss(TETRA_VERTICES, TETRA_FACES.astype(np.float32))
    with pytest.raises(ValueError, match="batch_reduction must be one of"):
        loss(TETRA_VERTICES, TETRA_FACES, batch_reduction="max")
    with pytest.raises(tf.errors.InvalidArgumentError, match="beyond its mesh's vertex count"):
        loss(TETRA_VERTICES, TETRA_FACES + 1)
    with pytest.raises(ValueError, match="method must be one of"):
        laplacian_smoothing_loss(TETRA_VERTICES, TETRA_FACES, method="cot")


# ----------------------------------------------------------------------------- can it optimise?

def test_chamfer_pulls_an_icosphere_onto_a_box():
    vertices, faces = geometry.icosphere(2, radius=0.5)
    box, box_faces = primitives.box(0.4)
    box = box * np.array([1.5, 0.5, 1.0], np.float32)  # a flat slab, far from the sphere
    target = geometry.sample_points(box, box_faces, 1000, seed=0)
    offsets = tf.Variable(tf.zeros_like(vertices))
    optimizer = tf.keras.optimizers.Adam(0.01)

    def loss(seed):
        points = geometry.sample_points(vertices + offsets, faces, 1000, seed=seed)
        return chamfer_distance(points, target)[0]

    @tf.function
    def step(seed):
        with tf.GradientTape() as tape:
            value = loss(seed) + 0.1 * laplacian_smoothing_loss(vertices + offsets, faces)
        optimizer.apply_gradients([(tape.gradient(value, offsets), offsets)])

    before = float(loss(123))
    for i in range(150):
        step(tf.constant([i, 0]))
    after = float(loss(123))
    assert after < before / 10, (before, after)


def test_quadric_and_regularisers_can_be_minimised():
    vertices, faces = geometry.icosphere(1, dtype=tf.float64)
    noise = tf.random.stateless_normal([42, 1], [1, 2], dtype=tf.float64)
    noisy = tf.Variable(vertices * (1 + 0.1 * noise))
    losses = {
        "quadric": lambda: quadric_loss(noisy, vertices, faces),
        "laplacian": lambda: laplacian_smoothing_loss(noisy, faces),
        "normal_consistency": lambda: normal_consistency_loss(noisy, faces),
        "edge_length": lambda: edge_length_loss(noisy, faces),
    }
    start = noisy.numpy()
    for name, loss in losses.items():
        noisy.assign(start)
        optimizer = tf.keras.optimizers.Adam(0.01)
        before = float(loss())
        for _ in range(50):
            with tf.GradientTape() as tape:
                value = loss()
            optimizer.apply_gradients([(tape.gradient(value, noisy), noisy)])
        assert float(loss()) < 0.7 * before, name
