"""Writing an object, as every Cloud Storage method that writes one does it.

Uploads, ``copyTo`` and ``rewriteTo`` all end here, so that they are authorised alike:
``storage.objects.create`` on the destination and, when an object of that name exists
(an overwrite), ``storage.objects.delete`` as well -- which is why
``roles/storage.objectCreator`` can add objects but never replace one. Then the
generation preconditions (``ifGenerationMatch=0``: only if absent) are checked.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud_broker.sandbox.gcp.authorization import StorageResource, authorize_storage
from cloud_broker.sandbox.gcp.bucket_store import StoredObject
from cloud_broker.sandbox.gcp.errors import storage_bad_request, storage_not_found, storage_precondition_failed
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

_CHECKS = ("GenerationMatch", "GenerationNotMatch", "MetagenerationMatch", "MetagenerationNotMatch")


def require_bucket(world: World, bucket: str) -> None:
    if world.buckets.find_bucket(bucket) is None:
        raise storage_not_found("The specified bucket does not exist.")


def require_object(world: World, bucket: str, name: str, generation: str | None = None) -> StoredObject:
    """The live object, or 404 (also when ``generation`` names another one: there is no versioning)."""
    require_bucket(world, bucket)
    stored = world.buckets.find_object(bucket, name)
    if stored is None or (generation is not None and generation != str(stored.generation)):
        raise storage_not_found(f"No such object: {bucket}/{name}")
    return stored


def check_preconditions(params: Mapping[str, str], existing: StoredObject | None, *, prefix: str = "if") -> None:
    """``{prefix}GenerationMatch`` and friends against ``existing`` (generation 0 when absent); 412 if unmet."""
    current = {"Generation": existing.generation if existing else 0, "Metageneration": 1 if existing else 0}
    for check in _CHECKS:
        raw = params.get(prefix + check)
        if raw is None:
            continue
        try:
            wanted = int(raw)
        except ValueError as exc:
            raise storage_bad_request(f"Invalid value for {prefix + check}.") from exc
        field, negated = check.removesuffix("NotMatch").removesuffix("Match"), check.endswith("NotMatch")
        if (current[field] == wanted) == negated:
            raise storage_precondition_failed()


def authorize_write(world: World, token: AccessToken, bucket: str, name: str) -> StoredObject | None:
    """Create on the destination, and delete too if it exists; returns what would be replaced."""
    authorize_storage(world.policies, token, "storage.objects.create", StorageResource(bucket, name))
    require_bucket(world, bucket)
    existing = world.buckets.find_object(bucket, name)
    if existing is not None:
        authorize_storage(world.policies, token, "storage.objects.delete", StorageResource(bucket, name))
    return existing


def write_object(world: World, token: AccessToken, bucket: str, name: str, data: bytes, *, content_type: str,
                 metadata: Mapping[str, str] | None, params: Mapping[str, str]) -> StoredObject:
    """Authorise, check preconditions, then store a new generation of ``bucket/name``."""
    existing = authorize_write(world, token, bucket, name)
    check_preconditions(params, existing)
    return world.buckets.put_object(bucket, name, data, content_type, metadata)
