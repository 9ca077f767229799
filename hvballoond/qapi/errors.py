"""Schema diagnostics: one exception type, printed QAPI-style."""

from __future__ import annotations

from hvballoond.qapi.source import SourceInfo

__all__ = ["SchemaError"]


class SchemaError(Exception):
    """An error in the schema sources.

    Printed as ``FILE:LINE:COL: message`` for lexical and syntax errors (``col`` set), and
    as ``FILE: In <meta> '<name>':`` + newline + ``FILE:LINE: message`` for semantic errors
    about a definition (scripts/qapi/error.py, source.py). ``info`` is None only for
    errors that have no position (an unreadable root file).
    """

    def __init__(self, info: SourceInfo | None, msg: str, *, col: int | None = None) -> None:
        super().__init__(msg)
        self.info = info
        self.msg = msg
        self.col = col

    def __str__(self) -> str:
        if self.info is None:
            return self.msg
        loc = str(self.info)
        if self.col is not None:
            loc += f":{self.col}"
        return f"{loc}: {self.msg}"
