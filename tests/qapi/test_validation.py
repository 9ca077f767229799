"""Argument validation: QEMU's rules (qmp-protocol.md §6, hmp.md §4.1) case by case."""

from __future__ import annotations

import timeit
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.qapi.codegen import validation_tables
from hvballoond.qapi.compiler import compile_schema
from hvballoond.qapi.keyval import parse_keyval
from hvballoond.qapi.validation import (
    ArgumentError,
    Validator,
    parse_keyval_int,
    parse_keyval_size,
    parse_keyval_uint,
    validate_arguments,
    validate_keyval,
    validate_value,
)
from hvballoond.wire.values import JSONObject, JSONValue

CASES = Path(__file__).parent / "schema_cases"


def desc_of(command: str, arguments: JSONObject) -> str:
    with pytest.raises(ArgumentError) as err:
        validate_arguments(command, arguments)
    return err.value.desc


def ram(**extra: JSONValue) -> JSONObject:
    return {"qom-type": "memory-backend-ram", "id": "m0", "size": 1048576, **extra}


# -- results ----------------------------------------------------------------------------


def test_result_holds_present_members_in_schema_order() -> None:
    args: JSONObject = {
        "policy": "bind",
        "size": 4096,
        "id": "m0",
        "qom-type": "memory-backend-ram",
    }
    out = validate_arguments("object-add", args)
    assert list(out) == ["qom-type", "id", "policy", "size"]
    assert out is not args


def test_unsigned_negatives_wrap_modulo_2_64() -> None:
    assert validate_arguments("object-add", ram(size=-1))["size"] == 2**64 - 1
    assert validate_arguments("object-add", ram(size=-(2**63)))["size"] == 2**63


def test_unsigned_accepts_the_whole_uint64_range() -> None:
    assert validate_arguments("object-add", ram(size=2**64 - 1))["size"] == 2**64 - 1
    assert desc_of("object-add", ram(size=2**64)) == "Parameter 'size' expects uint64"
    assert desc_of("object-add", ram(size=-(2**63) - 1)) == "Parameter 'size' expects uint64"


def test_int_accepts_exactly_int64() -> None:
    assert validate_arguments("balloon", {"value": 2**63 - 1}) == {"value": 2**63 - 1}
    assert validate_arguments("balloon", {"value": -(2**63)}) == {"value": -(2**63)}
    bads: list[JSONValue] = [2**63, -(2**63) - 1, 1.0, 1e3, True, "1", None, [1], {}]
    for bad in bads:
        assert desc_of("balloon", {"value": bad}) == (
            "Invalid parameter type for 'value', expected: integer"
        )


def test_number_takes_integers_and_floats_as_float() -> None:
    assert validate_arguments("x-hvb-advance-clock", {"seconds": 2}) == {"seconds": 2.0}
    assert validate_arguments("x-hvb-advance-clock", {"seconds": 0.5}) == {"seconds": 0.5}
    out = validate_arguments("x-hvb-advance-clock", {"seconds": 2**64})
    assert out == {"seconds": float(2**64)}
    for bad in (True, "1", None):
        assert desc_of("x-hvb-advance-clock", {"seconds": bad}) == (
            "Invalid parameter type for 'seconds', expected: number"
        )


def test_any_takes_anything() -> None:
    value: JSONValue = {"nested": [1, None, "x"]}
    args = {"path": "/machine", "property": "p", "value": value}
    assert validate_arguments("qom-set", args)["value"] == value


def test_optional_member_given_null_is_present_and_checked() -> None:
    assert desc_of("qom-list-types", {"implements": None}) == (
        "Invalid parameter type for 'implements', expected: string"
    )


def test_commands_without_arguments_reject_any() -> None:
    assert validate_arguments("query-status", {}) == {}
    assert desc_of("query-status", {"b": 1, "a": 2}) == "Parameter 'b' is unexpected"


def test_unknown_command_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        validate_arguments("no-such-command", {})


def test_device_add_passes_everything_through() -> None:
    args: JSONObject = {"driver": "pc-dimm", "id": 5, "memdev": "m", "slot": "x"}
    out = validate_arguments("device_add", args)
    assert out == args and out is not args
    assert desc_of("device_add", {"driver": ["pc-dimm"]}) == "Parameter 'driver' is missing"


# -- order and paths ----------------------------------------------------------------------


def test_first_failing_member_in_schema_order_wins() -> None:
    # 'size' comes after 'policy' in MemoryBackendProperties.
    args = ram(policy="bogus", size="x")
    assert desc_of("object-add", args) == "Parameter 'policy' does not accept value 'bogus'"


def test_missing_member_is_reported_before_leftovers() -> None:
    assert desc_of("balloon", {"valu": 1}) == "Parameter 'value' is missing"


def test_nested_leftover_is_reported_when_its_object_ends() -> None:
    # instances[0] has a stray key; instances[1] is missing its id: [0] is finished first.
    args: JSONObject = {"instances": [{"type": "chardev", "id": "a", "x": 1}, {"type": "chardev"}]}
    assert desc_of("yank", args) == "Parameter 'instances[0].x' is unexpected"


def test_union_branch_members_come_after_the_base() -> None:
    assert desc_of("object-add", {"qom-type": "memory-backend-file", "id": 1}) == (
        "Invalid parameter type for 'id', expected: string"
    )
    args: JSONObject = {"qom-type": "memory-backend-file", "id": "f", "size": 1}
    assert desc_of("object-add", args) == "Parameter 'mem-path' is missing"


def test_union_branch_without_members_takes_only_the_base() -> None:
    assert validate_arguments("yank", {"instances": [{"type": "migration"}]}) == {
        "instances": [{"type": "migration"}]
    }


def test_enum_and_small_integers_use_the_bare_name() -> None:
    args: JSONObject = {"instances": [{"type": "chardev", "id": "a"}, {"type": "nope"}]}
    assert desc_of("yank", args) == "Parameter 'type' does not accept value 'nope'"
    nodes: JSONValue = [1, 2**16]
    assert desc_of("object-add", ram(**{"host-nodes": nodes})) == (
        "Parameter 'null' expects uint16_t"
    )
    assert desc_of("object-add", ram(**{"prealloc-threads": 2**32})) == (
        "Parameter 'prealloc-threads' expects uint32_t"
    )


def test_list_elements_use_index_paths() -> None:
    nodes: JSONValue = [1, "2"]
    assert desc_of("object-add", ram(**{"host-nodes": nodes})) == (
        "Parameter 'host-nodes[1]' expects uint64"
    )


def test_validate_value_names_the_root() -> None:
    with pytest.raises(ArgumentError) as err:
        validate_value("bool", "x", name="merge")
    assert err.value.desc == "Invalid parameter type for 'merge', expected: boolean"
    with pytest.raises(ArgumentError) as err:
        validate_value("ObjectOptions", [])
    assert err.value.desc == "Invalid parameter type for '<anonymous>', expected: object"
    with pytest.raises(ArgumentError) as err:
        validate_value("HostMemPolicy", "x")
    assert err.value.desc == "Parameter 'null' does not accept value 'x'"
    with pytest.raises(ArgumentError) as err:
        validate_value("uint16List", ["x"])
    assert err.value.desc == "Parameter '[0]' expects uint64"
    assert validate_value("ObjectOptions", ram()) == ram()


# -- alternates (the worked example of introspection.md has one) ---------------------------


@pytest.fixture(scope="module")
def worked() -> Validator:
    schema = compile_schema(CASES / "introspect-worked-example.json")
    return Validator(validation_tables(schema))


def test_alternate_dispatches_on_json_type(worked: Validator) -> None:
    base: JSONObject = {"qom-type": "a", "id": "i"}
    assert worked.validate_arguments("object-add", {**base, "x": "s"})["x"] == "s"
    assert worked.validate_arguments("object-add", {**base, "x": None})["x"] is None
    with pytest.raises(ArgumentError) as err:
        worked.validate_arguments("object-add", {**base, "x": 5})
    assert err.value.desc == "Invalid parameter type for 'x', expected: StrOrNull"


def test_missing_alternate_member(worked: Validator) -> None:
    with pytest.raises(ArgumentError) as err:
        worked.validate_arguments("object-add", {"qom-type": "a", "id": "i"})
    assert err.value.desc == "Parameter 'x' is missing"


def test_empty_branches_of_the_worked_example(worked: Validator) -> None:
    assert worked.validate_arguments("object-add", {"qom-type": "b", "id": "i"}) == {
        "qom-type": "b",
        "id": "i",
    }


# -- keyval -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("512", 512),
        ("1k", 1024),
        ("2K", 2048),
        ("1M", 1048576),
        ("1.5M", 1572864),
        ("1.M", 1048576),
        (".5M", 524288),
        ("1G", 2**30),
        ("1T", 2**40),
        ("1P", 2**50),
        ("1E", 2**60),
        ("15E", 15 * 2**60),
        ("1b", 1),
        ("0x100000", 1048576),
        ("0X1f", 31),
        ("0x1b", 27),
        (" 12", 12),
        ("+12", 12),
        ("1.", 1),
        ("18446744073709551615", 2**64 - 1),
    ],
)
def test_size_syntax(text: str, value: int) -> None:
    assert parse_keyval_size(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "-1",
        "-0",
        "1.5",
        "1MiB",
        "1e3",
        "16E",
        "0x",
        "0x1M",
        "0x1.8",
        "12 ",
        ".M",
        "18446744073709551616",
        "1.5Q",
        "1,5M",
        "- 1",
    ],
)
def test_size_syntax_errors(text: str) -> None:
    assert parse_keyval_size(text) is None


def test_keyval_integers_follow_strtoll_base_0() -> None:
    assert parse_keyval_int("0x10") == 16
    assert parse_keyval_int("010") == 8
    assert parse_keyval_int("-5") == -5
    assert parse_keyval_int("08") is None
    assert parse_keyval_int("9223372036854775808") is None
    assert parse_keyval_uint("-1") == 2**64 - 1
    assert parse_keyval_uint("18446744073709551616") is None


def test_keyval_nested_objects_and_lists() -> None:
    out = validate_keyval(
        "ObjectOptions",
        {
            "qom-type": "memory-backend-ram",
            "id": "m",
            "size": "1M",
            "host-nodes.1": "3",
            "host-nodes.0": "2",
        },
    )
    assert out["host-nodes"] == [2, 3]


@pytest.mark.parametrize(
    ("values", "desc"),
    [
        ({"size": "1M", "size.x": "1"}, "Parameters 'size.*' used inconsistently"),
        ({"size.x": "1", "size": "1M"}, "Parameters 'size.*' used inconsistently"),
        ({"host-nodes.0": "1", "host-nodes.2": "1"}, "Parameter 'host-nodes.1' missing"),
        ({"size": "1M", "host-nodes.0.x": "1"}, "Parameters 'host-nodes.0.*' are unexpected"),
        ({"size": "1M", "prealloc": "maybe"}, "Parameter 'prealloc' expects 'on' or 'off'"),
        ({"size": "1M", "policy.x": "1"}, "Parameters 'policy.*' are unexpected"),
        ({"size": "1M", "id.x": "1"}, "Parameters 'id.*' used inconsistently"),
    ],
)
def test_keyval_errors(values: dict[str, str], desc: str) -> None:
    with pytest.raises(ArgumentError) as err:
        validate_keyval("ObjectOptions", {"qom-type": "memory-backend-ram", "id": "m", **values})
    assert err.value.desc == desc


def test_keyval_number_member() -> None:
    base = {"qom-type": "hvb-guest", "id": "g"}
    assert validate_keyval("ObjectOptions", {**base, "connect-delay": "2.5"}) == {
        **base,
        "connect-delay": 2.5,
    }
    with pytest.raises(ArgumentError) as err:
        validate_keyval("ObjectOptions", {**base, "connect-delay": "soon"})
    assert err.value.desc == "Invalid parameter type for 'connect-delay', expected: number"


# -- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
member_names = st.sampled_from(
    ["qom-type", "id", "size", "host-nodes", "policy", "share", "mem-path", "x"]
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.dictionaries(member_names, json_values, max_size=6))
def test_object_add_either_validates_or_raises_argument_error(args: JSONObject) -> None:
    try:
        out = validate_arguments("object-add", args)
    except ArgumentError as err:
        assert err.desc
    else:
        assert set(out) <= set(args)
        assert validate_arguments("object-add", out) == out  # idempotent


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(["", "K", "m", "G"]))
def test_size_suffixes_scale_by_powers_of_1024(number: int, suffix: str) -> None:
    scale = {"": 1, "K": 1024, "m": 2**20, "G": 2**30}[suffix]
    expected = number * scale if number * scale < 2**64 else None
    assert parse_keyval_size(f"{number}{suffix}") == expected


# -- speed --------------------------------------------------------------------------------


def _best_seconds(command: str, arguments: JSONObject) -> float:
    validate_arguments(command, arguments)  # compile first
    number = 2000
    runs = timeit.repeat(lambda: validate_arguments(command, arguments), number=number, repeat=5)
    return min(runs) / number


def test_validation_is_fast() -> None:
    # Budgets from the task: < 3 us for an empty argument set, < 10 us for balloon.
    assert _best_seconds("query-status", {}) < 3e-6
    assert _best_seconds("balloon", {"value": 536870912}) < 10e-6


# -- key=value text -----------------------------------------------------------------------


def test_parse_keyval_splits_pairs() -> None:
    assert parse_keyval("memory-backend-ram,id=m,size=1M,,x", implied_key="qom-type") == (
        {"qom-type": "memory-backend-ram", "id": "m", "size": "1M,x"},
        False,
    )
    assert parse_keyval("id=a,host-nodes.0=1,id=b,") == ({"id": "b", "host-nodes.0": "1"}, False)
    assert parse_keyval("pc-dimm,help", implied_key="driver") == ({"driver": "pc-dimm"}, True)
    assert parse_keyval("") == ({}, False)


@pytest.mark.parametrize(
    ("text", "desc"),
    [
        ("memory-backend-ram,id=m", "Expected '=' after parameter 'memory-backend-ram'"),
        ("id=m,size", "Expected '=' after parameter 'size'"),
        ("a b=1", "Invalid parameter 'a b'"),
        ("=1", "Invalid parameter ''"),
        (",a=1", "Invalid parameter ''"),
        ("0=1", "Invalid parameter '0'"),
        ("a.0x=1", "Invalid parameter 'a.0x'"),
        ("a" * 128 + "=1", "Parameter '" + "a" * 128 + "' is too long"),
        ("b." + "a" * 128 + "=1", "Parameter fragment '" + "a" * 128 + "' is too long"),
    ],
)
def test_parse_keyval_errors(text: str, desc: str) -> None:
    with pytest.raises(ArgumentError) as err:
        parse_keyval(text)
    assert err.value.desc == desc
