"""QMP transcripts: record, replay and diff QMP conversations (docs/transcript-format.md).

Modules:
    format: parse/serialize ``*.qmp`` files losslessly (:class:`~.format.Transcript`).
    compare: the comparison rules and key-by-key explanations.
    runner: start a server (QEMU or hvballoond) and talk raw bytes over UNIX sockets.
    replay: ``hvballoond replay`` and :func:`~.replay.replay_transcript`.
    record: ``hvballoond record``, a transparent recording proxy.
    import_sample, import_libvirt: converters from other formats.
    junit: JUnit XML for CI.
"""
