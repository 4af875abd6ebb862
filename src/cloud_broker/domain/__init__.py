"""Plain data of the broker: grants, requests, statuses, ids. Standard library only."""
