"""Tests of tf3d.ops.layers: Keras wrappers of the silhouette ops."""

import keras
import numpy as np
import tensorflow as tf

from tf3d.ops import testing as ops_testing
from tf3d.ops import MeshSilhouette, VoxelSilhouette, mesh_silhouette, primitives, voxel_silhouette


def test_voxel_layer_config_round_trip_and_values():
    layer = VoxelSilhouette((8, 6), near=1.6, far=3.4, num_samples=10, mode="max", name="vs")
    clone = VoxelSilhouette.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    occupancy = np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 4)).astype(np.float32)
    projection = ops_testing.cameras(2, 8)
    expected = voxel_silhouette(occupancy, projection, (8, 6), num_samples=10, near=1.6, far=3.4,
                                mode="max")
    np.testing.assert_array_equal(clone(occupancy, projection).numpy(), expected.numpy())


def test_voxel_layer_in_functional_model_fits():
    # Symbolic call on KerasTensors, then one fit() step through the op's gradient.
    grid = keras.Input((4, 4, 4))
    camera = keras.Input((3, 4))
    logits = keras.layers.Reshape((4, 4, 4))(keras.layers.Dense(64)(keras.layers.Flatten()(grid)))
    occupancy = keras.layers.Activation("sigmoid")(logits)
    silhouette = VoxelSilhouette(8, near=1.6, far=3.4, num_samples=8)(occupancy, camera)
    assert tuple(silhouette.shape) == (None, 8, 8)
    model = keras.Model([grid, camera], silhouette)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    rng = np.random.default_rng(1)
    x = [rng.uniform(0, 1, (4, 4, 4, 4)).astype(np.float32), ops_testing.cameras(4, 8)]
    y = np.zeros((4, 8, 8), np.float32)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


def test_mesh_layer_config_and_tape():
    layer = MeshSilhouette(12, sigma=1e-3, perspective=False)
    assert MeshSilhouette.from_config(layer.get_config()).get_config() == layer.get_config()
    vertices, faces = primitives.icosphere(1, radius=0.4)
    projection = ops_testing.cameras(2, 12, perspective=False)
    v = tf.Variable(np.repeat(vertices[None], 2, axis=0))
    with tf.GradientTape() as tape:
        out = layer(v, faces, projection)
        loss = tf.reduce_sum(out)
    expected = mesh_silhouette(v, faces, projection, 12, sigma=1e-3, perspective=False)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    grad = tape.gradient(loss, v).numpy()
    # Growing the silhouette raises the loss: radial gradient points outward.
    assert np.sum(grad * v.numpy()) > 0


def test_mesh_layer_symbolic_call():
    vertices = keras.Input((42, 3))
    camera = keras.Input((3, 4))
    _, faces = primitives.icosphere(1)
    out = MeshSilhouette((10, 12))(vertices, faces, camera)
    assert tuple(out.shape) == (None, 10, 12)
