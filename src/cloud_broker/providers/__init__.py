"""Cloud providers: one adapter per cloud behind the same verbs (mint, revoke)."""
