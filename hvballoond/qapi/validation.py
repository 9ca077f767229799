"""Argument validation with QEMU's messages, and structural checks of outgoing values.

This is QEMU's QObject input visitor (qapi/qobject-input-visitor.c, qapi-visit-core.c and
the visitors scripts/qapi/visit.py generates) over the schema's type tables, compiled
once per type into closures. Rules (qmp-protocol.md §6):

* members are visited in schema order (base, own, then the union branch); the first
  failure wins; keys left over are reported per object, after its members;
* an optional member given ``null`` is present and type-checked;
* messages name the value by its full path (``instances[0].id``), except enum and
  sized-integer errors, which use the bare member name, or ``null`` for list elements.

The ``key=value`` flavour (:func:`validate_keyval`) is QEMU's keyval visitor: every
scalar is a string converted to the expected type, lists are written ``key.N``, and
paths use ``.N`` for list elements (hmp.md §4.1).

No pydantic here: this runs for every request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache

from hvballoond.wire.values import JSONObject, JSONValue

__all__ = [
    "ArgumentError",
    "SchemaViolation",
    "Tables",
    "Validator",
    "check_value",
    "default_validator",
    "validate_arguments",
    "validate_keyval",
    "validate_value",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
_INT_MAX = 2**31 - 1

# (minimum, maximum, C type name for range errors); None: the full 64-bit type.
_SIGNED: Mapping[str, tuple[int, int, str | None]] = {
    "int": (INT64_MIN, INT64_MAX, None),
    "int64": (INT64_MIN, INT64_MAX, None),
    "int8": (-(2**7), 2**7 - 1, "int8_t"),
    "int16": (-(2**15), 2**15 - 1, "int16_t"),
    "int32": (-(2**31), 2**31 - 1, "int32_t"),
}
_UNSIGNED: Mapping[str, tuple[int, str | None]] = {
    "uint64": (UINT64_MAX, None),
    "size": (UINT64_MAX, None),
    "uint8": (2**8 - 1, "uint8_t"),
    "uint16": (2**16 - 1, "uint16_t"),
    "uint32": (2**32 - 1, "uint32_t"),
}
_OTHER_BUILTINS = frozenset({"str", "number", "bool", "null", "any"})

MISSING = "Parameter '{}' is missing"
UNEXPECTED = "Parameter '{}' is unexpected"
EXPECTED = "Invalid parameter type for '{}', expected: {}"


class ArgumentError(Exception):
    """Arguments do not match the schema; ``desc`` is QEMU's text (GenericError)."""

    def __init__(self, desc: str) -> None:
        super().__init__(desc)
        self.desc = desc


class SchemaViolation(Exception):
    """An outgoing value does not match the schema (a bug in hvballoond)."""


@dataclass(frozen=True, slots=True)
class Tables:
    """The schema as plain data, as the generator writes it (``generated/tables.py``).

    ``objects`` maps a type to its members ``(name, type, optional)`` in visiting order
    (base first), its tag member (unions) and variants ``(case, type)``. ``commands``
    maps a command to ``(argument type or None, gen)``; ``returns`` and ``events`` map
    commands and events to their return/data type (or None).
    """

    enums: Mapping[str, tuple[str, ...]]
    arrays: Mapping[str, str]
    objects: Mapping[
        str, tuple[tuple[tuple[str, str, bool], ...], str | None, tuple[tuple[str, str], ...]]
    ]
    alternates: Mapping[str, tuple[tuple[str, str], ...]]
    commands: Mapping[str, tuple[str | None, bool]]
    returns: Mapping[str, str | None] = field(default_factory=dict)
    events: Mapping[str, str | None] = field(default_factory=dict)


class _PathError(Exception):
    """A failure whose message names the value's full path, built while unwinding.

    ``parts`` are collected leaf first: member names and list indexes.
    """

    def __init__(self, template: str, *args: str) -> None:
        super().__init__(template)
        self.template = template
        self.args_ = args
        self.parts: list[str | int] = []

    @classmethod
    def at(cls, name: str, template: str) -> _PathError:
        """An error about member ``name`` of the object being visited."""
        err = cls(template)
        err.parts.append(name)
        return err

    def render(self, root: str | None, *, keyval: bool) -> str:
        # qobject-input-visitor.c full_name_nth()
        text = root or ""
        for part in reversed(self.parts):
            if isinstance(part, int):
                text += f".{part}" if keyval else f"[{part}]"
            else:
                text += "." + part
        if root is None:
            if text.startswith("."):
                text = text[1:]
            elif not text:
                text = "<anonymous>"
        return self.template.format(text, *self.args_)


_Visit = Callable[[JSONValue], JSONValue]
_MembersVisit = Callable[[JSONObject, JSONObject], None]

# C strtoll/strtoull with base 0: optional blanks and sign, then hex, octal or decimal.
_C_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")
_C_DOUBLE = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_TRUE_WORDS = frozenset({"on", "yes", "true", "y"})
_FALSE_WORDS = frozenset({"off", "no", "false", "n"})
_SIZE_SUFFIX = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def _parse_c_int(text: str) -> int | None:
    """The value of a C integer literal with optional sign (base 0), or None."""
    match = _C_INT.match(text)
    if match is None:
        return None
    sign, digits = match.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def parse_keyval_int(text: str) -> int | None:
    """qemu_strtoi64(text, NULL, 0): None when not an int64."""
    value = _parse_c_int(text)
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        return None
    return value


def parse_keyval_uint(text: str) -> int | None:
    """qemu_strtou64(text, NULL, 0): strtoull semantics, so "-1" wraps to 2^64-1."""
    value = _parse_c_int(text)
    if value is None or abs(value) > UINT64_MAX:
        return None
    return value & UINT64_MAX


def parse_keyval_size(text: str) -> int | None:
    """qemu_strtosz(text, NULL): a byte count with optional binary suffix, or None.

    Decimal or ``0x`` hex integers; decimal fractions need a suffix (``1.5M``); suffixes
    ``B K M G T P E`` (any case) are powers of 1024; no negative numbers, no exponents
    (util/cutils.c do_strtosz).
    """
    match = re.match(r"[ \t\n\v\f\r]*\+?", text)
    assert match is not None
    pos = match.end()
    if text[pos : pos + 1] == "-" or text.lstrip(" \t\n\v\f\r").startswith("-"):
        return None
    digits = re.match(r"[0-9]*", text[pos:])
    assert digits is not None
    int_part = digits.group(0)
    pos += len(int_part)
    rest = text[pos:]
    fraction = 0.0
    if int_part == "0" and rest[:1] in ("x", "X"):
        hexits = re.match(r"[0-9a-fA-F]+", rest[1:])
        if hexits is None:
            return None
        value = int(hexits.group(0), 16)
        rest = rest[1 + len(hexits.group(0)) :]
        if rest[:1] == "." or rest[:1].upper() in _SIZE_SUFFIX:
            return None
        return value if not rest and value <= UINT64_MAX else None
    if rest[:1] == "." or (not int_part and "." in rest):
        if int_part and not rest[1:2].isdigit():
            rest = rest[1:]
        else:
            frac = re.match(r"\.[0-9]*", rest)
            if frac is None or (frac.group(0) == "." and not int_part):
                return None
            fraction = float("0" + frac.group(0)) if frac.group(0) != "." else 0.0
            rest = rest[len(frac.group(0)) :]
    elif not int_part:
        return None
    value = int(int_part or "0")
    unit = rest[:1].upper()
    if unit in _SIZE_SUFFIX:
        rest = rest[1:]
        mul = 1024 ** _SIZE_SUFFIX[unit]
    else:
        mul = 1
    if rest:
        return None
    if fraction == 1.0:
        value += 1
        fraction = 0.0
    fixed = int(fraction * 2**64)
    if fixed == 0 and fraction > 0:
        fixed = 1
    if mul == 1:
        if fixed:
            return None
        result = value
    else:
        frac_total = fixed * mul
        # 64.64 fixed point times the multiplier, rounding 0.5 up.
        result = value * mul + (frac_total >> 64) + ((frac_total >> 63) & 1)
    return result if result <= UINT64_MAX else None


class Validator:
    """Compiled visitors over one schema's :class:`Tables`.

    Visitors are compiled on first use and kept; the compiled form depends only on the
    tables, so one validator serves every connection and VM.
    """

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self._commands: dict[str, Callable[[JSONObject], JSONObject]] = {}
        self._visitors: dict[tuple[str, str | None, bool], _Visit] = {}
        self._members: dict[tuple[str, bool], _MembersVisit] = {}

    # -- public API ----------------------------------------------------------------

    def validate_arguments(self, command: str, arguments: JSONObject) -> JSONObject:
        """Check a command's arguments; return them converted (see module docstring).

        Raises:
            KeyError: no such command.
            ArgumentError: the arguments do not match (QEMU's text in ``desc``).
        """
        plan = self._commands.get(command)
        if plan is None:
            plan = self._commands[command] = self._command_plan(command)
        return plan(arguments)

    def validate_value(
        self, type_name: str, value: JSONValue, *, name: str | None = None
    ) -> JSONValue:
        """Check ``value`` against a type (a schema type or builtin name).

        ``name`` is the value's own name in messages (QEMU visits ``qom-set`` values under
        the property name); None gives QEMU's ``<anonymous>``/``null``.
        """
        visit = self._visitor(type_name, name, keyval=False)
        try:
            return visit(value)
        except _PathError as err:
            raise ArgumentError(err.render(name, keyval=False)) from None

    def validate_keyval(self, type_name: str, values: Mapping[str, str]) -> JSONObject:
        """Check ``key=value`` input (keys may be dotted: ``host-nodes.0``) against an
        object type, converting each string to its member's type.

        Raises:
            ArgumentError: the input does not match (QEMU's keyval texts).
        """
        tree = _keyval_tree(values)
        visit = self._visitor(type_name, None, keyval=True)
        try:
            result = visit(tree)
        except _PathError as err:
            raise ArgumentError(err.render(None, keyval=True)) from None
        assert isinstance(result, dict)
        return result

    # -- compilation ---------------------------------------------------------------

    def _command_plan(self, command: str) -> Callable[[JSONObject], JSONObject]:
        arg_type, gen = self.tables.commands[command]
        if not gen:
            return _hand_checked
        if arg_type is None:
            return _no_arguments
        members = self._members_visitor(arg_type, keyval=False)

        def plan(arguments: JSONObject) -> JSONObject:
            out: JSONObject = {}
            try:
                members(arguments, out)
                if len(out) != len(arguments):
                    _reject_leftover(arguments, out)
            except _PathError as err:
                raise ArgumentError(err.render(None, keyval=False)) from None
            return out

        return plan

    def _visitor(self, type_name: str, bare: str | None, *, keyval: bool) -> _Visit:
        """A visitor for a value of ``type_name`` whose bare name is ``bare``."""
        key = (type_name, bare, keyval)
        found = self._visitors.get(key)
        if found is None:
            # Objects may be recursive: register a trampoline before compiling.
            cell: list[_Visit] = []

            def trampoline(value: JSONValue) -> JSONValue:
                return cell[0](value)

            self._visitors[key] = trampoline
            compiled = self._compile(type_name, bare, keyval=keyval)
            cell.append(compiled)
            self._visitors[key] = found = compiled
        return found

    def _compile(self, type_name: str, bare: str | None, *, keyval: bool) -> _Visit:
        t = self.tables
        shown = "null" if bare is None else bare
        if type_name in t.objects:
            return _object_visitor(self._members_visitor(type_name, keyval=keyval))
        if type_name in t.arrays:
            return _list_visitor(self._visitor(t.arrays[type_name], None, keyval=keyval))
        if type_name in t.enums:
            return _enum_visitor(frozenset(t.enums[type_name]), shown, keyval=keyval)
        if type_name in t.alternates:
            return self._alternate_visitor(type_name, bare, keyval=keyval)
        if keyval:
            return _keyval_scalar(type_name, shown)
        return _scalar(type_name, shown)

    def _members_visitor(self, type_name: str, *, keyval: bool) -> _MembersVisit:
        key = (type_name, keyval)
        found = self._members.get(key)
        if found is not None:
            return found
        members, tag, variants = self.tables.objects[type_name]
        plan: list[tuple[str, bool, _Visit]] = []

        def visit_members(value: JSONObject, out: JSONObject) -> None:
            for name, optional, visit in plan:
                if name in value:
                    try:
                        out[name] = visit(value[name])
                    except _PathError as err:
                        err.parts.append(name)
                        raise
                elif not optional:
                    raise _PathError.at(name, MISSING)
            if branches:
                case = out[tag]  # type: ignore[index]  # unions always have a tag
                branch = branches.get(case) if isinstance(case, str) else None
                if branch is not None:
                    branch(value, out)

        self._members[key] = visit_members
        for name, member_type, optional in members:
            plan.append((name, optional, self._visitor(member_type, name, keyval=keyval)))
        branches: dict[str, _MembersVisit] = {}
        for case, branch_type in variants:
            if self.tables.objects[branch_type][0] or self.tables.objects[branch_type][1]:
                branches[case] = self._members_visitor(branch_type, keyval=keyval)
        return visit_members

    def _alternate_visitor(self, type_name: str, bare: str | None, *, keyval: bool) -> _Visit:
        by_kind: dict[str, _Visit] = {}
        for _, branch_type in self.tables.alternates[type_name]:
            by_kind[self._json_kind(branch_type)] = self._visitor(branch_type, bare, keyval=keyval)
        shown = "null" if bare is None else bare
        desc = EXPECTED.format(shown, type_name)

        def visit(value: JSONValue) -> JSONValue:
            branch = by_kind.get(_kind_of(value))
            if branch is None:
                raise ArgumentError(desc)
            return branch(value)

        return visit

    def _json_kind(self, type_name: str) -> str:
        return _json_kind(self.tables, type_name)


def _json_kind(t: Tables, type_name: str) -> str:
    """The JSON kind an alternate branch type takes (scripts/qapi/schema.py)."""
    if type_name in t.objects:
        return "object"
    if type_name in t.arrays:
        return "array"
    if type_name in t.enums or type_name == "str":
        return "string"
    if type_name in _SIGNED or type_name in _UNSIGNED or type_name == "number":
        return "number"
    if type_name == "bool":
        return "boolean"
    if type_name == "null":
        return "null"
    raise KeyError(type_name)


def _kind_of(value: JSONValue) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _hand_checked(arguments: JSONObject) -> JSONObject:
    # qdev-monitor.c qmp_device_add(): only 'driver' is looked at before the device
    # takes the rest; a non-string driver reads as absent.
    if not isinstance(arguments.get("driver"), str):
        raise ArgumentError(MISSING.format("driver"))
    return dict(arguments)


def _no_arguments(arguments: JSONObject) -> JSONObject:
    if arguments:
        raise ArgumentError(UNEXPECTED.format(next(iter(arguments))))
    return {}


def _reject_leftover(value: JSONObject, out: JSONObject) -> None:
    for key in value:
        if key not in out:
            raise _PathError.at(key, UNEXPECTED)


def _object_visitor(members: _MembersVisit) -> _Visit:
    def visit(value: JSONValue) -> JSONValue:
        if type(value) is not dict:
            raise _PathError(EXPECTED, "object")
        out: JSONObject = {}
        members(value, out)
        if len(out) != len(value):
            _reject_leftover(value, out)
        return out

    return visit


def _list_visitor(element: _Visit) -> _Visit:
    def visit(value: JSONValue) -> JSONValue:
        if type(value) is not list:
            raise _PathError(EXPECTED, "array")
        out: list[JSONValue] = []
        for index, item in enumerate(value):
            try:
                out.append(element(item))
            except _PathError as err:
                err.parts.append(index)
                raise
        return out

    return visit


def _enum_visitor(values: frozenset[str], shown: str, *, keyval: bool) -> _Visit:
    get_str = _keyval_string if keyval else _qmp_string

    def visit(value: JSONValue) -> JSONValue:
        text = get_str(value)
        if text not in values:
            raise ArgumentError(f"Parameter '{shown}' does not accept value '{text}'")
        return text

    return visit


def _qmp_string(value: JSONValue) -> str:
    if type(value) is not str:
        raise _PathError(EXPECTED, "string")
    return value


def _keyval_string(value: JSONValue) -> str:
    # qobject_input_get_keyval(): keyval scalars are strings, containers are stray keys.
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        raise _PathError("Parameters '{}.*' are unexpected")
    raise _PathError("Internal error: parameter {} invalid")


def _scalar(type_name: str, shown: str) -> _Visit:
    """A QMP-mode visitor for a builtin type."""
    if type_name in _SIGNED:
        low, high, c_type = _SIGNED[type_name]
        range_desc = f"Parameter '{shown}' expects {c_type}"

        def visit_signed(value: JSONValue) -> JSONValue:
            if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
                raise _PathError(EXPECTED, "integer")
            if not low <= value <= high:
                raise ArgumentError(range_desc)
            return value

        return visit_signed
    if type_name in _UNSIGNED:
        high, c_type = _UNSIGNED[type_name]
        range_desc = f"Parameter '{shown}' expects {c_type}"

        def visit_unsigned(value: JSONValue) -> JSONValue:
            # Negative int64 values are taken modulo 2^64 (qobject_input_type_uint64).
            if type(value) is not int or not INT64_MIN <= value <= UINT64_MAX:
                raise _PathError("Parameter '{}' expects uint64")
            value &= UINT64_MAX
            if value > high:
                raise ArgumentError(range_desc)
            return value

        return visit_unsigned
    if type_name == "str":
        return _qmp_string
    if type_name == "bool":

        def visit_bool(value: JSONValue) -> JSONValue:
            if type(value) is not bool:
                raise _PathError(EXPECTED, "boolean")
            return value

        return visit_bool
    if type_name == "number":

        def visit_number(value: JSONValue) -> JSONValue:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _PathError(EXPECTED, "number")
            try:
                return float(value)
            except OverflowError:  # an integer beyond double range
                return float("inf") if value > 0 else float("-inf")

        return visit_number
    if type_name == "null":

        def visit_null(value: JSONValue) -> JSONValue:
            if value is not None:
                raise _PathError(EXPECTED, "null")
            return None

        return visit_null
    if type_name == "any":
        return _identity
    raise KeyError(type_name)


def _identity(value: JSONValue) -> JSONValue:
    return value


def _keyval_scalar(type_name: str, shown: str) -> _Visit:
    """A keyval-mode visitor for a builtin type: the value is a string to convert."""
    if type_name in _SIGNED:
        low, high, c_type = _SIGNED[type_name]

        def visit_signed(value: JSONValue) -> JSONValue:
            number = parse_keyval_int(_keyval_string(value))
            if number is None:
                raise _PathError("Parameter '{}' expects integer")
            if not low <= number <= high:
                raise ArgumentError(f"Parameter '{shown}' expects {c_type}")
            return number

        return visit_signed
    if type_name in _UNSIGNED:
        high, c_type = _UNSIGNED[type_name]
        parse = parse_keyval_size if type_name == "size" else parse_keyval_uint
        what = "size" if type_name == "size" else "integer"

        def visit_unsigned(value: JSONValue) -> JSONValue:
            number = parse(_keyval_string(value))
            if number is None:
                raise _PathError("Parameter '{}' expects " + what)
            if number > high:
                raise ArgumentError(f"Parameter '{shown}' expects {c_type}")
            return number

        return visit_unsigned
    if type_name == "str":
        return _keyval_string
    if type_name == "bool":

        def visit_bool(value: JSONValue) -> JSONValue:
            text = _keyval_string(value)
            if text in _TRUE_WORDS:
                return True
            if text in _FALSE_WORDS:
                return False
            raise _PathError("Parameter '{}' expects 'on' or 'off'")

        return visit_bool
    if type_name == "number":

        def visit_number(value: JSONValue) -> JSONValue:
            text = _keyval_string(value)
            if not _C_DOUBLE.match(text):
                raise _PathError(EXPECTED, "number")
            number = float(text)
            if number in (float("inf"), float("-inf")):
                raise _PathError(EXPECTED, "number")
            return number

        return visit_number
    if type_name == "null":

        def visit_null(value: JSONValue) -> JSONValue:
            raise _PathError(EXPECTED, "null")

        return visit_null
    if type_name == "any":
        return _identity
    raise KeyError(type_name)


def _keyval_tree(values: Mapping[str, str]) -> JSONObject:
    """Dotted keys -> nested objects and lists (util/keyval.c keyval_parse, listify)."""
    root: JSONObject = {}
    for key, text in values.items():
        fragments = key.split(".")
        cur = root
        for i, fragment in enumerate(fragments):
            last = i == len(fragments) - 1
            old = cur.get(fragment)
            if old is not None and isinstance(old, str) != last:
                prefix = ".".join(fragments[: i + 1])
                raise ArgumentError(f"Parameters '{prefix}.*' used inconsistently")
            if last:
                cur[fragment] = text
            else:
                if old is None:
                    old = cur[fragment] = {}
                assert isinstance(old, dict)
                cur = old
    result = _listify(root, [])
    if not isinstance(result, dict):
        raise ArgumentError(f"Invalid parameter '{next(iter(values))}'")
    return result


def _listify(cur: JSONObject, path: list[str]) -> JSONValue:
    has_index = has_member = False
    for key, value in cur.items():
        if key.isascii() and key.isdigit():
            has_index = True
        else:
            has_member = True
        if isinstance(value, dict):
            cur[key] = _listify(value, [*path, key])
    prefix = "".join(p + "." for p in path)
    if has_index and has_member:
        raise ArgumentError(f"Parameters '{prefix}*' used inconsistently")
    if not has_index:
        return cur
    size = len(cur)
    elements: dict[int, JSONValue] = {}
    for key, value in cur.items():
        index = min(int(key), _INT_MAX)
        if index < size:
            elements[index] = value
    highest = max(min(int(k), _INT_MAX) for k in cur)
    out: list[JSONValue] = []
    for i in range(min(size + 1, highest + 1)):
        if i not in elements:
            raise ArgumentError(f"Parameter '{prefix}{i}' missing")
        out.append(elements[i])
    return out


# -- structural checks of outgoing values --------------------------------------------


def check_value(
    type_name: str | None,
    value: JSONValue,
    *,
    what: str,
    check_order: bool = True,
    tables: Tables | None = None,
    max_items: int | None = None,
) -> None:
    """Check what pydantic does not: no member is ``null`` unless its type takes
    ``null``, and (``check_order``) object members are inserted in schema order (the
    wire encoder derives QEMU's printed order from it).

    ``max_items`` bounds how many elements of each array are checked (None: all), so that
    a sampling check of a reply listing thousands of entries stays cheap.

    Raises:
        SchemaViolation: with the path of the first problem.
    """
    t = tables if tables is not None else default_validator().tables
    if type_name is None:
        if value != {}:
            raise SchemaViolation(f"{what}: expected {{}}, got {value!r}")
        return
    _check(t, type_name, value, what, check_order=check_order, max_items=max_items)


def _check(
    t: Tables, type_name: str, value: JSONValue, path: str, *, check_order: bool,
    max_items: int | None = None,
) -> None:
    if type_name in t.arrays and isinstance(value, list):
        for i, item in enumerate(value[:max_items]):
            _check(t, t.arrays[type_name], item, f"{path}[{i}]", check_order=check_order,
                   max_items=max_items)
    elif type_name in t.alternates:
        kind = _kind_of(value)
        for _, branch in t.alternates[type_name]:
            if _json_kind(t, branch) == kind:
                _check(t, branch, value, path, check_order=check_order, max_items=max_items)
    elif type_name in t.objects and isinstance(value, dict):
        members = list(t.objects[type_name][0])
        tag = t.objects[type_name][1]
        if tag is not None:
            cases = dict(t.objects[type_name][2])
            case = cases.get(str(value.get(tag)))
            if case is not None:
                members += t.objects[case][0]
        order = [name for name, _, _ in members if name in value]
        given = [key for key in value if key in order]
        if check_order and order != given:
            raise SchemaViolation(f"{path}: members inserted as {given}, schema order is {order}")
        for name, member_type, _ in members:
            if name not in value:
                continue
            member_value = value[name]
            if (
                member_value is None
                and member_type not in ("null", "any")
                and not (
                    member_type in t.alternates
                    and any(b == "null" for _, b in t.alternates[member_type])
                )
            ):
                raise SchemaViolation(f"{path}.{name}: null for a member of type {member_type}")
            _check(t, member_type, member_value, f"{path}.{name}", check_order=check_order,
                   max_items=max_items)


# -- the schema's own validator --------------------------------------------------------


@cache
def default_validator() -> Validator:
    """The validator of hvballoond's schema (``hvballoond.qapi.generated.tables``)."""
    from hvballoond.qapi.generated import tables

    return Validator(
        Tables(
            enums=tables.ENUMS,
            arrays=tables.ARRAYS,
            objects=tables.OBJECTS,
            alternates=tables.ALTERNATES,
            commands=tables.COMMANDS,
            returns=tables.RETURNS,
            events=tables.EVENTS,
        )
    )


def validate_arguments(command: str, arguments: JSONObject) -> JSONObject:
    """Validate a command's arguments against hvballoond's schema.

    Returns a new object holding the members present, in schema order, converted:
    ``uint64``/``size`` negatives wrapped modulo 2^64, ``number`` as float. For
    ``gen: false`` commands (``device_add``) only ``driver`` is checked and every member
    is passed through.

    Raises:
        KeyError: no such command.
        ArgumentError: QEMU's message in ``desc``.
    """
    return default_validator().validate_arguments(command, arguments)


def validate_value(type_name: str, value: JSONValue, *, name: str | None = None) -> JSONValue:
    """Validate a value against a type of hvballoond's schema (e.g. ``ObjectOptions``).

    Raises:
        ArgumentError: QEMU's message in ``desc``.
    """
    return default_validator().validate_value(type_name, value, name=name)


def validate_keyval(type_name: str, values: Mapping[str, str]) -> JSONObject:
    """Validate ``key=value`` input against a type of hvballoond's schema.

    Raises:
        ArgumentError: QEMU's message in ``desc``.
    """
    return default_validator().validate_keyval(type_name, values)
