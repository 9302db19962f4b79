"""The model: specs, records and plan arithmetic. Pure data and rules, no I/O; imports nothing
of dbkit outside itself."""
