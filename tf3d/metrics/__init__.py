"""Voxel metrics."""
