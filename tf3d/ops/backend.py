"""Which implementation the custom ops (silhouettes, rasterize) run: native kernels or the reference.

The native C++ kernels are the default. `set_implementation("reference")` or
the environment variable `TF3D_OPS=reference` selects the pure-TensorFlow
reference instead (for machines without a C++ compiler); the first call that
uses it warns once. An explicit `set_implementation` wins over the variable.
"""

import os
import warnings

IMPLEMENTATIONS = ("native", "reference")
ENV_VAR = "TF3D_OPS"

_chosen = None
_warned = False


def set_implementation(name):
    """Select `"native"` or `"reference"`; `None` goes back to `$TF3D_OPS`."""
    global _chosen
    if name is not None and name not in IMPLEMENTATIONS:
        raise ValueError(f"name must be one of {IMPLEMENTATIONS} or None, got {name!r}")
    _chosen = name


def implementation():
    """The implementation in force: the explicit choice, else `$TF3D_OPS`, else native."""
    if _chosen is not None:
        return _chosen
    value = os.environ.get(ENV_VAR, "native").strip().lower() or "native"
    if value not in IMPLEMENTATIONS:
        raise ValueError(f"${ENV_VAR} must be one of {IMPLEMENTATIONS}, got {value!r}")
    return value


def use_reference():
    """True when the reference runs; warns the first time."""
    global _warned
    if implementation() != "reference":
        return False
    if not _warned:
        _warned = True
        warnings.warn("tf3d.ops runs the pure-TensorFlow reference renderers "
                      f"(${ENV_VAR}=reference or set_implementation): correct but slow and "
                      "memory-hungry", RuntimeWarning, stacklevel=3)
    return True
