"""tf3d: TensorFlow-native 2D<->3D shape generation.

Importing `tf3d` imports nothing heavy: subpackages load TensorFlow, open3d or
the custom ops only when they are used.
"""

__version__ = "0.1.0"
