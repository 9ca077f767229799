"""The domain and device XML the libvirt suite uses (same device model for both emulators).

The main domain is what libvirt needs for memory hot-plug: ``<maxMemory slots>``, a NUMA cell
(libvirt then backs node 0 with ``-object memory-backend-ram`` + ``-numa node,memdev=``), a
virtio balloon with stats polling, spare PCIe root ports for virtio-mem/virtio-pmem, and no
USB controller, disk, network, graphics or video (hvballoond serves no such device).

What differs by emulator lives in ``<qemu:commandline>`` only, so the live XML compares:
real QEMU gets the tiny real guest (kernel + initrd built by ../shared/tools/real-guest) and a
serial log; hvballoond gets its simulated guest (``-object hvb-guest``).

The *typical* domain is what virt-install writes for a guest, minus disks and network
interfaces (out of scope: hvballoond has no block or network layer): a serial console on a
pseudo-terminal, the guest-agent channel, a USB tablet, virtio video with VNC, a virtio RNG and
a virtio balloon. hvballoond keeps those devices inert (docs/libvirt.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "DOMAIN",
    "HV_DOMAIN",
    "TYPICAL_DOMAIN",
    "DomainSpec",
    "dimm_xml",
    "domain_xml",
    "typical_domain_xml",
    "virtio_mem_xml",
    "virtio_pmem_xml",
]

DOMAIN = "hvb-e2e"
HV_DOMAIN = "hvb-e2e-hv"
TYPICAL_DOMAIN = "hvb-e2e-typical"
UUIDS = {DOMAIN: "6c1b8a3e-1d1f-4e0a-9a57-0c6f3e1b2d41",
         HV_DOMAIN: "6c1b8a3e-1d1f-4e0a-9a57-0c6f3e1b2d42",
         TYPICAL_DOMAIN: "6c1b8a3e-1d1f-4e0a-9a57-0c6f3e1b2d43"}


@dataclass(frozen=True, slots=True)
class DomainSpec:
    """How to build a domain.

    Attributes:
        name: The domain name.
        emulator: The ``<emulator>`` path.
        hvballoond: The emulator is hvballoond.
        simulated_guest: Give hvballoond its simulated guest (``-object hvb-guest``).
        workdir: Scratch folder (serial log).
        kernel: A real guest's kernel (with ``initrd``), for real QEMU; None for no guest OS.
        initrd: The real guest's initrd.
        hv_balloon: Use hv-balloon (through ``<qemu:commandline>``) instead of a virtio balloon.
            Its 4 GiB memory backend is aligned to 32 GiB in guest memory (hv-balloon's
            alignment), so the domain gets a 64 GiB maxMemory.
    """

    name: str
    emulator: str
    hvballoond: bool
    workdir: Path
    simulated_guest: bool = True
    kernel: Path | None = None
    initrd: Path | None = None
    hv_balloon: bool = False


def _args(values: list[str]) -> str:
    if not values:
        return ""
    inner = "".join(f"    <qemu:arg value={quoteattr(v)}/>\n" for v in values)
    return f"  <qemu:commandline>\n{inner}  </qemu:commandline>\n"


def domain_xml(spec: DomainSpec) -> str:
    """The domain definition."""
    os_extra = ""
    extra: list[str] = []
    if spec.kernel is not None and spec.initrd is not None and not spec.hvballoond:
        os_extra = (f"    <kernel>{escape(str(spec.kernel))}</kernel>\n"
                    f"    <initrd>{escape(str(spec.initrd))}</initrd>\n"
                    "    <cmdline>console=ttyS0 memhp_default_state=online_movable</cmdline>\n")
        extra += ["-serial", f"file:{spec.workdir / (spec.name + '-serial.log')}"]
    if spec.hv_balloon:
        extra += ["-object", "memory-backend-ram,id=hvmem,size=4G,reserve=off",
                  "-device", "vmbus-bridge",
                  "-device", "hv-balloon,id=hvb,memdev=hvmem"]
    if spec.hvballoond and spec.simulated_guest:
        extra += ["-object", "hvb-guest,id=guest0"]
    max_memory_kib = (64 if spec.hv_balloon else 16) * 1024 * 1024
    balloon = ("    <memballoon model='none'/>\n" if spec.hv_balloon else
               "    <memballoon model='virtio'>\n      <stats period='5'/>\n    </memballoon>\n")
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{spec.name}</name>
  <uuid>{UUIDS[spec.name]}</uuid>
  <maxMemory slots='4' unit='KiB'>{max_memory_kib}</maxMemory>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-10.0'>hvm</type>
{os_extra}  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
    <numa>
      <cell id='0' cpus='0' memory='1048576' unit='KiB'/>
    </numa>
  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{escape(spec.emulator)}</emulator>
    <controller type='usb' model='none'/>
    <controller type='pci' model='pcie-root'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
{balloon}  </devices>
{_args(extra)}</domain>
"""


def typical_domain_xml(spec: DomainSpec) -> str:
    """A domain as virt-install writes it (no ``<cpu>``: libvirt checks the guest CPU
    partially), without disks and network interfaces."""
    extra = ["-object", "hvb-guest,id=guest0"] if spec.hvballoond and spec.simulated_guest else []
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{spec.name}</name>
  <uuid>{UUIDS[spec.name]}</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-10.0'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <devices>
    <emulator>{escape(spec.emulator)}</emulator>
    <controller type='usb' index='0' model='qemu-xhci' ports='15'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='virtio-serial' index='0'/>
    <serial type='pty'>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video>
      <model type='virtio' heads='1' primary='yes'/>
    </video>
    <memballoon model='virtio'/>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
{_args(extra)}</domain>
"""


def dimm_xml(size_mib: int = 512) -> str:
    """A pc-dimm on NUMA node 0."""
    return f"""<memory model='dimm'>
  <target>
    <size unit='MiB'>{size_mib}</size>
    <node>0</node>
  </target>
</memory>
"""


def virtio_mem_xml(size_mib: int = 1024, requested_mib: int = 256) -> str:
    """A virtio-mem-pci device with 2 MiB blocks."""
    return f"""<memory model='virtio-mem'>
  <target>
    <size unit='MiB'>{size_mib}</size>
    <node>0</node>
    <block unit='MiB'>2</block>
    <requested unit='MiB'>{requested_mib}</requested>
  </target>
</memory>
"""


def virtio_pmem_xml(path: Path, size_mib: int = 256) -> str:
    """A virtio-pmem-pci device backed by a shared file."""
    return f"""<memory model='virtio-pmem' access='shared'>
  <source>
    <path>{escape(str(path))}</path>
  </source>
  <target>
    <size unit='MiB'>{size_mib}</size>
  </target>
</memory>
"""
