"""Training helpers: Keras callbacks and the voxel preview renderer."""
