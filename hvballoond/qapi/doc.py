"""Doc comments: the block grammar of QEMU's QAPI doc comments and its sections.

A block is a run of ``#`` lines between two ``##`` lines. The parser in ``parser.py``
hands the block's lines to :func:`parse_doc` one at a time (so errors are reported at the
line that causes them, as scripts/qapi/parser.py does); this module turns them into a
:class:`Doc`. Checks that need the definition (members documented, ``Returns`` only for
commands that return something) are in ``check.py``.

Grammar (qapi-schema-language.md §9): a block whose first line is ``@NAME:`` documents the
definition that follows; its body paragraphs come first, then ``@member: text``
descriptions, then ``Features:`` and ``@feature: text``, then tagged sections
(``Returns:``, ``Errors:``, ``Since:``, ``TODO:``) and plain paragraphs in any order. Any
other block is free-form text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.source import SourceInfo

__all__ = ["Doc", "DocLine", "Section", "SectionKind", "parse_doc"]


class SectionKind(Enum):
    """What a doc section holds; the value is the word used in diagnostics."""

    PLAIN = "Plain"
    MEMBER = "Member"
    FEATURE = "Feature"
    RETURNS = "Returns"
    ERRORS = "Errors"
    SINCE = "Since"
    TODO = "Todo"


_TAGS = {
    "Returns": SectionKind.RETURNS,
    "Errors": SectionKind.ERRORS,
    "Since": SectionKind.SINCE,
    "TODO": SectionKind.TODO,
}

# "@name: text" at the start of a line (scripts/qapi/parser.py _match_at_name_colon).
_AT_NAME_COLON = re.compile(r"@([^:]*): *")
# A tagged section line; "Word::" is rST text, not a section.
_TAGGED = re.compile(r"(Returns|Errors|Since|Notes?|Examples?|TODO)(?!::): *")


@dataclass(frozen=True, slots=True)
class DocLine:
    """One line of a doc block with ``# `` removed and trailing blanks stripped.

    ``col`` is the column of the line's ``#`` (for ``FILE:LINE:COL`` diagnostics).
    """

    text: str
    info: SourceInfo
    col: int


@dataclass(frozen=True, slots=True)
class Section:
    """A part of a doc block. ``name`` is set for member and feature descriptions."""

    kind: SectionKind
    info: SourceInfo
    text: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Doc:
    """A parsed doc block.

    ``symbol`` is the documented definition's name, None for free-form blocks. ``sections``
    is every section in text order (the body first); ``lines`` every line of the block in
    order, blank ones included (used to find ``.. qmp-example::`` blocks).
    """

    info: SourceInfo
    symbol: str | None
    sections: tuple[Section, ...]
    lines: tuple[DocLine, ...]

    @property
    def body(self) -> Section:
        return self.sections[0]

    def members(self) -> dict[str, Section]:
        """Member descriptions by name, in text order."""
        return {s.name: s for s in self.sections if s.kind is SectionKind.MEMBER and s.name}

    def features(self) -> dict[str, Section]:
        """Feature descriptions by name, in text order."""
        return {s.name: s for s in self.sections if s.kind is SectionKind.FEATURE and s.name}

    def section(self, kind: SectionKind) -> Section | None:
        """The first section of ``kind``, if any."""
        return next((s for s in self.sections if s.kind is kind), None)


@dataclass(slots=True)
class _SectionText:
    """A section being read; ``text`` accumulates ``line + "\\n"`` as QEMU's does."""

    kind: SectionKind
    info: SourceInfo
    text: str = ""
    name: str | None = None


@dataclass(slots=True)
class _Builder:
    info: SourceInfo
    symbol: str | None
    sections: list[_SectionText] = field(default_factory=list)
    member_names: set[str] = field(default_factory=set)
    feature_names: set[str] = field(default_factory=set)
    tagged_seen: set[SectionKind] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.sections.append(_SectionText(SectionKind.PLAIN, self.info))

    def append_line(self, text: str) -> None:
        self.sections[-1].text += text + "\n"

    def ensure_untagged_section(self, info: SourceInfo) -> None:
        last = self.sections[-1]
        if last.kind is SectionKind.PLAIN:
            if not last.text:
                last.info = info  # empty so far: it starts here
            last.text += "\n"
            return
        self.sections.append(_SectionText(SectionKind.PLAIN, info))

    def new_tagged_section(self, info: SourceInfo, kind: SectionKind) -> None:
        if kind is not SectionKind.TODO:
            if kind in self.tagged_seen:
                raise SchemaError(info, f"duplicated '{kind.value}' section")
            self.tagged_seen.add(kind)
        self.sections.append(_SectionText(kind, info))

    def new_description(self, info: SourceInfo, name: str, kind: SectionKind) -> None:
        names = self.member_names if kind is SectionKind.MEMBER else self.feature_names
        if not name:
            raise SchemaError(info, "invalid parameter name")
        if name in names:
            raise SchemaError(info, f"'{name}' parameter name duplicated")
        names.add(name)
        self.sections.append(_SectionText(kind, info, name=name))

    def finish(self, lines: list[DocLine]) -> Doc:
        out: list[Section] = []
        for section in self.sections:
            text = section.text.strip("\n")
            if section.kind is not SectionKind.PLAIN and not text:
                raise SchemaError(section.info, f"text required after '{section.kind.value}:'")
            out.append(Section(section.kind, section.info, text, section.name))
        return Doc(self.info, self.symbol, tuple(out), tuple(lines))


class _Reader:
    """Pulls lines from the parser and remembers them."""

    def __init__(self, next_line: Callable[[], DocLine | None]) -> None:
        self._next_line = next_line
        self.lines: list[DocLine] = []
        self.current: DocLine | None = None

    def next(self) -> str | None:
        self.current = self._next_line()
        if self.current is None:
            return None
        self.lines.append(self.current)
        return self.current.text

    def info(self) -> SourceInfo:
        assert self.current is not None
        return self.current.info

    def error(self, msg: str) -> SchemaError:
        assert self.current is not None
        return SchemaError(self.current.info, msg, col=self.current.col)


def parse_doc(info: SourceInfo, next_line: Callable[[], DocLine | None]) -> Doc:
    """Parse one doc block.

    Args:
        info: position of the opening ``##`` line.
        next_line: returns the block's next line, or None at the closing ``##``.

    Raises:
        SchemaError: the block breaks the doc comment grammar.
    """
    reader = _Reader(next_line)
    line = reader.next()
    if line is not None and line.startswith("@"):
        if not line.endswith(":"):
            raise reader.error("line should end with ':'")
        symbol = line[1:-1]
        if not symbol:
            raise reader.error("name required after '@'")
        builder = _Builder(info, symbol)
        _parse_definition_doc(reader, builder)
    else:
        builder = _Builder(info, None)
        builder.ensure_untagged_section(info)
        first = True
        while line is not None:
            if match := _AT_NAME_COLON.match(line):
                raise reader.error(f"'@{match.group(1)}:' not allowed in free-form documentation")
            if line.startswith("=") and not first:
                raise reader.error("'=' heading must come first in a comment block")
            builder.append_line(line)
            line = reader.next()
            first = False
    return builder.finish(reader.lines)


def _parse_definition_doc(reader: _Reader, doc: _Builder) -> None:
    line = reader.next()
    no_more_args = False
    while line is not None:
        while line == "":
            line = reader.next()
        if line is None:
            break
        if line == "Features:":
            if doc.feature_names:
                raise reader.error("duplicated 'Features:' line")
            line = reader.next()
            while line == "":
                line = reader.next()
            while line is not None and (match := _AT_NAME_COLON.match(line)):
                doc.new_description(reader.info(), match.group(1), SectionKind.FEATURE)
                if text := line[match.end() :]:
                    doc.append_line(text)
                line = _indented(reader, doc)
            if not doc.feature_names:
                raise reader.error("feature descriptions expected")
            no_more_args = True
        elif match := _AT_NAME_COLON.match(line):
            if no_more_args:
                raise reader.error(f"description of '@{match.group(1)}:' follows a section")
            while line is not None and (match := _AT_NAME_COLON.match(line)):
                doc.new_description(reader.info(), match.group(1), SectionKind.MEMBER)
                if text := line[match.end() :]:
                    doc.append_line(text)
                line = _indented(reader, doc)
            no_more_args = True
        elif match := _TAGGED.match(line):
            word = match.group(1)
            # QEMU 10.0 rejects the pre-rST sections with these texts (parser.py get_doc).
            if "Note" in word:
                raise reader.error(
                    f"The '{word}' section is no longer supported. Please use rST's "
                    "'.. note::' or '.. admonition:: notes' directives, or another "
                    "suitable admonition instead."
                )
            if "Example" in word:
                raise reader.error(
                    f"The '{word}' section is no longer supported. Please use the "
                    "'.. qmp-example::' directive, or other suitable markup instead."
                )
            doc.new_tagged_section(reader.info(), _TAGS[word])
            if text := line[match.end() :]:
                doc.append_line(text)
            line = _indented(reader, doc)
            no_more_args = True
        elif line.startswith("="):
            raise reader.error("unexpected '=' markup in definition documentation")
        else:
            doc.ensure_untagged_section(reader.info())
            doc.append_line(line)
            line = _paragraph(reader, doc)


def _indented(reader: _Reader, doc: _Builder) -> str | None:
    """Continuation lines of a description or tagged section.

    The first non-blank continuation line fixes the indentation; a later non-blank line
    indented less ends the section after a blank line and is an error otherwise
    (qapi-schema-language.md §9.2). Returns the first line not consumed.
    """
    line = reader.next()
    while line == "":
        doc.append_line(line)
        line = reader.next()
    if line is None:
        return None
    indent = _indent_of(line)
    if not indent:
        return line
    doc.append_line(line)
    prev_blank = False
    while True:
        line = reader.next()
        if line is None:
            return None
        if _AT_NAME_COLON.match(line):
            return line
        cur = _indent_of(line)
        if line != "" and cur < indent:
            if prev_blank:
                return line
            raise reader.error(f"unexpected de-indent (expected at least {indent} spaces)")
        doc.append_line(line)
        prev_blank = line == ""


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _paragraph(reader: _Reader, doc: _Builder) -> str | None:
    """The rest of a plain paragraph, up to a blank line."""
    while True:
        line = reader.next()
        if line is None or line == "":
            return line
        doc.append_line(line)
