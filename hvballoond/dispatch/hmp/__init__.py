"""HMP (human monitor) commands reached through QMP ``human-monitor-command``.

``load_all()`` imports every module of this package so that each registers its commands."""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["load_all"]


def load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "registry":
            importlib.import_module(f"{__name__}.{info.name}")
