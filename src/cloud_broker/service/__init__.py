"""Use-cases: the only layer that combines policy, store, vault and providers."""
