"""Policy-evaluation cases whose outcome AWS documents, for a differential test of the emulator.

Each row: the role's identity policy, the session policy (or none), one request, and the
outcome AWS's documentation states for it, with the page the row comes from. Rows whose
request context boto3 can produce against the emulator (``e2e``) are run end to end;
every row is also run against ``policy_evaluator.is_allowed`` with the context AWS would
build (``context`` adds the keys no boto3 call can set: source IP, MFA, tag keys …).

Page titles are those of the IAM User Guide unless stated otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .support import FUTURE, PAST, allow, deny

ContextValue = str | tuple[str, ...] | None  # as in cloud_broker.sandbox.conditions
ACCOUNT = "123456789012"
SESSION_NAME = "cb-table"
ROLE_PREFIX = "sandbox-test-table-"
EVALUATION = "Policy evaluation logic; Determining whether a request is allowed or denied within an account"
SESSION = "Policies and permissions in AWS Identity and Access Management: Session policies"
OPERATORS = "IAM JSON policy elements: Condition operators"
MULTIVALUED = "Single-valued vs. multivalued context keys: Set operators for multivalued context keys"
MULTIPLE = "IAM JSON policy elements: Condition (Condition with multiple context keys or values)"
GLOBAL_KEYS = "AWS global condition context keys"


class Op(NamedTuple):
    """A request: what IAM authorises, and the boto3 call that makes it."""

    service: str
    action: str
    resource: str | None  # None: the action has no resource type ("*")
    call: Callable[[Any], Any]
    context: dict[str, ContextValue]


GET_REPORT = Op(
    "s3",
    "s3:GetObject",
    "arn:aws:s3:::reports/today.csv",
    lambda s3: s3.get_object(Bucket="reports", Key="today.csv"),
    {"s3:prefix": None, "s3:delimiter": None},
)
GET_FINANCE = Op(
    "s3",
    "s3:GetObject",
    "arn:aws:s3:::finance/q3.csv",
    lambda s3: s3.get_object(Bucket="finance", Key="q3.csv"),
    {"s3:prefix": None, "s3:delimiter": None},
)
PUT_KEY = "sandbox-test-table.csv"
PUT_REPORT = Op(
    "s3",
    "s3:PutObject",
    f"arn:aws:s3:::reports/{PUT_KEY}",
    lambda s3: s3.put_object(Bucket="reports", Key=PUT_KEY, Body=b"x"),
    {"s3:prefix": None, "s3:delimiter": None},
)
LIST_TODAY = Op(
    "s3",
    "s3:ListBucket",
    "arn:aws:s3:::reports",
    lambda s3: s3.list_objects_v2(Bucket="reports", Prefix="today"),
    {"s3:prefix": "today", "s3:delimiter": None},
)
LIST_2024 = Op(
    "s3",
    "s3:ListBucket",
    "arn:aws:s3:::reports",
    lambda s3: s3.list_objects_v2(Bucket="reports", Prefix="2024/"),
    {"s3:prefix": "2024/", "s3:delimiter": None},
)
LIST_ALL = Op(
    "s3",
    "s3:ListBucket",
    "arn:aws:s3:::reports",
    lambda s3: s3.list_objects_v2(Bucket="reports"),
    {"s3:prefix": None, "s3:delimiter": None},
)
LIST_ROLES = Op("iam", "iam:ListRoles", None, lambda iam: iam.list_roles(), {})
TAG_ROLE = Op("iam", "iam:TagRole", f"arn:aws:iam::{ACCOUNT}:role/tagged", lambda iam: None, {})

ALL_S3 = allow("s3:*", "*")
DENY_OUTSIDE_NETWORKS = deny(
    "*",
    "*",
    NotIpAddress={"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
    Bool={"aws:ViaAWSService": "false"},
)


@dataclass(frozen=True)
class Row:
    name: str  # also the role's name suffix: keep it short
    source: str  # the AWS documentation page the outcome comes from
    role: tuple[dict[str, Any], ...]
    session: tuple[dict[str, Any], ...] | None
    op: Op
    allowed: bool  # what AWS documents
    context: dict[str, ContextValue] = field(default_factory=dict)  # keys boto3 cannot set
    region: str = "us-east-1"  # the Region the client signs for
    requested_region: str = "us-east-1"  # aws:RequestedRegion as AWS documents it

    @property
    def e2e(self) -> bool:
        """Whether boto3 can make this request against the emulator (no context beyond its own)."""
        return not self.context


NOT_ACTION = "IAM JSON policy elements: NotAction"
NOT_RESOURCE = "IAM JSON policy elements: NotResource"
TLS = GLOBAL_KEYS + " (aws:SecureTransport); Amazon S3 User Guide: Security best practices for Amazon S3"
SOURCE_IP = "AWS: Denies access to AWS based on the source IP"
BY_REGION = "AWS: Denies access to AWS based on the requested Region"
ALLOW_ALL_BUT_IAM = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
ALLOW_ALL_BUT_FINANCE = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::finance/*"}
DENY_OUTSIDE_REPORTS = {
    "Effect": "Deny",
    "Action": "s3:*",
    "NotResource": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"],
}
DENY_WITHOUT_MFA = {
    "Effect": "Deny",
    "NotAction": "iam:*",
    "Resource": "*",
    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
}
DENY_PLAIN_HTTP = deny("s3:*", "*", Bool={"aws:SecureTransport": "false"})
DENY_OUTSIDE_EU_WEST_1 = deny("*", "*", StringNotEquals={"aws:RequestedRegion": "eu-west-1"})


def tag_role_if(operator: str, tag_keys: str | list[str]) -> dict[str, Any]:
    """Allow iam:TagRole when the request's tag keys satisfy ``operator``."""
    return allow("iam:TagRole", "*", **{operator: {"aws:TagKeys": tag_keys}})


# One row a line where it fits: the table reads better than black's one-argument-a-line.
# fmt: off
ROWS: tuple[Row, ...] = (
    # --- Policy evaluation logic ------------------------------------------------------------------
    Row("implicit-deny", EVALUATION, (allow("s3:GetObject", "arn:aws:s3:::reports/*"),), None, GET_FINANCE, False),
    Row("identity-allow", EVALUATION, (allow("s3:GetObject", "arn:aws:s3:::reports/*"),), None, GET_REPORT, True),
    Row("deny-beats-allow", EVALUATION, (ALL_S3, deny("s3:GetObject", "arn:aws:s3:::finance/*")), None,
        GET_FINANCE, False),
    Row("role-deny-beats-session", EVALUATION, (ALL_S3, deny("s3:GetObject", "arn:aws:s3:::reports/*")),
        (ALL_S3,), GET_REPORT, False),
    # --- Session policies: the session may do only what both policies allow ------------------------
    Row("session-cannot-widen", SESSION, (allow("s3:GetObject", "arn:aws:s3:::reports/*"),), (ALL_S3,),
        PUT_REPORT, False),
    Row("session-narrows-deny", SESSION, (ALL_S3,), (allow("s3:GetObject", "arn:aws:s3:::reports/*"),),
        GET_FINANCE, False),
    Row("session-narrows-allow", SESSION, (ALL_S3,), (allow("s3:GetObject", "arn:aws:s3:::reports/*"),),
        GET_REPORT, True),
    Row("session-explicit-deny", SESSION, (ALL_S3,), (ALL_S3, deny("s3:GetObject", "arn:aws:s3:::reports/*")),
        GET_REPORT, False),
    Row("session-silent", SESSION, (ALL_S3,), (allow("s3:ListBucket", "arn:aws:s3:::reports"),), GET_REPORT, False),
    # --- NotAction / NotResource ----------------------------------------------------------------------
    Row("notaction-allows-others", NOT_ACTION, (ALLOW_ALL_BUT_IAM,), None, GET_REPORT, True),
    Row("notaction-excludes", NOT_ACTION, (ALLOW_ALL_BUT_IAM,), None, LIST_ROLES, False),
    Row("notresource-allows-others", NOT_RESOURCE, (ALLOW_ALL_BUT_FINANCE,), None, GET_REPORT, True),
    Row("notresource-excludes", NOT_RESOURCE, (ALLOW_ALL_BUT_FINANCE,), None, GET_FINANCE, False),
    Row("deny-notresource-outside", NOT_RESOURCE, (ALL_S3, DENY_OUTSIDE_REPORTS), None, GET_FINANCE, False),
    Row("deny-notresource-inside", NOT_RESOURCE, (ALL_S3, DENY_OUTSIDE_REPORTS), None, GET_REPORT, True),
    Row("deny-notaction-mfa-absent", NOT_ACTION + " (deny unless MFA)", (ALL_S3, DENY_WITHOUT_MFA), None,
        GET_REPORT, False, context={"aws:multifactorauthpresent": None}),
    Row("deny-notaction-mfa-present", NOT_ACTION + " (deny unless MFA)", (ALL_S3, DENY_WITHOUT_MFA), None,
        GET_REPORT, True, context={"aws:multifactorauthpresent": "true"}),
    # --- String operators -------------------------------------------------------------------------------
    Row("stringequals-case", OPERATORS,
        (allow("s3:GetObject", "*", StringEquals={"aws:PrincipalType": "assumedrole"}),), None, GET_REPORT, False),
    Row("stringequalsignorecase", OPERATORS,
        (allow("s3:GetObject", "*", StringEqualsIgnoreCase={"aws:PrincipalType": "assumedrole"}),), None,
        GET_REPORT, True),
    Row("stringlike-userid", GLOBAL_KEYS + " (aws:userid is role-id:session-name)",
        (allow("s3:GetObject", "*", StringLike={"aws:userid": f"AROA*:{SESSION_NAME}"}),), None, GET_REPORT, True),
    Row("stringequals-absent-key", OPERATORS + " (key absent: false)",
        (allow("s3:ListBucket", "*", StringEquals={"s3:prefix": "today"}),), None, LIST_ALL, False),
    Row("stringnotlike-absent-key", OPERATORS + " (key absent, negated operator: true)",
        (allow("s3:ListBucket", "*", StringNotLike={"s3:prefix": "secret/*"}),), None, LIST_ALL, True),
    Row("stringlike-prefix", OPERATORS,
        (allow("s3:ListBucket", "*", StringLike={"s3:prefix": "today*"}),), None, LIST_TODAY, True),
    Row("username-absent-for-roles", GLOBAL_KEYS + " (aws:username: IAM users only)",
        (ALL_S3, deny("s3:*", "*", StringNotEquals={"aws:username": "alice"})), None, GET_REPORT, False),
    # --- ...IfExists and Null ---------------------------------------------------------------------------
    Row("ifexists-absent", OPERATORS + " (...IfExists)",
        (allow("s3:ListBucket", "*", StringEqualsIfExists={"s3:prefix": "today"}),), None, LIST_ALL, True),
    Row("ifexists-present-mismatch", OPERATORS + " (...IfExists)",
        (allow("s3:ListBucket", "*", StringEqualsIfExists={"s3:prefix": "today"}),), None, LIST_2024, False),
    Row("null-true-absent", OPERATORS + " (Null)",
        (allow("s3:ListBucket", "*", Null={"s3:prefix": "true"}),), None, LIST_ALL, True),
    Row("null-true-present", OPERATORS + " (Null)",
        (allow("s3:ListBucket", "*", Null={"s3:prefix": "true"}),), None, LIST_TODAY, False),
    Row("null-false-present", OPERATORS + " (Null)",
        (allow("s3:ListBucket", "*", Null={"s3:prefix": "false"}),), None, LIST_TODAY, True),
    # --- Numeric, Date, Bool ------------------------------------------------------------------------------
    Row("numeric-less", OPERATORS + " (Numeric)",
        (allow("s3:GetObject", "*", NumericLessThan={"aws:EpochTime": "9999999999"}),), None, GET_REPORT, True),
    Row("numeric-greater", OPERATORS + " (Numeric)",
        (allow("s3:GetObject", "*", NumericGreaterThan={"aws:EpochTime": "9999999999"}),), None, GET_REPORT, False),
    Row("date-window", "AWS: Allows access based on date and time",
        (allow("s3:GetObject", "*", DateGreaterThan={"aws:CurrentTime": PAST},
               DateLessThan={"aws:CurrentTime": FUTURE}),), None, GET_REPORT, True),
    Row("date-window-over", "AWS: Allows access based on date and time",
        (allow("s3:GetObject", "*", DateLessThan={"aws:CurrentTime": PAST}),), None, GET_REPORT, False),
    Row("date-epoch-bound", OPERATORS + " (Date: epoch values)",
        (allow("s3:GetObject", "*", DateLessThan={"aws:CurrentTime": "4102444800"}),), None, GET_REPORT, True),
    Row("date-token-issued", GLOBAL_KEYS + " (aws:TokenIssueTime)",
        (allow("s3:GetObject", "*", DateGreaterThan={"aws:TokenIssueTime": PAST}),), None, GET_REPORT, True),
    Row("bool-via-service", OPERATORS + " (Boolean); " + GLOBAL_KEYS,
        (allow("s3:GetObject", "*", Bool={"aws:ViaAWSService": "false"}),), None, GET_REPORT, True),
    Row("bool-json-false", "Grammar of the IAM JSON policy language (condition values may be Booleans)",
        (allow("s3:GetObject", "*", Bool={"aws:ViaAWSService": False}),), None, GET_REPORT, True),
    Row("bool-tls-deny", TLS, (ALL_S3, DENY_PLAIN_HTTP), None, GET_REPORT, False,
        context={"aws:securetransport": "false"}),
    Row("bool-tls-allow", TLS, (ALL_S3, DENY_PLAIN_HTTP), None, GET_REPORT, True,
        context={"aws:securetransport": "true"}),
    # --- IP address -------------------------------------------------------------------------------------
    Row("ip-inside", SOURCE_IP, (ALL_S3, DENY_OUTSIDE_NETWORKS), None, GET_REPORT, True,
        context={"aws:sourceip": "203.0.113.9"}),
    Row("ip-outside", SOURCE_IP, (ALL_S3, DENY_OUTSIDE_NETWORKS), None, GET_REPORT, False,
        context={"aws:sourceip": "198.51.100.1"}),
    Row("ip-v6", OPERATORS + " (IP address)",
        (allow("s3:GetObject", "*", IpAddress={"aws:SourceIp": "2001:db8::/32"}),), None, GET_REPORT, True,
        context={"aws:sourceip": "2001:db8:1234::1"}),
    # --- ARN ----------------------------------------------------------------------------------------------
    Row("arnlike-principal", OPERATORS + " (ARN)",
        (allow("s3:GetObject", "*", ArnLike={"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE_PREFIX}*"}),),
        None, GET_REPORT, True),
    Row("arnequals-other", OPERATORS + " (ARN)",
        (allow("s3:GetObject", "*", ArnEquals={"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/other"}),),
        None, GET_REPORT, False),
    Row("arnnotlike-deny", OPERATORS + " (ARN)",
        (ALL_S3, deny("s3:*", "*", ArnNotLike={"aws:PrincipalArn": f"arn:aws:iam::*:role/{ROLE_PREFIX}*"})),
        None, GET_REPORT, True),
    # --- Multiple keys and values -----------------------------------------------------------------------
    Row("values-ored", MULTIPLE,
        (allow("s3:GetObject", "*", StringEquals={"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}),), None,
        GET_REPORT, True),
    Row("operators-anded", MULTIPLE,
        (allow("s3:GetObject", "*", StringEquals={"aws:RequestedRegion": "us-east-1"},
               DateLessThan={"aws:CurrentTime": PAST}),), None, GET_REPORT, False),
    # --- Set operators on multivalued keys ----------------------------------------------------------------
    Row("forall-subset", MULTIVALUED, (tag_role_if("ForAllValues:StringEquals", ["environment", "cost-center"]),),
        None, TAG_ROLE, True, context={"aws:tagkeys": ("environment",)}),
    Row("forall-extra", MULTIVALUED, (tag_role_if("ForAllValues:StringEquals", ["environment", "cost-center"]),),
        None, TAG_ROLE, False, context={"aws:tagkeys": ("environment", "owner")}),
    Row("forall-absent", MULTIVALUED + " (ForAllValues is also true with no key)",
        (tag_role_if("ForAllValues:StringEquals", ["environment"]),), None, TAG_ROLE, True,
        context={"aws:tagkeys": None}),
    Row("forall-like", MULTIVALUED, (tag_role_if("ForAllValues:StringLike", "Created*"),), None, TAG_ROLE, True,
        context={"aws:tagkeys": ("CreatedBy", "CreatedAt")}),
    Row("forany-one", MULTIVALUED, (tag_role_if("ForAnyValue:StringEquals", ["environment"]),), None, TAG_ROLE,
        True, context={"aws:tagkeys": ("owner", "environment")}),
    Row("forany-none", MULTIVALUED, (tag_role_if("ForAnyValue:StringEquals", ["environment"]),), None, TAG_ROLE,
        False, context={"aws:tagkeys": ("owner",)}),
    Row("forany-absent", MULTIVALUED + " (ForAnyValue is false with no key)",
        (tag_role_if("ForAnyValue:StringEquals", ["environment"]),), None, TAG_ROLE, False,
        context={"aws:tagkeys": None}),
    Row("deny-forany-protected", "Multivalued context key examples (deny with ForAnyValue)",
        (allow("iam:TagRole", "*"), {**tag_role_if("ForAnyValue:StringLike", "aws*"), "Effect": "Deny"}),
        None, TAG_ROLE, False, context={"aws:tagkeys": ("owner", "awsProtected")}),
    # --- aws:RequestedRegion for a global service ------------------------------------------------------
    Row("global-service-region", BY_REGION, (allow("iam:ListRoles", "*"),),
        (allow("iam:ListRoles", "*", StringEquals={"aws:RequestedRegion": "us-east-1"}),), LIST_ROLES, True,
        region="eu-west-1"),
    Row("global-service-deny", BY_REGION, (allow("iam:ListRoles", "*"), DENY_OUTSIDE_EU_WEST_1), None,
        LIST_ROLES, False, region="eu-west-1"),
    Row("regional-service-region", BY_REGION, (ALL_S3, DENY_OUTSIDE_EU_WEST_1), None, GET_REPORT, True,
        region="eu-west-1", requested_region="eu-west-1"),
)
# fmt: on
