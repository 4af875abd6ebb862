"""Start a seeded, IAM-enforcing AWS emulator (moto) in this process.

The sandbox lets the broker, its demo and its tests mint real STS credentials and
watch AWS-like refusals without an AWS account. moto's server is started on
127.0.0.1 with our extensions installed --
:mod:`~cloud_broker.sandbox.session_policy_enforcement` (moto ignores session
policies; the broker depends on them) and
:mod:`~cloud_broker.sandbox.assume_role_validation` (moto accepts any AssumeRole
input), :mod:`~cloud_broker.sandbox.cfn_inline_policies` (moto stores CloudFormation's
inline policies as dicts) -- a small world is seeded with auth off, and only then is IAM enforcement
switched on, for every request that follows. moto's unauthenticated control API
(``/moto-api/``, which can switch auth off, wipe state or dump every secret key) is
closed as soon as seeding is done: see :mod:`~cloud_broker.sandbox.guarded_server`.

moto keeps its state, its auth switch and our patches in process-wide globals, so run
one emulator per process at a time: ``start_emulator`` resets moto's state first, and
``stop`` hands back the auth settings and removes the patches it installed, so that
later ``mock_aws`` tests in the same process meet stock moto.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import boto3
from botocore.exceptions import ClientError
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin

from cloud_broker.families.aws.revocation_names import REVOCATION_ACTIONS, REVOKER_USERID_PATTERN
from cloud_broker.sandbox import assume_role_validation, cfn_inline_policies, session_policy_enforcement
from cloud_broker.sandbox.guarded_server import GuardedMotoServer

REGION = "us-east-1"
SOURCE_USER = "cloud-broker"
ROLE_NAME = "cloud-broker-agent"
REPORTS_BUCKET = "reports"
REPORTS_KEY = "today.csv"
REPORTS_CSV = b"date,region,revenue\n2025-01-06,us-east-1,1200\n2025-01-06,eu-west-1,800\n"
FINANCE_BUCKET = "finance"
FINANCE_KEY = "q3.csv"
FINANCE_CSV = b"quarter,margin\nQ3,0.31\n"
_SEEDING_CREDENTIALS = {"aws_access_key_id": "seeding", "aws_secret_access_key": "seeding"}
# Split in two so that no key-shaped literal stands in the tree for secret scanners to flag.
_UNKNOWN_CREDENTIALS = {"aws_access_key_id": "AKIA" + "UNKNOWNKEY000000", "aws_secret_access_key": "unknown"}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only: no proxies


class _Seeded(NamedTuple):
    account_id: str
    role_arn: str
    access_key_id: str
    secret_access_key: str


@dataclass
class Emulator:
    """A running, seeded emulator. Stop it (or use ``with``) to free the port.

    ``source_*`` are the broker's own credentials (an IAM user allowed to assume
    ``role_arn``); they are fake but kept out of ``repr`` like real ones.
    """

    endpoint_url: str
    region: str
    account_id: str
    role_arn: str
    source_access_key_id: str = field(repr=False)
    source_secret_access_key: str = field(repr=False)
    _server: GuardedMotoServer = field(repr=False)
    _restore: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        """Shut the server down and give moto back its auth settings and behaviour."""
        self._server.stop()
        self._restore()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_emulator(*, port: int = 0, extra_seeding: Sequence[Callable[[str], None]] = ()) -> Emulator:
    """Start moto on 127.0.0.1 (a free port if 0), seed it, then enforce IAM.

    ``extra_seeding`` steps run after the standard world is seeded and before enforcement is
    switched on, each given the endpoint URL: what an account's operator sets up with broad
    rights (e.g. :func:`cloud_broker.sandbox.stacks.stack_step` deploying an enrolment
    template). Returns once unknown keys and moto's control API are verifiably refused;
    raises RuntimeError if not.
    """
    restore = _install_extensions()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")  # seeding goes unauthenticated
    server = GuardedMotoServer(host="127.0.0.1", port=port)
    server.start()
    endpoint_url = server.endpoint_url
    try:
        _post(f"{endpoint_url}/moto-api/reset")
        seeded = _seed(endpoint_url)
        for step in extra_seeding:
            step(endpoint_url)
        server.close_control_api()  # from here on, only AWS's own APIs are served
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        _require_enforcement(endpoint_url)
        _require_closed_control_api(endpoint_url)
    except BaseException:
        server.stop()
        restore()
        raise
    return Emulator(
        endpoint_url=endpoint_url,
        region=REGION,
        account_id=seeded.account_id,
        role_arn=seeded.role_arn,
        source_access_key_id=seeded.access_key_id,
        source_secret_access_key=seeded.secret_access_key,
        _server=server,
        _restore=restore,
    )


def _install_extensions() -> Callable[[], None]:
    """Install our moto patches; return how to undo them and the auth settings."""
    saved_auth = (settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)
    extensions = (session_policy_enforcement, assume_role_validation, cfn_inline_policies)
    ours = [ext for ext in extensions if not ext.is_installed()]
    for extension in ours:
        extension.install()

    def restore() -> None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved_auth
        for extension in ours:
            extension.uninstall()

    return restore


def _seed(endpoint_url: str) -> _Seeded:
    """Create the source user, the agent role and the buckets through moto's API."""
    clients: dict[str, Any] = {
        name: boto3.client(name, endpoint_url=endpoint_url, region_name=REGION, **_SEEDING_CREDENTIALS)
        for name in ("iam", "s3")
    }
    iam = clients["iam"]
    user_arn = str(iam.create_user(UserName=SOURCE_USER)["User"]["Arn"])
    role_arn = _seed_role(iam, trusted_arn=user_arn)
    key_id, secret = _seed_source_key(iam, role_arn)
    _seed_buckets(clients["s3"])
    # moto's account (123456789012 unless MOTO_ACCOUNT_ID says otherwise), as AWS reports it.
    return _Seeded(user_arn.split(":")[4], role_arn, key_id, secret)


def _seed_role(iam: Any, *, trusted_arn: str) -> str:
    # The role may do far more than any grant; the session policy is what narrows it.
    trust = _policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": trusted_arn},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        }
    )
    role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=trust, MaxSessionDuration=43200)
    iam.put_role_policy(
        RoleName=ROLE_NAME,
        PolicyName="broad-s3",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    )
    arn = str(role["Role"]["Arn"])
    # What an enrolled role carries so the broker can revoke sessions: the IAM calls on its own
    # policies, for the broker's revoker session only (every other session is denied all IAM on the role).
    iam.put_role_policy(
        RoleName=ROLE_NAME,
        PolicyName="cloud-broker-revocation-upkeep",  # as `cloud-broker enroll aws` names it
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": list(REVOCATION_ACTIONS), "Resource": arn},
            {"Effect": "Deny", "Action": "iam:*", "Resource": arn,
             "Condition": {"StringNotLike": {"aws:userid": REVOKER_USERID_PATTERN}}},
        ),
    )
    return arn


def _seed_source_key(iam: Any, role_arn: str) -> tuple[str, str]:
    # The broker's own identity may only assume the agent role (and tag and name the session).
    iam.put_user_policy(
        UserName=SOURCE_USER,
        PolicyName="assume-agent-role",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
             "Resource": role_arn}
        ),
    )
    key = iam.create_access_key(UserName=SOURCE_USER)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def _seed_buckets(s3: Any) -> None:
    for bucket, key, body in (
        (REPORTS_BUCKET, REPORTS_KEY, REPORTS_CSV),
        (FINANCE_BUCKET, FINANCE_KEY, FINANCE_CSV),
    ):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _post(url: str) -> None:
    with _OPENER.open(urllib.request.Request(url, method="POST"), timeout=10):
        pass


def _require_enforcement(endpoint_url: str) -> None:
    """A request signed with an unknown key must be refused, or the sandbox lies.

    (An unsigned S3 read is no test: moto refuses it by object ACL even with auth off.)
    """
    sts = boto3.client("sts", endpoint_url=endpoint_url, region_name=REGION, **_UNKNOWN_CREDENTIALS)
    try:
        sts.get_caller_identity()
    except ClientError as refused:
        if refused.response["Error"]["Code"] == "InvalidClientTokenId":
            return
        raise RuntimeError("emulator refused an unknown key oddly") from refused
    raise RuntimeError("emulator accepted an unknown access key: IAM enforcement is off")


def _require_closed_control_api(endpoint_url: str) -> None:
    """moto's state dump must be refused, or anyone on the machine can read every secret key."""
    try:
        with _OPENER.open(f"{endpoint_url}/moto-api/data.json", timeout=10):
            pass
    except urllib.error.HTTPError as refused:
        if refused.code == 403:
            return
        raise RuntimeError(f"emulator answered {refused.code} for moto's control API, not 403") from refused
    raise RuntimeError("emulator serves moto's control API after seeding")
