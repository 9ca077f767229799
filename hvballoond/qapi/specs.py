"""Command and event descriptions of the generated schema tables (no pydantic: the daemon
imports these at start-up, the pydantic models only under test)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CommandSpec", "EventSpec"]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command of the schema.

    ``arg_type`` and ``ret_type`` are QAPI type names (implicit argument types are named
    ``q_obj_<command>-arg``, arrays ``<element>List``), None when absent. ``gen`` is false
    for commands whose arguments are checked by hand (``device_add``).
    """

    name: str
    arg_type: str | None
    ret_type: str | None
    boxed: bool = False
    allow_oob: bool = False
    allow_preconfig: bool = False
    coroutine: bool = False
    gen: bool = True
    success_response: bool = True
    features: tuple[str, ...] = ()

    @property
    def has_returns(self) -> bool:
        """Whether the schema declares a return type (else the reply is ``{}``)."""
        return self.ret_type is not None


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event of the schema; ``arg_type`` names the type of its ``data``."""

    name: str
    arg_type: str | None
    boxed: bool = False
    features: tuple[str, ...] = ()
