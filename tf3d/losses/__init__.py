"""Losses, one per module.

Voxel losses (`weighted_bce`, `voxel_l1`) are Keras losses looked up by name
through `tf3d.losses.registry`. Mesh and point-set losses (`chamfer`,
`edge_length`, `normal_consistency`, `laplacian`, `quadric`) are plain
TensorFlow functions on padded batches (`tf3d.geometry`).
"""
