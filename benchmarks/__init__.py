"""hvballoond's benchmark suite: hvballoond side by side with real QEMU 10.0.2.

``python -m benchmarks`` (``make bench``) runs every workload against hvballoond and, when
``qemu-system-x86_64`` is installed, against QEMU with the same arguments, alternating the two
pair by pair; ``--quick`` (``make bench-quick``) uses small sizes. Results go to
``benchmarks/results/`` as JSON lines plus a Markdown table, and a full run regenerates
``docs/performance.md``. ``python -m benchmarks.profile WORKLOAD`` samples hvballoond with
py-spy while a workload runs and prints where the time goes.
"""
