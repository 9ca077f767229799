"""HMP (human monitor) commands reached through QMP ``human-monitor-command``.

Each module of this package registers its commands when imported. HMP is only reached through
``human-monitor-command``, so start-up imports none of them: the interpreter calls
:func:`load_all` before it looks a command up (the help texts list every command)."""

from __future__ import annotations

import importlib

__all__ = ["load_all"]

_loaded = False


def load_all() -> None:
    """Import every module of this package once (each registers its commands)."""
    global _loaded
    if _loaded:
        return
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "registry":
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True
