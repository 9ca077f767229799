"""Random commands with random arguments never crash a handler, and the VM keeps answering.

Hypothesis drives sequences of schema commands whose arguments mix plausible names and values
(ids, sizes, drivers, QOM paths) with arbitrary JSON. Every reply must be a return or a
proper QMP error; an "internal error" reply means a handler raised something it should not.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvballoond.qapi.generated.specs import COMMANDS
from hvballoond.wire.values import JSONObject, JSONValue
from tests.machine.devices.rig import vm

# quit ends the process; the clock extension needs --virtual-clock plumbing.
SKIPPED = {"quit", "x-hvb-advance-clock"}
COMMAND_NAMES = sorted(set(COMMANDS) - SKIPPED)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                   max_size=3),
    max_leaves=6,
)
plausible: dict[str, st.SearchStrategy[JSONValue]] = {
    "id": st.sampled_from(["m0", "m1", "d0", "d1", "vm0", "rp1", "bal0", "nope", ""]),
    "qom-type": st.sampled_from(["memory-backend-ram", "memory-backend-file",
                                 "memory-backend-memfd", "bogus"]),
    "driver": st.sampled_from(["pc-dimm", "nvdimm", "virtio-mem-pci", "virtio-pmem-pci",
                               "virtio-balloon-pci", "pcie-root-port", "hv-balloon", "nope"]),
    "memdev": st.sampled_from(["m0", "m1", "/objects/m0", "nope"]),
    "bus": st.sampled_from(["rp1", "pcie.0", "nope"]),
    "size": st.sampled_from([0, 1, 4096, 2 << 20, 128 << 20, 1 << 30, 2**64 - 1]),
    "requested-size": st.sampled_from([0, 2 << 20, 128 << 20, 3]),
    "value": st.sampled_from([0, 1, 512 << 20, 1 << 30, -1, "x", True]),
    "path": st.sampled_from(["/machine", "/objects", "/objects/m0", "d0", "vm0", "", "/nope"]),
    "property": st.sampled_from(["size", "requested-size", "memdev", "type", "addr", "nope"]),
    "command-line": st.sampled_from(["info memory-devices", "info balloon", "balloon 512",
                                     "device_del d0", "info memdev", "help", "x"]),
    "addr": st.sampled_from([0, 4 << 30, 5 << 30, 3]),
    "slot": st.sampled_from([-1, 0, 1, 7]),
}
arguments = st.fixed_dictionaries(
    {}, optional={key: strategy | json_values for key, strategy in plausible.items()}
) | st.dictionaries(st.text(max_size=6), json_values, max_size=3)
requests = st.lists(st.tuples(st.sampled_from(COMMAND_NAMES), arguments), min_size=1,
                    max_size=12)

MACHINE = (
    "-machine q35 -m 1G,slots=4,maxmem=16G -object memory-backend-ram,id=m0,size=128M "
    "-device pcie-root-port,id=rp1,chassis=1"
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_random_commands_get_replies_not_crashes(sequence: list[tuple[str, JSONObject]]) -> None:
    machine = vm(MACHINE)
    for command, args in sequence:
        reply = machine.qmp(command, args)
        assert set(reply) in ({"return"}, {"error"}), reply
        if "error" in reply:
            error = reply["error"]
            assert isinstance(error, dict)
            desc = str(error["desc"])
            assert not desc.startswith(("internal error", "hvballoond schema violation")), (
                command, args, desc)
    # The VM still answers a plain query afterwards.
    assert "return" in machine.qmp("query-status")
    assert "return" in machine.qmp("query-memory-size-summary")
