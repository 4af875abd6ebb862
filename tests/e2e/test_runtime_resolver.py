"""The runtime's resolver across real processes: ``cloud-broker serve --sandbox`` with its team
``runtime_only``, the real AWS CLI through a ``credential_process`` profile and ``exec``, boto3
through the local container endpoint, ``google-cloud-storage`` through the local metadata
endpoint (unmodified ``storage.Client()``) and through ``exec``; refusals; and no value in the
resolver's output, the broker's log or the audit trail."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest

from cloud_broker.cli.sandbox_process import SandboxProcess
from tests.e2e.runtime_support import CLOUD_BROKER, aws, new_grant, release, run, runtime_env, values_of

pytestmark = pytest.mark.e2e

BOTO3_READ = """\
import os, boto3
assert "AWS_ACCESS_KEY_ID" not in os.environ and "AWS_SECRET_ACCESS_KEY" not in os.environ
s3 = boto3.client("s3", endpoint_url=os.environ["EP"])
print(s3.get_object(Bucket="reports", Key="today.csv")["Body"].read().decode().splitlines()[0])
print(type(boto3.Session().get_credentials()).__name__, boto3.Session().get_credentials().method)
"""
GCS_DEFAULT_CREDENTIALS = """\
import os
from google.cloud import storage
client = storage.Client(client_options={"api_endpoint": os.environ["GCS"]})
print(client.project)
print(client.bucket("reports").blob("today.csv").download_as_bytes().decode().splitlines()[0])
"""
GCS_FROM_EXEC = """\
import os
from google.cloud import storage
from google.oauth2.credentials import Credentials
token = Credentials(token=os.environ["GOOGLE_OAUTH_ACCESS_TOKEN"])
assert os.environ["CLOUDSDK_AUTH_ACCESS_TOKEN"] == token.token
client = storage.Client(project=os.environ["PROJECT"], credentials=token, client_options={"api_endpoint": os.environ["GCS"]})
print(client.bucket("reports").blob("today.csv").download_as_bytes().decode().splitlines()[0])
"""
PROBE = """\
import json, os, socket, urllib.request, urllib.error
def status(url, headers):
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code
out = {}
if "AWS_CONTAINER_CREDENTIALS_FULL_URI" in os.environ:
    url, token = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    out = {"none": status(url, {}), "wrong": status(url, {"Authorization": token[:-1] + "x"}),
           "right": status(url, {"Authorization": token})}
else:
    root = "http://" + os.environ["GCE_METADATA_HOST"]
    base, capability = root.rsplit("/", 1)
    path = "/computeMetadata/v1/project/project-id"
    out = {"none": status(root + path, {}), "wrong": status(base + "/x" + capability[1:] + path, {"Metadata-Flavor": "Google"}),
           "right": status(root + path, {"Metadata-Flavor": "Google"}), "ping": status(root, {"Metadata-Flavor": "Google"})}
    url = root
port = int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
other = os.environ.get("OTHER_ADDRESS")
if other:
    try:
        socket.create_connection((other, port), timeout=5).close()
        out["other_address"] = "connected"
    except OSError:
        out["other_address"] = "refused"
print(json.dumps(out))
"""


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_aws_cli_resolves_a_credential_process_profile(runtime_sandbox: SandboxProcess, tmp_path: Path) -> None:
    grant = new_grant(runtime_sandbox, "aws")
    env = runtime_env(runtime_sandbox, tmp_path)
    written = run([CLOUD_BROKER, "aws-profile", grant["secret_ref"], "--profile", "agent-task", "--write"], env)
    assert written.returncode == 0, written.stderr
    again = run([CLOUD_BROKER, "aws-profile", grant["secret_ref"], "--profile", "agent-task", "--write"], env)
    config = (tmp_path / "aws-config").read_text()
    assert again.returncode == 0 and config.count("[profile agent-task]") == 1
    assert f"credential_process = {CLOUD_BROKER} credential-process {grant['secret_ref']}" in config
    read = aws(["--profile", "agent-task", "s3", "cp", "s3://reports/today.csv", "-"], runtime_sandbox, env)
    assert read.returncode == 0 and read.stdout.startswith("date,"), read.stderr
    refused = aws(["--profile", "agent-task", "s3", "cp", "s3://finance/q3.csv", "-"], runtime_sandbox, env)
    assert refused.returncode != 0 and ("AccessDenied" in refused.stderr or "(403)" in refused.stderr)
    document = run([CLOUD_BROKER, "credential-process", grant["secret_ref"]], env)
    parsed = json.loads(document.stdout)
    assert parsed["Version"] == 1 and set(parsed) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                                                      "Expiration"}
    assert parsed["Expiration"] == grant["expires_at"] and document.stderr == ""
    for value in values_of(runtime_sandbox, grant["secret_ref"]):
        assert value not in written.stdout + written.stderr + config + read.stderr + refused.stderr
    release(runtime_sandbox, "aws", grant["grant_id"])
    after = aws(["--profile", "agent-task", "s3", "cp", "s3://reports/today.csv", "-"], runtime_sandbox, env)
    assert after.returncode != 0 and "409: GRANT_RELEASED" in after.stderr, after.stderr


def test_exec_sets_the_values_for_the_command_alone_and_passes_its_exit_code(runtime_sandbox: SandboxProcess,
                                                                              tmp_path: Path) -> None:
    grant = new_grant(runtime_sandbox, "aws")
    env = runtime_env(runtime_sandbox, tmp_path)
    ep = runtime_sandbox.info["aws_endpoint_url"]
    child = (f"aws --endpoint-url {ep} s3 cp s3://reports/today.csv - | head -1; "
             "env | grep -o '^AWS_[A-Z_]*' | sort; exit 3")
    ran = run([CLOUD_BROKER, "exec", grant["secret_ref"], "--", "sh", "-c", child], env)
    assert ran.returncode == 3, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "date,region,revenue"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"} <= set(lines)
    for value in values_of(runtime_sandbox, grant["secret_ref"]):
        assert value not in ran.stdout + ran.stderr


def test_boto3_fetches_from_the_container_endpoint(runtime_sandbox: SandboxProcess, tmp_path: Path) -> None:
    grant = new_grant(runtime_sandbox, "aws")
    env = runtime_env(runtime_sandbox, tmp_path, EP=runtime_sandbox.info["aws_endpoint_url"],
                      AWS_ACCESS_KEY_ID="AKIA" + "PARENTSHADOW0000", AWS_SECRET_ACCESS_KEY="parent-shadow")
    ran = run([CLOUD_BROKER, "exec", "--server", grant["secret_ref"], "--", "python",
               _script(tmp_path, "boto3_read.py", BOTO3_READ)], env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["date,region,revenue", "RefreshableCredentials container-role"]
    for value in values_of(runtime_sandbox, grant["secret_ref"]):
        assert value not in ran.stdout + ran.stderr


@pytest.mark.parametrize("family", ["aws", "gcp"])
def test_the_local_endpoint_wants_its_token_and_listens_on_loopback_only(runtime_sandbox: SandboxProcess,
                                                                         tmp_path: Path, family: str) -> None:
    grant = new_grant(runtime_sandbox, family)
    other = _non_loopback_address()
    env = runtime_env(runtime_sandbox, tmp_path, **({"OTHER_ADDRESS": other} if other else {}))
    ran = run([CLOUD_BROKER, "exec", "--server", grant["secret_ref"], "--", "python",
               _script(tmp_path, "probe.py", PROBE)], env)
    assert ran.returncode == 0, ran.stderr
    statuses = json.loads(ran.stdout)
    assert statuses["none"] == 403 and statuses["wrong"] in (403, 404) and statuses["right"] == 200
    if family == "gcp":
        assert statuses["ping"] == 200
    if other:
        assert statuses["other_address"] == "refused"


def test_google_cloud_storage_default_credentials_use_the_metadata_endpoint(runtime_sandbox: SandboxProcess,
                                                                            tmp_path: Path) -> None:
    grant = new_grant(runtime_sandbox, "gcp")
    env = runtime_env(runtime_sandbox, tmp_path, GCS=runtime_sandbox.info["gcs_endpoint_url"],
                      GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "absent.json"),
                      CLOUDSDK_CONFIG=str(tmp_path / "gcloud"))
    ran = run([CLOUD_BROKER, "exec", "--server", grant["secret_ref"], "--", "python",
               _script(tmp_path, "gcs_default.py", GCS_DEFAULT_CREDENTIALS)], env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [runtime_sandbox.info["gcp_project_id"], "date,region,revenue"]
    for value in values_of(runtime_sandbox, grant["secret_ref"]):
        assert value not in ran.stdout + ran.stderr


def test_google_cloud_storage_through_exec(runtime_sandbox: SandboxProcess, tmp_path: Path) -> None:
    grant = new_grant(runtime_sandbox, "gcp")
    env = runtime_env(runtime_sandbox, tmp_path, GCS=runtime_sandbox.info["gcs_endpoint_url"],
                      PROJECT=runtime_sandbox.info["gcp_project_id"])
    ran = run([CLOUD_BROKER, "exec", grant["secret_ref"], "--", "python",
               _script(tmp_path, "gcs_exec.py", GCS_FROM_EXEC)], env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "date,region,revenue"


def test_refusals_carry_the_contracts_status_and_no_value(runtime_sandbox: SandboxProcess, tmp_path: Path) -> None:
    env = runtime_env(runtime_sandbox, tmp_path)
    grant = new_grant(runtime_sandbox, "aws")
    run_id, grant_id = grant["secret_ref"].split("/")[-2:]
    other_run = grant["secret_ref"].replace(run_id, str(uuid.uuid4()))
    unknown = grant["secret_ref"].replace(grant_id, str(uuid.uuid4()))
    cases = {"malformed": ("secret_ref://aws/runs/nope", "400"), "other run": (other_run, "404"),
             "unknown grant": (unknown, "404")}
    for name, (ref, status) in cases.items():
        refused = run([CLOUD_BROKER, "credential-process", ref], env)
        assert refused.returncode == 1 and refused.stdout == "", name
        assert f"Broker error {status}" in refused.stderr, (name, refused.stderr)
    stranger = run([CLOUD_BROKER, "credential-process", grant["secret_ref"]], {**env, "AGT_AGENT_ID": str(uuid.uuid4())})
    assert stranger.returncode == 1 and "Broker error 403: AGENT_NOT_ALLOWED" in stranger.stderr
    values = values_of(runtime_sandbox, grant["secret_ref"])
    release(runtime_sandbox, "aws", grant["grant_id"])
    for command in (["credential-process", grant["secret_ref"]], ["exec", grant["secret_ref"], "--", "true"],
                    ["exec", "--server", grant["secret_ref"], "--", "true"],
                    ["exec", grant["secret_ref"], "--server", "--", "true"]):
        refused = run([CLOUD_BROKER, *command], env)
        assert refused.returncode == 1 and "Broker error 409: GRANT_RELEASED" in refused.stderr, refused.stderr
        assert all(value not in refused.stdout + refused.stderr for value in values)
    misplaced = run([CLOUD_BROKER, "exec", grant["secret_ref"], "--verbose", "--", "true"], env)
    assert misplaced.returncode == 2 and "only --server" in misplaced.stderr
    missing = run([CLOUD_BROKER, "credential-process", grant["secret_ref"]], {**env, "AGT_API_KEY": ""})
    assert missing.returncode == 2 and "AGT_TOKEN or AGT_API_KEY" in missing.stderr


def test_every_resolution_is_audited_with_its_mechanism_and_no_value(runtime_sandbox: SandboxProcess,
                                                                      tmp_path: Path) -> None:
    grant = new_grant(runtime_sandbox, "aws")
    env = runtime_env(runtime_sandbox, tmp_path)
    assert run([CLOUD_BROKER, "credential-process", grant["secret_ref"]], env).returncode == 0
    assert run([CLOUD_BROKER, "exec", grant["secret_ref"], "--", "true"], env).returncode == 0
    values = values_of(runtime_sandbox, grant["secret_ref"])
    trail = run([CLOUD_BROKER, "audit", "--grant", grant["grant_id"], "--state-dir", str(runtime_sandbox.state_dir)],
                env)
    rows = [json.loads(line) for line in trail.stdout.splitlines()]
    resolved = [row for row in rows if row["event"] == "credentials.resolved"]
    assert [row["detail"]["mechanism"] for row in resolved] == ["credential_process", "exec", "exec"]
    assert all(row["agent_id"] == runtime_sandbox.info["agent_id"] for row in resolved)
    log = runtime_sandbox.log_path.read_text()
    for value in values:
        assert value not in trail.stdout and value not in log


def test_the_embedded_broker_resolves_in_process(runtime_sandbox: SandboxProcess, tmp_path: Path) -> None:
    """``--config``/``--state-dir`` as given to ``cloud-broker mcp --config``: no AGT_HOST, no key."""
    grant = new_grant(runtime_sandbox, "aws")
    state = runtime_sandbox.state_dir
    embedded = ["--config", str(state / "broker.yaml"), "--state-dir", str(state)]
    env = {k: v for k, v in runtime_env(runtime_sandbox, tmp_path).items() if k not in ("AGT_HOST", "AGT_API_KEY")}
    written = run([CLOUD_BROKER, "aws-profile", grant["secret_ref"], "--profile", "embedded", "--write", *embedded], env)
    assert written.returncode == 0, written.stderr
    read = aws(["--profile", "embedded", "s3", "cp", "s3://reports/today.csv", "-"], runtime_sandbox, env)
    assert read.returncode == 0 and read.stdout.startswith("date,"), read.stderr
    stranger = run([CLOUD_BROKER, "credential-process", *embedded, grant["secret_ref"]],
                   {**env, "AGT_AGENT_ID": str(uuid.uuid4())})
    assert stranger.returncode == 2 and "AGT_AGENT_ID must name an agent" in stranger.stderr
