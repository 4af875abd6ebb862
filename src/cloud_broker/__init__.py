"""cloud-broker: just-in-time, scoped, short-lived cloud credentials for AI agents."""

__version__ = "0.1.0"
