"""A provider that answers at once, and a broker that mints with it: the broker's own cost alone.

Bench only: it is never shipped or registered as a product provider. ``grant_bench.py`` starts
``python bench/instant_provider.py --state-dir DIR --db URL --port N``, which wires the broker
as ``cloud-broker serve`` does (config, store, vault, families, background work) and replaces
only the AWS provider. Every security check of a grant request still runs: the token, the
policy decision, the kill switch's stops, the rate and caps, the intent row, sealing and the
audit rows. What it returns is no credential anywhere.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cloud_broker.providers.base import Fence, IssuedCredential, RevokeResult


class InstantProvider:
    """Mints placeholder values for the plan's duration without calling any cloud."""

    name = "aws"

    def mint(self, plan: Any) -> IssuedCredential:
        marker = f"bench-instant-{plan.grant_id}"
        return IssuedCredential(
            values={"access_key_id": marker, "secret_access_key": marker, "session_token": marker},
            cloud_expires_at=datetime.now(UTC) + timedelta(seconds=plan.duration_seconds),
        )

    def revoke(self, plan: Any, fence: Fence) -> RevokeResult:
        return RevokeResult(revoked_in_cloud=False, detail="the bench's instant provider issued nothing in a cloud")

    def collect(self, plan: Any, fence: Fence) -> int:
        return 0


def main() -> None:
    from cloud_broker.cli.serve import run_api
    from cloud_broker.cli.wiring import cloud_providers, wire
    from cloud_broker.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: sqlite in the state dir)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.build(state_dir=args.state_dir, db_url=args.db, env={})
    wired = wire(settings, providers={**cloud_providers(settings), "aws": InstantProvider()}, serving=True)
    run_api(wired, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
