"""Running the AWS CLI with a grant's credentials, as an agent's runtime would."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cloud_broker.cli.sandbox_process import child_env


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def access_denied(self) -> bool:
        """Refused by IAM. A HEAD request (``s3 cp`` starts with one) has no body, so AWS's
        refusal reaches the CLI as a bare 403 Forbidden instead of the AccessDenied code."""
        return self.returncode != 0 and ("AccessDenied" in self.stderr
                                         or "(403) when calling the HeadObject operation: Forbidden" in self.stderr)


def aws_executable() -> str:
    """The ``aws`` installed beside this interpreter (the sandbox extra), else the one on PATH."""
    beside = Path(sys.executable).parent / "aws"
    found = str(beside) if beside.exists() else shutil.which("aws")
    if not found:
        raise RuntimeError("the AWS CLI is not installed; install cloud-broker[sandbox]")
    return found


def run_aws(args: list[str], credentials: dict[str, str], *, endpoint_url: str, region: str,
            stdin: str | None = None) -> CliResult:
    """``aws ARGS`` with only the grant's credentials: no profile or file of this machine leaks in."""
    empty = Path(tempfile.mkdtemp(prefix="cloud-broker-aws-")) / "none"
    env = child_env(
        AWS_ACCESS_KEY_ID=credentials["access_key_id"],
        AWS_SECRET_ACCESS_KEY=credentials["secret_access_key"],
        AWS_SESSION_TOKEN=credentials["session_token"],
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
    )
    proc = subprocess.run(
        [aws_executable(), *args, "--endpoint-url", endpoint_url, "--region", region],
        input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
