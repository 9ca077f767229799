"""The schema parser and loader as pure functions over text."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvballoond.qapi.doc import SectionKind
from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.loader import load_schema
from hvballoond.qapi.parser import Include, PragmaSetting, RawExpr, parse
from hvballoond.qapi.source import SourceInfo

INFO = SourceInfo("t.json", 1)


def error_of(text: str) -> str:
    with pytest.raises(SchemaError) as err:
        parse(text, info=INFO)
    return str(err.value)


def test_values_and_member_order() -> None:
    parsed = parse(
        "# comment\n{ 'struct': 'Foo', # inside\n  'data': { 'b': ['int'], 'a': 'str' },\n"
        "  'x': [ true, false, {} ] }",  # no final newline
        info=INFO,
    )
    (item,) = parsed.items
    assert isinstance(item, RawExpr)
    assert item.value == {
        "struct": "Foo",
        "data": {"b": ["int"], "a": "str"},
        "x": [True, False, {}],
    }
    assert list(item.value["data"]) == ["b", "a"]  # type: ignore[arg-type]
    assert item.info.line == 2


def test_empty_file() -> None:
    assert parse("", info=INFO).items == ()


def test_backslash_escape() -> None:
    (item,) = parse("{ 'command': 'a\\\\b' }\n", info=INFO).items
    assert isinstance(item, RawExpr) and item.value["command"] == "a\\b"


def test_columns_count_tabs_like_qemu() -> None:
    # QEMU's odd rule (scripts/qapi/parser.py): a tab sets col = (col + 7) % 8 + 1,
    # which takes a leading tab back to column 1.
    assert error_of("\t{ 'a': x }") == "t.json:1:8: stray 'x'"
    assert error_of("  \t{ 'a': x }") == "t.json:1:10: stray 'x'"
    assert error_of("  {\n  'a' 'b' }") == "t.json:2:7: expected ':'"


def test_true_is_a_keyword_even_inside_a_word() -> None:
    assert error_of("{ 'a': truex }") == "t.json:1:12: stray 'x'"


def test_directives_are_returned_as_items() -> None:
    parsed = parse(
        "{ 'include': 'x.json' }\n"
        "{ 'pragma': { 'doc-required': true, 'member-name-exceptions': [ 'A' ] } }\n",
        info=INFO,
    )
    include, pragma1, pragma2 = parsed.items
    assert include == Include("x.json", SourceInfo("t.json", 1))
    assert isinstance(pragma1, PragmaSetting) and pragma1.value is True
    assert isinstance(pragma2, PragmaSetting) and pragma2.value == ("A",)


def test_doc_blocks_attach_to_the_following_definition() -> None:
    parsed = parse(
        "##\n# = Title\n##\n\n##\n# @foo:\n#\n# Body.\n#\n\n# @a: member\n#\n# Since: 1.0\n##\n"
        "{ 'command': 'foo', 'data': { 'a': 'int' } }\n",
        info=INFO,
    )
    freeform, doc = parsed.docs
    assert freeform.symbol is None and freeform.body.text == "= Title"
    (item,) = parsed.items
    assert isinstance(item, RawExpr) and item.doc is doc
    assert doc.symbol == "foo"
    # A line without '#' inside a block is skipped, as QEMU's lexer does.
    assert [s.kind for s in doc.sections] == [
        SectionKind.PLAIN,
        SectionKind.MEMBER,
        SectionKind.SINCE,
    ]
    assert doc.members()["a"].text == "member"
    assert doc.section(SectionKind.SINCE) is not None
    assert [line.info.line for line in doc.lines][:5] == [6, 7, 8, 9, 11]


def test_rst_double_colon_is_not_a_section() -> None:
    text = "##\n# @foo:\n#\n# Example::\n#\n#   text\n##\n{ 'command': 'foo' }\n"
    parsed = parse(text, info=INFO)
    assert [s.kind for s in parsed.docs[0].sections] == [SectionKind.PLAIN]


def _files(tree: dict[str, str]) -> tuple[Path, object]:
    def read(path: Path) -> str:
        try:
            return tree[path.as_posix()]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory") from None

    return Path("root/main.json"), read


def test_loader_expands_includes_in_place_once() -> None:
    tree = {
        "root/main.json": "{ 'include': 'a.json' }\n{ 'command': 'm' }\n"
        "{ 'include': 'sub/b.json' }\n{ 'include': 'a.json' }\n",
        "root/a.json": "{ 'command': 'a' }\n",
        "root/sub/b.json": "{ 'include': 'c.json' }\n{ 'command': 'b' }\n"
        "{ 'pragma': { 'doc-required': false } }\n",
        "root/sub/c.json": "{ 'command': 'c' }\n",
    }

    def read(path: Path) -> str:
        return tree[path.as_posix()]

    loaded = load_schema(Path("root/main.json"), display_name="main.json", read_text=read)
    assert [e.value["command"] for e in loaded.exprs] == ["a", "m", "c", "b"]
    assert loaded.modules == ("main.json", "a.json", "sub/b.json", "sub/c.json")
    c = loaded.exprs[2]
    assert c.info.loc() == "sub/c.json:1"
    assert str(c.info).startswith("In file included from main.json:3:\n")
    assert c.info.parent is not None and c.info.parent.loc() == "sub/b.json:1"
    assert loaded.pragmas.doc_required is False


def test_loader_reports_unreadable_includes_at_the_directive() -> None:
    def read(path: Path) -> str:
        if path.name == "main.json":
            return "\n{ 'include': 'gone.json' }\n"
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(SchemaError) as err:
        load_schema(Path("main.json"), read_text=read)
    assert str(err.value) == (
        "main.json:2: can't read include file 'gone.json': No such file or directory"
    )
