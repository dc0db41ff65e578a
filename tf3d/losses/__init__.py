"""Voxel losses, one per module, looked up by name through `tf3d.losses.registry`."""
