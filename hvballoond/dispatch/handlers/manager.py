"""What management stacks ask a running VM besides memory (schema/manager.json).

libvirt sends these at every domain start and reconnect (docs/libvirt.md); an error in any of
them makes it give up on the domain. hvballoond has no migration, block layer, jobs or I/O
threads, so apart from the migration capabilities (state kept per machine, checked as
migration/options.c ``migrate_caps_check`` does) and the character devices (the machine's
``/chardevs``, see :mod:`hvballoond.machine.chardev`), the answers are QEMU's for a machine
without any.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.machine.chardev import Chardevs
from hvballoond.qmp.errors import QmpError
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["MIGRATION_CAPABILITIES", "MigrationCapabilities"]

#: MigrationCapability in schema order (query-migrate-capabilities lists them so).
MIGRATION_CAPABILITIES: Final = (
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "events", "postcopy-ram",
    "x-colo", "release-ram", "return-path", "pause-before-switchover", "multifd",
    "dirty-bitmaps", "postcopy-blocktime", "late-block-activate", "x-ignore-shared",
    "validate-uuid", "background-snapshot", "zero-copy-send", "postcopy-preempt",
    "switchover-ack", "dirty-limit", "mapped-ram",
)  # fmt: skip

# migration/options.c check_caps_background_snapshot, in QEMU's checking order.
_BACKGROUND_SNAPSHOT_CONFLICTS: Final = (
    "postcopy-ram", "dirty-bitmaps", "postcopy-blocktime", "late-block-activate",
    "return-path", "multifd", "pause-before-switchover", "auto-converge", "release-ram",
    "rdma-pin-all", "xbzrle", "x-colo", "validate-uuid", "zero-copy-send",
)  # fmt: skip


class MigrationCapabilities:
    """The migration capabilities of one machine (a machine component), all off at start."""

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self.state: dict[str, bool] = dict.fromkeys(MIGRATION_CAPABILITIES, False)

    def check(self, new: dict[str, bool]) -> str | None:
        """Why the combination ``new`` is refused (QEMU's message), or None.

        The checks that depend on the host or on an incoming migration (post-copy support,
        userfaultfd write tracking for background-snapshot) pass: hvballoond never
        migrates. QEMU's x86_64 build has the replication module, so x-colo is accepted.
        """
        if new["postcopy-ram"]:
            if new["x-ignore-shared"]:
                return "Postcopy is not compatible with ignore-shared"
            if new["multifd"]:
                return "Postcopy is not yet compatible with multifd"
        if new["background-snapshot"]:
            for other in _BACKGROUND_SNAPSHOT_CONFLICTS:
                if new[other]:
                    return f"Background-snapshot is not compatible with {other}"
        # Neither multifd compression nor TLS can be configured here.
        if new["zero-copy-send"] and (not new["multifd"] or new["xbzrle"]):
            return "Zero copy only available for non-compressed non-TLS multifd migration"
        if new["postcopy-preempt"] and not new["postcopy-ram"]:
            return "Postcopy preempt requires postcopy-ram"
        if new["switchover-ack"] and not new["return-path"]:
            return "Capability 'switchover-ack' requires capability 'return-path'"
        if new["dirty-limit"]:
            if new["auto-converge"]:
                return ("dirty-limit conflicts with auto-converge either of then available "
                        "currently")
            # Needs the KVM dirty ring (-accel kvm,dirty-ring-size=N), never configured here.
            return "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set"
        if new["multifd"] and new["xbzrle"]:
            return "Multifd is not compatible with xbzrle"
        if new["mapped-ram"]:
            if new["xbzrle"]:
                return "Mapped-ram migration is incompatible with xbzrle"
            if new["postcopy-ram"]:
                return "Mapped-ram migration is incompatible with postcopy"
        return None


@command("query-migrate-capabilities")
def query_migrate_capabilities(ctx: CommandContext, args: JSONObject) -> JSONValue:
    caps = ctx.machine.component(MigrationCapabilities)
    return [{"capability": name, "state": state} for name, state in caps.state.items()]


@command("migrate-set-capabilities")
def migrate_set_capabilities(ctx: CommandContext, args: JSONObject) -> JSONValue:
    caps = ctx.machine.component(MigrationCapabilities)
    wanted = args["capabilities"]
    assert isinstance(wanted, list)
    new = dict(caps.state)
    changes: list[tuple[str, bool]] = []
    for item in wanted:
        assert isinstance(item, dict)
        name, state = item["capability"], item["state"]
        assert isinstance(name, str) and isinstance(state, bool)
        new[name] = state
        changes.append((name, state))
    problem = caps.check(new)
    if problem is not None:
        raise QmpError(problem)
    # qmp_migrate_set_capabilities applies the list in order (the last entry for a
    # capability wins), exactly as the combination was checked.
    for name, state in changes:
        caps.state[name] = state
    return {}


@command("query-chardev")
def query_chardev(ctx: CommandContext, args: JSONObject) -> JSONValue:
    # chardev/char.c qmp_query_chardev: every chardev, monitors' included, in /chardevs order;
    # the filename is its backend's (the runtime's live side), frontend-open its user's.
    out: list[JSONValue] = []
    for chardev in ctx.machine.component(Chardevs).in_query_order():
        out.append({"label": chardev.label, "filename": chardev.status.filename(),
                    "frontend-open": chardev.frontend_open})
    return out


@command("query-iothreads")
def query_iothreads(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return []  # no -object iothread type exists here


@command("query-jobs")
def query_jobs(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return []


@command("query-block")
def query_block(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return []  # -drive/-blockdev are accepted and ignored: there is no block layer


@command("query-named-block-nodes")
def query_named_block_nodes(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return []
