"""Model builders by name: an experiment's `model.name` picks one.

Builders register themselves with `@register("name")` in their module; the
modules listed in `_BUILTIN` are imported on the first lookup (not at import
time of this module).
"""

import importlib

_BUILDERS = {}
_BUILTIN = ("tf3d.models.paired",)


def register(name):
    """Decorator: registers a builder `f(**kwargs) -> keras.Model` under `name`."""
    def wrap(builder):
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"a model builder named {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder
    return wrap


def names():
    for module in _BUILTIN:
        importlib.import_module(module)
    return sorted(_BUILDERS)


def build(name, **kwargs):
    """Calls the builder registered under `name` with `kwargs`."""
    available = names()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(available)}")
    return _BUILDERS[name](**kwargs)
