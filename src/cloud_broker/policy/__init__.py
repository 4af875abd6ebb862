"""The policy engine: pure functions from (ceiling, request) to a decision. No I/O, no clock."""
