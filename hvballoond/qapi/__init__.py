"""hvballoond's QAPI schema compiler and its run-time support.

Build time (no pydantic): ``loader`` (the only file I/O) -> ``parser`` (text -> items,
``doc`` for doc comments) -> ``expr`` (per-definition rules) -> ``check`` (names,
semantics -> ``ir.Schema``) -> ``codegen`` (Python sources, with ``introspect`` for
query-qmp-schema); ``compiler.compile_schema`` chains them and ``python -m
hvballoond.qapi`` writes ``generated/``. ``examples.iter_examples`` pulls the
``.. qmp-example::`` blocks out of the doc comments.

Run time: ``validation`` checks command arguments with QEMU's messages (no pydantic);
``runtime`` holds what the generated models and tables need, and the checks of outgoing
values the tests use.

Importing this package imports nothing else.
"""
