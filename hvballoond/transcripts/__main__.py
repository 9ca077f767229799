"""``python -m hvballoond.transcripts {replay,record,import-libvirt,import-sample} ...``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

_USAGE = (
    "usage: python -m hvballoond.transcripts {replay,record,import-libvirt,import-sample} ...\n"
)


_MODULES = {
    "replay": "replay",
    "record": "record",
    "import-libvirt": "import_libvirt",
    "import-sample": "import_sample",
}


def _command(name: str) -> Callable[..., int]:
    module = importlib.import_module(f"hvballoond.transcripts.{_MODULES[name]}")
    entry: Callable[..., int] = module.main
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the tool named by the first argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(_USAGE)
        return 0 if args else 2
    if args[0] not in _MODULES:
        sys.stderr.write(_USAGE + f"unknown tool {args[0]!r}\n")
        return 2
    return _command(args[0])(args[1:], prog=f"python -m hvballoond.transcripts {args[0]}")


if __name__ == "__main__":
    raise SystemExit(main())
