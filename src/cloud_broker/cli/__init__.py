"""The command line: wires adapters together; the only place settings are loaded."""
