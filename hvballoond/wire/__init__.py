"""L1: bytes <-> JSON values, exactly as QEMU 10.0's QMP lexer, framer, parser and writer."""
