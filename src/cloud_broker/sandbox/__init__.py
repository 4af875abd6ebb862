"""A local AWS for demos and tests: moto, extended to evaluate session policies.

moto enforces IAM only with a role's own policies and ignores the AssumeRole session
``Policy`` -- the very thing the broker uses to narrow a grant. This package starts
moto in-process, seeds a small world (a source user, an agent role, two buckets) and
installs a deliberate extension so that the emulator refuses what AWS would refuse.
Nothing here is imported by the broker's core; the CLI and the tests use it.
"""
