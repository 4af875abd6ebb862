"""An S3 copy needs read on its source as well as write on its target (moto checked the target only).

AWS (Amazon S3 API Reference, "CopyObject" / "UploadPartCopy", Permissions): s3:PutObject
on the destination and s3:GetObject on the source object -- s3:GetObjectVersion when the
copy source names a version. moto authorised a copy as a PutObject alone, so a session
allowed to read and write reports/* could copy finance/q3.csv into reports/ and read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .support import PAST, allow, deny, policy, trust_source_user

Assume = Callable[..., dict[str, str]]
ClientAs = Callable[..., Any]
REPORTS_RW = allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::reports/*")
FINANCE = {"Bucket": "finance", "Key": "q3.csv"}
TARGET = "sandbox-test-copied.csv"
VERSIONED_BUCKET = "sandbox-test-versioned"


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def unrestricted_s3(assume: Assume, client_as: ClientAs) -> Any:
    """S3 as a role session without a session policy (the seeded role may s3:*), for set-up."""
    return client_as("s3", assume())


@pytest.fixture
def target_removed(unrestricted_s3: Any) -> Iterator[str]:
    """The copy target's key; whatever a test wrote there is removed afterwards."""
    yield TARGET
    unrestricted_s3.delete_object(Bucket="reports", Key=TARGET)


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as missing:
        assert missing.response["Error"]["Code"] == "404"
        return False
    return True


def test_copying_an_unreadable_object_into_a_writable_bucket_is_access_denied(
    assume: Assume, client_as: ClientAs, unrestricted_s3: Any, target_removed: str
) -> None:
    """The exfiltration path: Get/Put on reports/* only, copy finance/q3.csv into reports/."""
    s3 = client_as("s3", assume(policy(REPORTS_RW)))
    copy = lambda: s3.copy_object(Bucket="reports", Key=target_removed, CopySource=FINANCE)
    assert error_code(copy) == "AccessDenied"
    assert not exists(unrestricted_s3, "reports", target_removed)


def test_copying_a_readable_object_is_allowed(
    assume: Assume, client_as: ClientAs, target_removed: str
) -> None:
    """Read on the source and write on the target: AWS copies (the extension must not over-refuse)."""
    s3 = client_as("s3", assume(policy(REPORTS_RW)))
    s3.copy_object(Bucket="reports", Key=target_removed, CopySource={"Bucket": "reports", "Key": "today.csv"})
    assert s3.get_object(Bucket="reports", Key=target_removed)["Body"].read().startswith(b"date,")


@pytest.mark.parametrize(
    "grant",
    [
        policy(allow("s3:*", "*"), deny("s3:GetObject", "arn:aws:s3:::finance/*")),
        policy(
            REPORTS_RW,
            allow("s3:GetObject", "arn:aws:s3:::finance/*", DateLessThan={"aws:CurrentTime": PAST}),
        ),
        policy(
            REPORTS_RW,
            allow(
                "s3:GetObject", "arn:aws:s3:::finance/*", StringEquals={"aws:RequestedRegion": "eu-west-1"}
            ),
        ),
    ],
    ids=["explicit-deny-beside-allow-all", "expired-condition", "other-region-condition"],
)
def test_the_source_read_is_decided_like_any_request(
    assume: Assume, client_as: ClientAs, grant: str, target_removed: str
) -> None:
    """Explicit deny wins and conditions apply to the source read as to any other (AWS)."""
    s3 = client_as("s3", assume(grant))
    copy = lambda: s3.copy_object(Bucket="reports", Key=target_removed, CopySource=FINANCE)
    assert error_code(copy) == "AccessDenied"


def test_the_role_policy_must_allow_the_source_read_too(
    assume: Assume, client_as: ClientAs, create_role: Callable[..., str], emulator: Any, target_removed: str
) -> None:
    """A session is the intersection of role and session policy, for the source read as well."""
    role_arn = create_role(
        "sandbox-test-copy-role",
        trust=trust_source_user(emulator.account_id),
        role_policy=policy(REPORTS_RW),
    )
    s3 = client_as("s3", assume(policy(allow("s3:*", "*")), role_arn=role_arn))
    copy = lambda: s3.copy_object(Bucket="reports", Key=target_removed, CopySource=FINANCE)
    assert error_code(copy) == "AccessDenied"


def test_upload_part_copy_from_an_unreadable_object_is_access_denied(
    assume: Assume, client_as: ClientAs, unrestricted_s3: Any, target_removed: str
) -> None:
    """UploadPartCopy is the multipart form of the same copy; AWS needs the same source read."""
    s3 = client_as("s3", assume(policy(REPORTS_RW)))
    upload_id = s3.create_multipart_upload(Bucket="reports", Key=target_removed)["UploadId"]
    try:
        part = dict(Bucket="reports", Key=target_removed, UploadId=upload_id, PartNumber=1)
        assert error_code(lambda: s3.upload_part_copy(**part, CopySource=FINANCE)) == "AccessDenied"
        copied = s3.upload_part_copy(**part, CopySource={"Bucket": "reports", "Key": "today.csv"})
        assert copied["CopyPartResult"]["ETag"]
    finally:
        unrestricted_s3.abort_multipart_upload(Bucket="reports", Key=target_removed, UploadId=upload_id)


@pytest.fixture(scope="module")
def old_version(unrestricted_s3: Any) -> Iterator[str]:
    """A versioned bucket holding two versions of one object; yields the older version id."""
    unrestricted_s3.create_bucket(Bucket=VERSIONED_BUCKET)
    unrestricted_s3.put_bucket_versioning(
        Bucket=VERSIONED_BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    first = unrestricted_s3.put_object(Bucket=VERSIONED_BUCKET, Key="doc.txt", Body=b"v1")["VersionId"]
    unrestricted_s3.put_object(Bucket=VERSIONED_BUCKET, Key="doc.txt", Body=b"v2")
    yield str(first)
    for version in unrestricted_s3.list_object_versions(Bucket=VERSIONED_BUCKET).get("Versions", []):
        unrestricted_s3.delete_object(
            Bucket=VERSIONED_BUCKET, Key=version["Key"], VersionId=version["VersionId"]
        )
    unrestricted_s3.delete_bucket(Bucket=VERSIONED_BUCKET)


@pytest.mark.parametrize(
    ("source_read", "versioned", "allowed"),
    [
        ("s3:GetObject", True, False),
        ("s3:GetObjectVersion", True, True),
        ("s3:GetObjectVersion", False, False),
        ("s3:GetObject", False, True),
    ],
)
def test_copying_a_named_version_needs_get_object_version(
    assume: Assume,
    client_as: ClientAs,
    old_version: str,
    target_removed: str,
    source_read: str,
    versioned: bool,
    allowed: bool,
) -> None:
    """AWS: a copy source with ?versionId is read with s3:GetObjectVersion, without one s3:GetObject."""
    grant = policy(
        allow("s3:PutObject", "arn:aws:s3:::reports/*"),
        allow(source_read, f"arn:aws:s3:::{VERSIONED_BUCKET}/*"),
    )
    s3 = client_as("s3", assume(grant))
    source = {
        "Bucket": VERSIONED_BUCKET,
        "Key": "doc.txt",
        **({"VersionId": old_version} if versioned else {}),
    }
    copy = lambda: s3.copy_object(Bucket="reports", Key=target_removed, CopySource=source)
    if allowed:
        assert copy()["CopyObjectResult"]["ETag"]
    else:
        assert error_code(copy) == "AccessDenied"
