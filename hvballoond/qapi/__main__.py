"""``python -m hvballoond.qapi SCHEMA -o DIR``: compile a schema into Python modules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hvballoond.qapi.codegen import generate
from hvballoond.qapi.compiler import compile_schema
from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.introspect import build_introspection


def main(argv: list[str] | None = None) -> int:
    """Run the compiler; returns the exit status (1 on a schema error)."""
    parser = argparse.ArgumentParser(prog="python -m hvballoond.qapi", description=__doc__)
    parser.add_argument("schema", type=Path, help="root schema file")
    parser.add_argument("-o", "--output-dir", type=Path, help="write the modules here")
    parser.add_argument(
        "--source-name",
        help="how the generated headers name the schema (default: SCHEMA as given)",
    )
    parser.add_argument(
        "--unmask",
        action="store_true",
        help="print query-qmp-schema with real type names instead of numbers, then exit",
    )
    args = parser.parse_args(argv)
    source = args.source_name or args.schema.as_posix()
    try:
        schema = compile_schema(args.schema, display_name=args.schema.as_posix())
        if args.unmask:
            for entry in build_introspection(schema, unmask=True):
                print(json.dumps(entry))
            return 0
        files = generate(schema, source=source)
    except SchemaError as err:
        print(err, file=sys.stderr)
        return 1
    if args.output_dir is None:
        parser.error("-o/--output-dir is required unless --unmask is given")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = args.output_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
