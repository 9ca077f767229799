"""Recording the golden QMP corpus from real QEMU (``make oracle``)."""
