from __future__ import annotations

import pytest

from cloud_broker.families.aws.catalogue import Catalogue


def test_default_catalogue_is_loaded_once(catalogue: Catalogue) -> None:
    assert Catalogue.default() is catalogue


def test_expand_is_case_insensitive_and_answers_canonical_names(catalogue: Catalogue) -> None:
    assert catalogue.expand("S3:getobject") == {"s3:GetObject"}
    assert {"s3:GetObject", "s3:GetObjectAcl", "s3:GetBucketPolicy"} <= catalogue.expand("s3:get*")


def test_expand_of_a_pattern_stays_within_what_it_matches(catalogue: Catalogue) -> None:
    expanded = catalogue.expand("s3:*Object")
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= expanded
    assert all(name.startswith("s3:") and name.endswith("Object") for name in expanded)


def test_expand_lets_star_cross_the_service_colon(catalogue: Catalogue) -> None:
    assert {"s3:ListBucket", "s3-outposts:ListBucket"} <= catalogue.expand("s3*:List*")
    assert "ec2:DescribeInstances" in catalogue.expand("*:DescribeInstances")


def test_expand_of_unknown_names_is_empty(catalogue: Catalogue) -> None:
    assert catalogue.expand("s3:GetObjekt") == frozenset()
    assert catalogue.expand("nosuchservice:*") == frozenset()
    assert catalogue.expand("GetObject") == frozenset()


def test_known_services_are_recognised_in_any_case(catalogue: Catalogue) -> None:
    assert catalogue.is_known_service("s3")
    assert catalogue.is_known_service("IAM")
    assert not catalogue.is_known_service("s4")


def test_suggestions_put_the_nearest_name_first(catalogue: Catalogue) -> None:
    assert catalogue.suggest("s3:GetObjekt")[0] == "s3:GetObject"
    assert catalogue.suggest("s3:getobjekt")[0] == "s3:GetObject"
    assert len(catalogue.suggest("s3:GetObjekt", n=2)) == 2


def test_suggestions_also_repair_a_misspelt_service(catalogue: Catalogue) -> None:
    assert catalogue.suggest("dynamo:GetItem")[0] == "dynamodb:GetItem"


def test_arn_formats_turn_placeholders_into_wildcards(catalogue: Catalogue) -> None:
    formats = catalogue.resource_arn_formats("s3:GetObject")
    assert "arn:*:s3:::*/*" in formats
    assert all("${" not in f for f in formats)
    assert "arn:*:s3:::*" in catalogue.resource_arn_formats("s3:ListBucket")


def test_actions_that_support_only_star_have_no_arn_format(catalogue: Catalogue) -> None:
    assert catalogue.resource_arn_formats("s3:ListAllMyBuckets") == ()


def test_unknown_actions_have_no_formats_or_access_level(catalogue: Catalogue) -> None:
    with pytest.raises(KeyError):
        catalogue.resource_arn_formats("s3:GetObjekt")
    with pytest.raises(KeyError):
        catalogue.access_level("s3:GetObjekt")


@pytest.mark.parametrize(
    ("action", "level"),
    [("s3:GetObject", "Read"), ("s3:ListBucket", "List"), ("s3:PutObject", "Write"), ("s3:PutObjectTagging", "Tagging"),
     ("s3:PutBucketPolicy", "Permissions management")],
)
def test_access_level_comes_from_the_catalogue(catalogue: Catalogue, action: str, level: str) -> None:
    assert catalogue.access_level(action) == level


@pytest.mark.parametrize(
    ("action", "resource", "applies"),
    [
        ("s3:GetObject", "arn:aws:s3:::reports/*", True),
        ("s3:GetObject", "arn:aws:s3:::reports", False),  # a bucket is not an object
        ("s3:GetObject", "*", True),
        ("s3:ListBucket", "arn:aws:s3:::reports", True),
        ("s3:ListAllMyBuckets", "*", True),
        ("s3:ListAllMyBuckets", "arn:aws:s3:::reports", False),  # only "*" is evaluated
        ("dynamodb:GetItem", "arn:aws:s3:::reports/*", False),  # even though * crosses colons
        ("dynamodb:GetItem", "arn:aws:*", True),
        ("s3:GetObjekt", "*", False),
    ],
)
def test_a_pair_applies_only_if_the_resource_can_be_of_a_type_the_action_acts_on(
    catalogue: Catalogue, action: str, resource: str, applies: bool
) -> None:
    assert catalogue.applies(action, resource) is applies
