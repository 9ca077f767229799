"""Schema text -> top-level items, a pure function of the text.

The syntax is QEMU's QAPI schema dialect (qapi-schema-language.md §1): JSON-like objects
with single-quoted strings, ``true``/``false``, ``#`` comments and ``##`` doc blocks.
Errors are reported like scripts/qapi/parser.py reports them, as ``FILE:LINE:COL:``.
``include`` and ``pragma`` directives are recognised and checked for shape here; reading
included files is the loader's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from hvballoond.qapi.doc import Doc, DocLine, parse_doc
from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.source import SourceInfo

__all__ = [
    "FileItem",
    "Include",
    "ParsedFile",
    "PragmaSetting",
    "RawExpr",
    "RawValue",
    "parse",
]

RawValue: TypeAlias = "str | bool | list[RawValue] | dict[str, RawValue]"

_STRAY = re.compile(r"[^\[\]{}:,\s']+")
_PRAGMA_LISTS = (
    "command-name-exceptions",
    "command-returns-exceptions",
    "documentation-exceptions",
    "member-name-exceptions",
)


@dataclass(frozen=True, slots=True)
class RawExpr:
    """A definition as written, with its position and its doc block (if any)."""

    value: dict[str, RawValue]
    info: SourceInfo
    doc: Doc | None


@dataclass(frozen=True, slots=True)
class Include:
    """``{ 'include': path }``; ``path`` is relative to the including file."""

    path: str
    info: SourceInfo


@dataclass(frozen=True, slots=True)
class PragmaSetting:
    """One key of a ``{ 'pragma': {...} }`` directive, already type-checked."""

    name: str
    value: bool | tuple[str, ...]
    info: SourceInfo


FileItem: TypeAlias = RawExpr | Include | PragmaSetting


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A file's items in text order, and every doc block (free-form ones included)."""

    items: tuple[FileItem, ...]
    docs: tuple[Doc, ...]


# Token kinds. Single characters stand for themselves.
_STRING = "'"
_TRUE = "t"
_FALSE = "f"
_COMMENT = "#"


class _Lexer:
    """Tokenizer with the same positions and error texts as QEMU's ``accept()``."""

    def __init__(self, text: str, info: SourceInfo) -> None:
        if not text.endswith("\n"):
            text += "\n"
        self.src = text
        self.cursor = 0
        self.pos = 0
        self.line_pos = 0
        self.info = info
        self.tok: str | None = None
        self.val: str | bool | None = None

    def col(self) -> int:
        """Column of the current token (QEMU's tab rule: ``(col + 7) % 8 + 1``)."""
        col = 1
        for ch in self.src[self.line_pos : self.pos]:
            col = (col + 7) % 8 + 1 if ch == "\t" else col + 1
        return col

    def error(self, msg: str) -> SchemaError:
        """A parse error at the current token."""
        return SchemaError(self.info, msg, col=self.col())

    def accept(self, *, skip_comment: bool = True) -> None:
        """Read the next token into ``tok``/``val``; ``tok`` is None at the end."""
        src = self.src
        while True:
            self.tok = tok = src[self.cursor]
            self.pos = self.cursor
            self.cursor += 1
            self.val = None
            if tok == "#":
                if src[self.cursor] == "#":
                    skip_comment = False  # a doc block starts here
                self.cursor = src.find("\n", self.cursor)
                if not skip_comment:
                    self.val = src[self.pos : self.cursor]
                    return
            elif tok in "{}:,[]":
                return
            elif tok == "'":
                self.val = self._string()
                return
            elif src.startswith("true", self.pos):
                self.val = True
                self.cursor += 3
                return
            elif src.startswith("false", self.pos):
                self.val = False
                self.cursor += 4
                return
            elif tok == "\n":
                if self.cursor == len(src):
                    self.tok = None
                    return
                self.info = self.info.next_line()
                self.line_pos = self.cursor
            elif not tok.isspace():
                match = _STRAY.match(src, self.pos)
                assert match is not None
                raise self.error(f"stray '{match.group(0)}'")

    def _string(self) -> str:
        chars: list[str] = []
        escaped = False
        while True:
            ch = self.src[self.cursor]
            self.cursor += 1
            if ch == "\n":
                raise self.error('missing terminating "\'"')
            if escaped:
                # The only escape is \\ (qapi-schema-language.md §1).
                if ch != "\\":
                    raise self.error(f"unknown escape \\{ch}")
                escaped = False
            elif ch == "\\":
                escaped = True
                continue
            elif ch == "'":
                return "".join(chars)
            if not 32 <= ord(ch) < 127:
                raise self.error("funny character in string")
            chars.append(ch)


class _Parser:
    def __init__(self, text: str, info: SourceInfo) -> None:
        self.lex = _Lexer(text, info)

    def parse(self) -> ParsedFile:
        lex = self.lex
        items: list[FileItem] = []
        docs: list[Doc] = []
        cur_doc: Doc | None = None
        lex.accept()
        while lex.tok is not None:
            info = lex.info
            if lex.tok == _COMMENT:
                _reject_expr_doc(cur_doc)
                cur_doc = self._doc()
                docs.append(cur_doc)
                continue
            expr = self._expr()
            if not isinstance(expr, dict):
                raise SchemaError(info, "top-level expression must be an object")
            if "include" in expr:
                _reject_expr_doc(cur_doc)
                items.append(_include(expr, info))
            elif "pragma" in expr:
                _reject_expr_doc(cur_doc)
                items.extend(_pragma(expr, info))
            else:
                if cur_doc is not None and cur_doc.symbol is None:
                    raise SchemaError(cur_doc.info, "definition documentation required")
                items.append(RawExpr(expr, info, cur_doc))
            cur_doc = None
        _reject_expr_doc(cur_doc)
        return ParsedFile(tuple(items), tuple(docs))

    def _expr(self) -> RawValue:
        lex = self.lex
        if lex.tok == "{":
            lex.accept()
            return self._members()
        if lex.tok == "[":
            lex.accept()
            return self._values()
        if lex.tok in (_STRING, _TRUE, _FALSE):
            value = lex.val
            assert isinstance(value, str | bool)
            lex.accept()
            return value
        raise lex.error("expected '{', '[', string, or boolean")

    def _members(self) -> dict[str, RawValue]:
        lex = self.lex
        out: dict[str, RawValue] = {}
        if lex.tok == "}":
            lex.accept()
            return out
        if lex.tok != _STRING:
            raise lex.error("expected string or '}'")
        while True:
            key = lex.val
            assert isinstance(key, str)
            lex.accept()
            if lex.tok != ":":
                raise lex.error("expected ':'")
            lex.accept()
            if key in out:
                raise lex.error(f"duplicate key '{key}'")
            out[key] = self._expr()
            if lex.tok == "}":
                lex.accept()
                return out
            if lex.tok != ",":
                raise lex.error("expected ',' or '}'")
            lex.accept()
            if lex.tok != _STRING:
                raise lex.error("expected string")

    def _values(self) -> list[RawValue]:
        lex = self.lex
        out: list[RawValue] = []
        if lex.tok == "]":
            lex.accept()
            return out
        if lex.tok not in ("{", "[", _STRING, _TRUE, _FALSE):
            raise lex.error("expected '{', '[', ']', string, or boolean")
        while True:
            out.append(self._expr())
            if lex.tok == "]":
                lex.accept()
                return out
            if lex.tok != ",":
                raise lex.error("expected ',' or ']'")
            lex.accept()

    def _doc(self) -> Doc:
        lex = self.lex
        if lex.val != "##":
            raise lex.error("junk after '##' at start of documentation comment")
        info = lex.info
        doc = parse_doc(info, self._doc_line)
        lex.accept()
        return doc

    def _doc_line(self) -> DocLine | None:
        """The next line of the doc block being read; None at its closing ``##``."""
        lex = self.lex
        lex.accept(skip_comment=False)
        if lex.tok != _COMMENT:
            raise lex.error("documentation comment must end with '##'")
        text = lex.val
        assert isinstance(text, str)
        col = lex.col()
        if text.startswith("##"):
            if text != "##":
                raise lex.error("junk after '##' at end of documentation comment")
            return None
        if text == "#":
            return DocLine("", lex.info, col)
        if text[1] != " ":
            raise lex.error("missing space after #")
        return DocLine(text[2:].rstrip(), lex.info, col)


def _reject_expr_doc(doc: Doc | None) -> None:
    if doc is not None and doc.symbol is not None:
        raise SchemaError(
            doc.info, f"documentation for '{doc.symbol}' is not followed by the definition"
        )


def _include(expr: dict[str, RawValue], info: SourceInfo) -> Include:
    if len(expr) != 1:
        raise SchemaError(info, "invalid 'include' directive")
    path = expr["include"]
    if not isinstance(path, str):
        raise SchemaError(info, "value of 'include' must be a string")
    return Include(path, info)


def _pragma(expr: dict[str, RawValue], info: SourceInfo) -> list[PragmaSetting]:
    if len(expr) != 1:
        raise SchemaError(info, "invalid 'pragma' directive")
    pragma = expr["pragma"]
    if not isinstance(pragma, dict):
        raise SchemaError(info, "value of 'pragma' must be an object")
    out: list[PragmaSetting] = []
    for name, value in pragma.items():
        if name == "doc-required":
            if not isinstance(value, bool):
                raise SchemaError(info, "pragma 'doc-required' must be boolean")
            out.append(PragmaSetting(name, value, info))
        elif name in _PRAGMA_LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SchemaError(info, f"pragma {name} must be a list of strings")
            out.append(PragmaSetting(name, tuple(str(v) for v in value), info))
        else:
            raise SchemaError(info, f"unknown pragma '{name}'")
    return out


def parse(text: str, *, info: SourceInfo) -> ParsedFile:
    """Parse one schema file.

    Args:
        text: the file's contents.
        info: position of the file's first line (carries the include chain).

    Raises:
        SchemaError: a lexical, syntax or doc-block error.
    """
    return _Parser(text, info).parse()
