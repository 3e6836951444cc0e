"""Checks that exercises and tests reuse: `from targetpractice import checks`, then `checks.<name>`.

The shared core (`core.py`) holds the checks every topic uses; each topic adds one module here
(`classification.py` for 01, ...). Every public function or class of every module is re-exported,
so notebooks write `checks.check_loss` or `checks.token_batch` without knowing which file holds it.
Adding a topic means adding its module: nothing here lists them.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

from .core import *  # noqa: F403 (the shared core, re-exported)


def _public(module) -> dict:
    """Functions and classes a module defines itself (not what it imported), minus _private ones."""
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__}


TOPIC_MODULES = []
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name == "core" or _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f".{_info.name}", __name__)
    for _name, _obj in _public(_module).items():
        if _name in globals() and globals()[_name] is not _obj:
            raise ImportError(f"checks.{_info.name}.{_name} would hide another check of the same name")
        globals()[_name] = _obj
    TOPIC_MODULES.append(_info.name)
