"""QMP command handlers, one module per area. ``load_all()`` imports every module here so
that each registers its commands with :func:`hvballoond.dispatch.registry.command`."""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["load_all"]


def load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
