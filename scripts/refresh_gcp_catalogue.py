"""Rebuild the vendored GCP permission catalogue from the IAM API.

The broker decides GCP grants offline, from ``src/cloud_broker/families/gcp/data/gcp_iam.json``.
This script refreshes that snapshot from the live IAM API with Application Default
Credentials: every predefined role (``GET https://iam.googleapis.com/v1/roles?view=FULL``,
paged) of the chosen services, plus every role and permission the current snapshot already
holds, so a refresh keeps the documented selection (see ``data/PROVENANCE.md``). With
``--project`` it also asks ``permissions:queryTestablePermissions`` on that project for the
titles and stages of permissions. The result is written in the same format with today's date
as its version, after the catalogue has loaded it (an inconsistent snapshot is never written).

    gcloud auth application-default login        # or GOOGLE_APPLICATION_CREDENTIALS=key.json
    python scripts/refresh_gcp_catalogue.py [--services storage] [--project my-project] [--out PATH]

Without credentials it changes nothing and exits with status 2. Tests never need it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

IAM = "https://iam.googleapis.com/v1"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/cloud_broker/families/gcp/data/gcp_iam.json"
FORMAT = 1
ATTRIBUTION = ("Portions of this file are modifications based on work created and shared by Google and used "
               "according to terms described in the Creative Commons 4.0 Attribution License.")
NO_CREDENTIALS = 2


def build_snapshot(roles: Iterable[Mapping[str, Any]], permissions: Mapping[str, Mapping[str, Any]], *,
                   version: str, source: str) -> dict[str, Any]:
    """The vendored format: every role's permissions are listed, names sorted, deleted roles
    dropped. ``permissions`` maps names to what is known of them (``title``, ``stage``)."""
    kept = {r["name"]: r for r in roles if not r.get("deleted")}
    known: dict[str, dict[str, str]] = {}
    for name, info in permissions.items():
        known[name] = {key: str(info[key]) for key in ("title", "stage") if info.get(key)}
    for role in kept.values():
        for name in role.get("includedPermissions", ()):
            known.setdefault(name, {})
    return {
        "format": FORMAT,
        "version": version,
        "source": source,
        "licence": "CC-BY-4.0",
        "attribution": ATTRIBUTION,
        "permissions": {name: known[name] for name in sorted(known)},
        "roles": {
            name: {
                "title": role.get("title", ""),
                "stage": role.get("stage", ""),
                "includedPermissions": sorted(role.get("includedPermissions", ())),
            }
            for name, role in sorted(kept.items())
        },
    }


def select_roles(roles: Iterable[Mapping[str, Any]], *, services: Iterable[str],
                 keep: Iterable[str]) -> list[Mapping[str, Any]]:
    """Every role of ``services`` (``roles/storage.*``) and every role named in ``keep``."""
    prefixes = tuple(f"roles/{service}." for service in services)
    wanted = set(keep)
    return [role for role in roles if role["name"].startswith(prefixes) or role["name"] in wanted]


def _pages(fetch: Any, key: str) -> Iterator[Mapping[str, Any]]:
    token = ""
    while True:
        page = fetch(token)
        yield from page.get(key, ())
        token = page.get("nextPageToken", "")
        if not token:
            return


def fetch_roles(session: Any) -> list[Mapping[str, Any]]:
    """Every predefined role with its permissions (``roles.list``, ``view=FULL``)."""

    def page(token: str) -> Mapping[str, Any]:
        params = {"view": "FULL", "pageSize": 1000, **({"pageToken": token} if token else {})}
        response = session.get(f"{IAM}/roles", params=params, timeout=60)
        response.raise_for_status()
        result: Mapping[str, Any] = response.json()
        return result

    return list(_pages(page, "roles"))


def fetch_testable_permissions(session: Any, project: str) -> dict[str, Mapping[str, Any]]:
    """The permissions testable on ``project``, by name, with their titles and stages."""
    resource = f"//cloudresourcemanager.googleapis.com/projects/{project}"

    def page(token: str) -> Mapping[str, Any]:
        body = {"fullResourceName": resource, "pageSize": 1000, **({"pageToken": token} if token else {})}
        response = session.post(f"{IAM}/permissions:queryTestablePermissions", json=body, timeout=60)
        response.raise_for_status()
        result: Mapping[str, Any] = response.json()
        return result

    return {p["name"]: p for p in _pages(page, "permissions")}


def _session() -> Any:
    """An authorised session from Application Default Credentials, or exit 2 without them."""
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
        from google.auth.transport.requests import AuthorizedSession
    except ImportError:
        _refuse("google-auth is not installed (pip install google-auth)")
    try:
        credentials, _project = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        _refuse("no Google Application Default Credentials were found; run "
                "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS")
    return AuthorizedSession(credentials)


def _refuse(reason: str) -> NoReturn:
    print(f"refresh_gcp_catalogue: {reason}. The snapshot was not changed.", file=sys.stderr)
    raise SystemExit(NO_CREDENTIALS)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="snapshot to write (default: the vendored one)")
    parser.add_argument("--current", type=Path, default=DEFAULT_OUT,
                        help="snapshot whose roles and permissions are kept (default: the vendored one)")
    parser.add_argument("--services", default="storage",
                        help="comma-separated services whose every predefined role is included (default: storage)")
    parser.add_argument("--project", help="project to ask queryTestablePermissions for permission titles")
    parser.add_argument("--version", default=datetime.now(UTC).date().isoformat(), help="version (default: today)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    session = _session()
    current = json.loads(args.current.read_text(encoding="utf-8")) if args.current.exists() else {}
    services = [s.strip() for s in args.services.split(",") if s.strip()]
    roles = select_roles(fetch_roles(session), services=services, keep=current.get("roles", {}))
    permissions: dict[str, Mapping[str, Any]] = dict(current.get("permissions", {}))
    source = f"Google Cloud IAM API ({IAM}/roles?view=FULL), fetched {args.version}"
    if args.project:
        testable = fetch_testable_permissions(session, args.project)
        permissions.update((name, testable[name]) for name in permissions.keys() & testable.keys())
        source += f", permission titles from permissions:queryTestablePermissions on project {args.project}"
    snapshot = build_snapshot(roles, permissions, version=args.version, source=source)

    from cloud_broker.families.gcp.catalogue import GcpCatalogue

    GcpCatalogue(snapshot)  # refuses an inconsistent snapshot before anything is written
    args.out.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(snapshot['roles'])} roles, {len(snapshot['permissions'])} permissions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
