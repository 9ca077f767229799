"""L2: the QMP session protocol, sans-I/O."""
