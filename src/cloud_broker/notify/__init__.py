"""Paging approvers and pushing outcomes: Slack, signed webhooks, agent callbacks."""
