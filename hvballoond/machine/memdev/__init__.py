"""The memory-device manager: address assignment, memslot accounting and generic pre-plug.

QEMU's ``hw/mem/memory-device.c`` in Python: :mod:`.address_space` places devices inside the
device-memory region (first fit), :mod:`.memslots` keeps the memslot budget and the per-device
memslot decision, :mod:`.preplug` runs the generic checks G0-G14 in QEMU's order, and
:mod:`.manager` ties them to the plugged devices (listing, plugged size, mapped RAM sections).
"""
