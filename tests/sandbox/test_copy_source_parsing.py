"""Reading the x-amz-copy-source header as the read AWS authorises for a copy."""

from __future__ import annotations

import pytest

from cloud_broker.sandbox.copy_source import SourceRead, parse_copy_source


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("finance/q3.csv", SourceRead("s3:GetObject", "arn:aws:s3:::finance/q3.csv")),
        ("/finance/q3.csv", SourceRead("s3:GetObject", "arn:aws:s3:::finance/q3.csv")),
        ("finance/2025/a%20b%2Bc.csv", SourceRead("s3:GetObject", "arn:aws:s3:::finance/2025/a b+c.csv")),
        (
            "finance/q3.csv?versionId=3sL4kqtJ",
            SourceRead("s3:GetObjectVersion", "arn:aws:s3:::finance/q3.csv"),
        ),
        (
            "finance/q%3F.csv",
            SourceRead("s3:GetObject", "arn:aws:s3:::finance/q?.csv"),
        ),  # an encoded '?' is the key's
    ],
)
def test_the_copy_source_names_the_object_read(header: str, expected: SourceRead) -> None:
    """AWS: the source is bucket/key, URL-encoded; ?versionId asks for s3:GetObjectVersion."""
    assert parse_copy_source(header) == expected


@pytest.mark.parametrize(
    "header",
    ["arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/q3.csv", "finance", "/finance/", ""],
)
def test_a_source_the_emulator_cannot_place_is_an_unknown_resource(header: str) -> None:
    """Access-point ARNs and malformed sources are authorised against '*': only Resource '*' allows."""
    assert parse_copy_source(header).resource == "*"


def test_the_partition_follows_the_request() -> None:
    """The source ARN is in the partition the request was signed for."""
    assert parse_copy_source("b/k", partition="aws-cn").resource == "arn:aws-cn:s3:::b/k"
