"""``cloud-broker enroll``: what an operator deploys in a cloud account before the broker can mint.

Every input is checked, and every file rendered, before anything is written: a bad account id,
principal or a config without a ceiling for the target exits 2 with the reason and leaves the
output directory as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.options import fail
from cloud_broker.errors import BrokerError

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig

enroll_app = typer.Typer(help="Emit what a cloud account needs for the broker (templates, modules).\n\n\b\n"
                              "Example:\n  cloud-broker enroll aws --account-id 123456789012 "
                              "--broker-principal arn:aws:iam::111122223333:role/cloud-broker",
                         no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", help="Directory to write the files into")]
EnrolConfigOpt = Annotated[Path | None, typer.Option("--config", help="broker.yaml whose ceilings bound the role")]


@enroll_app.command("aws")
def aws(
    account_id: Annotated[str, typer.Option("--account-id", help="The 12-digit account the role lives in")],
    broker_principal: Annotated[str, typer.Option("--broker-principal",
                                                  help="ARN of the broker's own IAM user or role")],
    external_id: Annotated[str | None, typer.Option("--external-id", help="Required by the trust policy")] = None,
    role_name: Annotated[str, typer.Option("--role-name")] = "cloud-broker-agent",
    config: EnrolConfigOpt = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help="An action sessions may ever use "
                                                    "(repeatable; added to the ceilings' rules)")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource", help="Resources of --allow (default *)")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Allowed regions (without --config)")] = None,
    allow_any_action: Annotated[bool, typer.Option("--allow-any-action",
                                                   help="Let the boundary allow every action")] = False,
    max_ttl_seconds: Annotated[int | None, typer.Option("--max-ttl-seconds", min=300, max=43200,
                                                        help="Longest grant (without --config)")] = None,
    out: OutOpt = Path("cloud-broker-enrolment"),
) -> None:
    """Write a CloudFormation template, a Terraform module and the broker.yaml entry for the role.

    \b
    Example:
      cloud-broker enroll aws --account-id 123456789012 \\
        --broker-principal arn:aws:iam::111122223333:role/cloud-broker --config broker.yaml
    """
    from cloud_broker.families.aws.enrolment import cloudformation, fragment, terraform
    from cloud_broker.families.aws.enrolment.documents import build_documents
    from cloud_broker.families.aws.enrolment.spec import build_spec

    try:
        spec = build_spec(
            account_id=account_id, broker_principal=broker_principal, role_name=role_name,
            external_id=external_id, config=_load(config), allow=tuple(allow or ()),
            resources=tuple(resource or ()), regions=tuple(region or ()), any_action=allow_any_action,
            max_ttl_seconds=max_ttl_seconds,
        )
        docs = build_documents(spec)
    except BrokerError as exc:
        raise fail(exc) from None
    _write(out, {
        "cloudformation/cloud-broker-role.json": cloudformation.render(docs),
        "terraform/main.tf": terraform.module(docs),
        "broker-aws-account.yaml": fragment.render(spec),
    }, docs.notes)


@enroll_app.command("gcp")
def gcp(
    project: Annotated[str, typer.Option("--project", help="The project id")],
    broker_principal: Annotated[str, typer.Option("--broker-principal",
                                                  help="The broker's own service account e-mail")],
    config: EnrolConfigOpt = None,
    service_account: Annotated[str | None, typer.Option("--service-account",
                                                        help="The account to create (without --config)")] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help="A permission it may hold "
                                                    "(repeatable; without --config)")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource", help="Where (default: the project)")] = None,
    out: OutOpt = Path("cloud-broker-enrolment"),
) -> None:
    """Write a Terraform module (service accounts, roles, bindings) and the broker.yaml entry.

    \b
    Example:
      cloud-broker enroll gcp --project reports-prod-42 \\
        --broker-principal broker@ops-1234.iam.gserviceaccount.com --config broker.yaml
    """
    from cloud_broker.families.gcp import lookups
    from cloud_broker.families.gcp.catalogue import GcpCatalogue
    from cloud_broker.families.gcp.enrolment import fragment, terraform
    from cloud_broker.families.gcp.enrolment.documents import ExplicitCeiling, build_enrolment

    explicit = None
    if service_account is not None:
        explicit = ExplicitCeiling(service_account, tuple(allow or ()), tuple(resource or ("*",)))
    try:
        loaded = _load(config)
        enrolment = build_enrolment(project, broker_principal, loaded, GcpCatalogue.default(), explicit)
    except BrokerError as exc:
        raise fail(exc) from None
    known = lookups.project(loaded, project) if loaded is not None else None
    _write(out, {
        "terraform/main.tf": terraform.module(enrolment),
        "broker-gcp-project.yaml": fragment.render(enrolment, known.display_name if known else project),
    }, ())


def _load(path: Path | None) -> BrokerConfig | None:
    if path is None:
        return None
    from cloud_broker.config import load_config

    return load_config(path)


def _write(out: Path, files: dict[str, str], notes: tuple[str, ...]) -> None:
    from cloud_broker.enrolment.files import write_all

    for path in write_all(out, files):
        typer.echo(f"wrote {path}")
    for note in notes:
        typer.echo(f"note: {note}")
