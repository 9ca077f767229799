"""A stable text form of a checked schema, for the golden ``.out`` files."""

from __future__ import annotations

from hvballoond.qapi import ir
from hvballoond.qapi.doc import Doc
from hvballoond.qapi.examples import examples_of


def _features(features: tuple[str, ...]) -> str:
    return f" features={','.join(features)}" if features else ""


def _doc(doc: Doc | None, out: list[str]) -> None:
    if doc is None:
        return
    out.append(f"    doc symbol={doc.symbol} line={doc.info.line}")
    for section in doc.sections:
        name = f" {section.name}" if section.name else ""
        text = section.text.replace("\n", "\\n")
        out.append(f"        section {section.kind.value}{name}: {text}")
    for example in examples_of(doc):
        title = f" title={example.title!r}" if example.title else ""
        flags = " annotated" if example.annotated else ""
        out.append(f"        example line={example.info.line}{title}{flags}")
        for message in example.messages:
            shown = "partial" if message.partial else "json"
            out.append(f"            {message.direction.value} {shown} {message.text!r}")


def _object(t: ir.ObjectType, out: list[str]) -> None:
    base = f" base={t.base}" if t.base else ""
    implicit = " implicit" if t.implicit else ""
    out.append(f"object {t.name}{base}{implicit}{_features(t.features)}")
    for m in t.members:
        optional = " optional" if m.optional else ""
        out.append(f"    member {m.name}: {m.type}{optional}{_features(m.features)}")
    if t.branches is not None:
        out.append(f"    tag {t.branches.tag}")
        for v in t.branches.variants:
            out.append(f"    case {v.name}: {v.type}")


def dump_schema(schema: ir.Schema) -> str:
    """Modules, definitions (implicit argument types just before their command or
    event), the arrays the schema uses, and doc comments with their examples."""
    out = [f"module {m}" for m in schema.modules]
    printed: set[str] = set()
    for d in schema.definitions:
        if isinstance(d, ir.Command | ir.Event):
            arg = d.arg_type
            if arg is not None and schema.object(arg).implicit and arg not in printed:
                printed.add(arg)
                _object(schema.object(arg), out)
            if isinstance(d, ir.Command):
                flags = [
                    name
                    for name, on in (
                        ("boxed", d.boxed),
                        ("allow-oob", d.allow_oob),
                        ("allow-preconfig", d.allow_preconfig),
                        ("coroutine", d.coroutine),
                        ("gen=false", not d.gen),
                        ("success-response=false", not d.success_response),
                    )
                    if on
                ]
                out.append(
                    f"command {d.name} {arg or '-'} -> {d.ret_type or '-'}"
                    + "".join(f" {f}" for f in flags)
                    + _features(d.features)
                )
            else:
                boxed = " boxed" if d.boxed else ""
                out.append(f"event {d.name} {arg or '-'}{boxed}{_features(d.features)}")
        elif isinstance(d, ir.EnumType):
            prefix = f" prefix={d.prefix}" if d.prefix else ""
            out.append(f"enum {d.name}{prefix}{_features(d.features)}")
            out += [f"    value {v.name}{_features(v.features)}" for v in d.values]
        elif isinstance(d, ir.ObjectType):
            if d.base is not None and schema.object(d.base).implicit:
                _object(schema.object(d.base), out)
            _object(d, out)
        else:
            out.append(f"alternate {d.name}{_features(d.features)}")
            out += [f"    case {v.name}: {v.type}" for v in d.variants]
        _doc(d.doc, out)
    arrays = sorted(
        f"array {t.name} {t.element}"
        for t in schema.types.values()
        if isinstance(t, ir.ArrayType)
        and t.element not in ir.INT_TYPES
        and t.element not in ("str", "number", "bool", "null", "any")
    )
    out += arrays
    for doc in schema.docs:
        if doc.symbol is None:
            out.append(f"freeform doc line={doc.info.line}")
            out.append("    " + doc.body.text.replace("\n", "\\n"))
    return "\n".join(out) + "\n"
