"""Where a schema construct comes from, printed the way QEMU's QAPI generator prints it."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["SourceInfo"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A line in a schema file, with the include chain that led to it.

    ``fname`` is the file name as displayed (the root as given, included files joined to
    the directory of their includer, like scripts/qapi/parser.py). ``defn_meta`` and
    ``defn_name`` name the definition being checked, when the diagnostic is about one.
    """

    fname: str
    line: int
    parent: SourceInfo | None = None
    defn_meta: str | None = None
    defn_name: str | None = None

    def next_line(self) -> SourceInfo:
        """The same position one line further down."""
        return replace(self, line=self.line + 1)

    def with_defn(self, meta: str, name: str) -> SourceInfo:
        """This position, attributed to definition ``name`` of kind ``meta``."""
        return replace(self, defn_meta=meta, defn_name=name)

    def loc(self) -> str:
        return f"{self.fname}:{self.line}"

    def include_path(self) -> str:
        """``In file included from F:L:`` lines, outermost first."""
        text = ""
        parent = self.parent
        while parent is not None:
            text = f"In file included from {parent.loc()}:\n" + text
            parent = parent.parent
        return text

    def in_defn(self) -> str:
        if self.defn_name is None:
            return ""
        return f"{self.fname}: In {self.defn_meta} '{self.defn_name}':\n"

    def __str__(self) -> str:
        return self.include_path() + self.in_defn() + self.loc()
