"""One package per cloud, each behind the same family interface (see docs/families.md)."""
