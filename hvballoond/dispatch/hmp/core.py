"""HMP basics: help, info listing, quit, and the identity ``info`` commands (hmp.md §3, §4.11)."""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.hmp.interpreter import help_text
from hvballoond.dispatch.hmp.registry import HMP_INFO, ArgKind, hmp_command, hmp_info
from hvballoond.dispatch.invoke import call_command

__all__: list[str] = []


@hmp_command("help|?", params="[cmd]", help="show the help", arg=ArgKind.PARAMS)
def help_(ctx: CommandContext, arg: str | int | None) -> str:
    raise AssertionError("help is interpreted by the HMP interpreter itself")


@hmp_command(
    "info", params="[subcommand]", help="show various information about the system state",
    arg=ArgKind.PARAMS,
)
def info(ctx: CommandContext, arg: str | int | None) -> str:
    return help_text(list({id(e): e for e in HMP_INFO.values()}.values()), "info ")


@hmp_command("quit|q", help="quit the emulator")
def quit_(ctx: CommandContext, arg: str | int | None) -> str:
    call_command(ctx, "quit")
    return ""


@hmp_info("version", help="show the version of QEMU")
def info_version(ctx: CommandContext, arg: str | int | None) -> str:
    version = ctx.vm.version
    qemu = version["qemu"]
    assert isinstance(qemu, dict)
    return f"{qemu['major']}.{qemu['minor']}.{qemu['micro']}{version['package']}\n"


@hmp_info("name", help="show the current VM name")
def info_name(ctx: CommandContext, arg: str | int | None) -> str:
    return "" if ctx.vm.name is None else f"{ctx.vm.name}\n"


@hmp_info("uuid", help="show the current VM UUID")
def info_uuid(ctx: CommandContext, arg: str | int | None) -> str:
    return f"{ctx.vm.uuid}\n"


@hmp_info("kvm", help="show KVM information")
def info_kvm(ctx: CommandContext, arg: str | int | None) -> str:
    if not ctx.vm.kvm_present:
        return "kvm support: not compiled\n"
    return f"kvm support: {'enabled' if ctx.vm.kvm_enabled else 'disabled'}\n"
