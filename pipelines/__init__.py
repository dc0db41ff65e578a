"""Dataset building: synthetic furniture, voxelization, Blender renderings, TFRecord shards."""
