"""hvballoond: QEMU 10.0's memory-device control plane behind a QMP socket."""

__version__ = "0.1.0"
__all__ = ["__version__"]
