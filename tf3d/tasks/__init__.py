"""Tasks by name: what `task.name` in an experiment trains, evaluates and predicts.

A task is a `tf3d.tasks.base.Task` subclass in its own module
(`tf3d/tasks/<name>.py`) with a config dataclass (a `tf3d.config.TaskConfig`
subclass), registered with `@register`. Every module of this package is
imported on the first lookup (not when the package is imported), so adding a
task touches only its own module and its YAML.
"""

import importlib
import pkgutil

_TASKS = {}
_NOT_TASKS = ("base",)


def register(task_class):
    """Class decorator: registers a `Task` subclass under `task_class.name`."""
    name = task_class.name
    if not name or task_class.config_class is None:
        raise ValueError(f"{task_class.__name__} must set `name` and `config_class`")
    if task_class.config_class().name != name:
        raise ValueError(f"{task_class.config_class.__name__}.name must default to {name!r}")
    if name in _TASKS and _TASKS[name] is not task_class:
        raise ValueError(f"a task named {name!r} is already registered")
    _TASKS[name] = task_class
    return task_class


def _load_builtin():
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _NOT_TASKS and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def names():
    """Registered task names, sorted."""
    _load_builtin()
    return sorted(_TASKS)


def get(name):
    """The `Task` subclass registered under `name`."""
    _load_builtin()
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def config_class(name):
    """The config dataclass of task `name`."""
    return get(name).config_class


def build(config):
    """The task of an `ExperimentConfig`, ready to build its inputs and model."""
    return get(config.task.name)(config)
