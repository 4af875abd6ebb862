"""``/metrics``: what the broker did, in the Prometheus text format, with labels from closed sets
only; ``/healthz`` and ``/readyz`` for probes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from cloud_broker.errors import ProviderError
from cloud_broker.observability.labels import OPERATIONS, OUTCOMES, STATUSES
from cloud_broker.observability.metrics import BrokerMetrics
from cloud_broker.service.jobs import Attempt, after_attempt, new_job
from cloud_broker.store.schema import head_revision as expected_revision
from tests.api.conftest import BrokerUnderTest, PassThrough, broker_under_test

WRITE = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"]}


class Throttled(PassThrough):
    """The cloud refusing the rate of every call, as the AWS provider reports it."""

    def mint(self, plan: Any) -> Any:
        raise ProviderError("STS AssumeRole failed: Throttling: Rate exceeded", code="AWS_THROTTLING",
                            retryable=True, throttled=True)


@pytest.fixture
def mb(emulator: Any, tmp_path: Path) -> Iterator[BrokerUnderTest]:
    with broker_under_test(emulator, tmp_path, metrics=BrokerMetrics(["aws", "gcp"])) as under_test:
        yield under_test


def scrape(bt: BrokerUnderTest) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = bt.client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_an_auto_approved_grant_is_counted_through_its_transitions_and_timed(mb: BrokerUnderTest) -> None:
    assert mb.client.post("/aws/grants", json=mb.grant_body(), headers=mb.headers()).json()["status"] == "active"
    samples = scrape(mb)
    for status in ("minting", "active"):
        assert value(samples, "cloud_broker_grants_total", family="aws", outcome="auto_approve", status=status) == 1
    assert value(samples, "cloud_broker_decision_seconds_count", family="aws", outcome="auto_approve") == 1
    assert value(samples, "cloud_broker_mint_seconds_count", family="aws", result="ok") == 1
    assert value(samples, "cloud_broker_provider_errors_total", family="aws", operation="mint", retryable="true") == 0


def test_the_queue_is_read_from_the_store_and_an_approval_records_the_wait(mb: BrokerUnderTest) -> None:
    grant_id = mb.client.post("/aws/grants", json=mb.grant_body(**WRITE), headers=mb.headers()).json()["grant_id"]
    mb.clock.offset += timedelta(seconds=120)
    samples = scrape(mb)
    assert value(samples, "cloud_broker_pending_grants", family="aws") == 1
    assert value(samples, "cloud_broker_pending_grants", family="gcp") == 0
    assert value(samples, "cloud_broker_pending_oldest_age_seconds", family="aws") >= 120
    assert value(samples, "cloud_broker_store_up") == 1
    mb.broker.approvals.approve(grant_id, "alice")
    samples = scrape(mb)
    assert value(samples, "cloud_broker_pending_grants", family="aws") == 0
    assert value(samples, "cloud_broker_approval_wait_seconds_count", family="aws", status="minting") == 1
    assert value(samples, "cloud_broker_approval_wait_seconds_sum", family="aws", status="minting") >= 120
    assert value(samples, "cloud_broker_grants_total", family="aws", outcome="route_to_approver", status="active") == 1


def test_a_throttled_mint_counts_as_an_error_and_a_throttle(emulator: Any, tmp_path: Path) -> None:
    with broker_under_test(emulator, tmp_path, provider=Throttled, metrics=BrokerMetrics(["aws"])) as tb:
        assert tb.client.post("/aws/grants", json=tb.grant_body(), headers=tb.headers()).json()["status"] == "failed"
        samples = scrape(tb)
    assert value(samples, "cloud_broker_provider_errors_total", family="aws", operation="mint", retryable="true") == 1
    assert value(samples, "cloud_broker_provider_throttles_total", family="aws", operation="mint") == 1
    assert value(samples, "cloud_broker_mint_seconds_count", family="aws", result="error") == 1
    assert value(samples, "cloud_broker_grants_total", family="aws", outcome="auto_approve", status="failed") == 1


def test_failed_job_attempts_and_given_up_jobs_are_counted_by_kind(mb: BrokerUnderTest) -> None:
    now = mb.clock()
    with mb.broker.deps.store.unit_of_work() as uow:
        ids = [uow.insert_delivery(new_job("webhook_page", f"hook-{n}", grant_id=None, event_seq=n, payload={},
                                           now=now)) for n in (1, 2)]
    jobs = [replace(new_job("webhook_page", f"hook-{n}", grant_id=None, event_seq=n, payload={}, now=now), id=i)
            for n, i in zip((1, 2), ids, strict=True)]
    with mb.broker.deps.store.unit_of_work() as uow:
        uow.update_delivery(after_attempt(jobs[0], Attempt(False, 500, "HTTP 500"), now))  # retried later
        uow.update_delivery(after_attempt(jobs[1], Attempt(False, 500, "HTTP 500"), now, max_attempts=1))
    with pytest.raises(RuntimeError), mb.broker.deps.store.unit_of_work() as uow:
        uow.update_delivery(after_attempt(jobs[1], Attempt(False, 500, "HTTP 500"), now, max_attempts=1))
        raise RuntimeError("rolled back: never counted")
    samples = scrape(mb)
    assert value(samples, "cloud_broker_job_attempt_failures_total", kind="webhook_page") == 1
    assert value(samples, "cloud_broker_jobs_failed_total", kind="webhook_page") == 1


def test_open_event_streams_are_a_gauge(mb: BrokerUnderTest) -> None:
    slots = mb.client.app.state.event_streams  # type: ignore[attr-defined]
    assert slots.acquire("host-a") and slots.acquire("host-a")
    assert value(scrape(mb), "cloud_broker_event_streams") == 2
    slots.release("host-a")
    assert value(scrape(mb), "cloud_broker_event_streams") == 1


def test_labels_come_from_closed_sets_and_no_id_or_secret_is_shown(mb: BrokerUnderTest) -> None:
    reply = mb.client.post("/aws/grants", json=mb.grant_body(), headers=mb.headers()).json()
    mb.client.post("/aws/grants", json=mb.grant_body(**WRITE), headers=mb.headers())
    creds = mb.client.post(f"/aws/grants/{reply['grant_id']}/credentials", params={"agent_id": mb.agent_id},
                           headers=mb.headers()).json()["credentials"]
    body = mb.client.get("/metrics").text
    for forbidden in (mb.agent_id, reply["grant_id"], mb.host_key, *creds.values()):
        assert forbidden not in body
    allowed = {"family": {"aws", "gcp"}, "outcome": OUTCOMES, "status": STATUSES, "operation": set(OPERATIONS),
               "retryable": {"true", "false"}, "result": {"ok", "error"}, "kind": {"webhook_page"}}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                if label != "le":
                    assert label_value in allowed[label], (sample.name, label, label_value)


def test_each_app_has_its_own_registry(emulator: Any, tmp_path: Path, mb: BrokerUnderTest) -> None:
    mb.client.post("/aws/grants", json=mb.grant_body(), headers=mb.headers())
    with broker_under_test(emulator, tmp_path / "other", metrics=BrokerMetrics(["aws"])) as other:
        samples = scrape(other)
    assert value(samples, "cloud_broker_grants_total", family="aws", outcome="auto_approve", status="active") == 0


def test_healthz_and_readyz_answer_without_a_token(mb: BrokerUnderTest) -> None:
    assert mb.client.get("/healthz").json() == {"ok": True}
    assert mb.client.get("/readyz").status_code == 200


def test_readyz_is_503_with_the_envelope_when_the_schema_is_not_this_codes(mb: BrokerUnderTest) -> None:
    with mb.broker.deps.store.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    reply = mb.client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json() == {"error": f"NOT_READY: the store's schema is at revision 0006; this broker needs "
                                     f"{expected_revision()}", "error_code": "NOT_READY",
                            "request_id": reply.headers["x-request-id"]}


def test_readyz_is_503_when_the_store_has_no_schema_version(mb: BrokerUnderTest) -> None:
    with mb.broker.deps.store.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("DROP TABLE alembic_version"))
    reply = mb.client.get("/readyz")
    assert reply.status_code == 503 and reply.json()["error_code"] == "NOT_READY"


def test_the_aws_provider_marks_throttling_apart_from_other_refusals() -> None:
    from botocore.exceptions import ClientError

    from cloud_broker.families.aws.provider import _translate

    def refusal(code: str) -> ProviderError:
        return _translate(ClientError({"Error": {"Code": code, "Message": "no"}}, "AssumeRole"))

    assert refusal("Throttling").throttled and refusal("Throttling").retryable
    assert not refusal("AccessDenied").throttled


def test_a_store_that_does_not_answer_reads_as_down_and_the_scrape_still_succeeds() -> None:
    from datetime import UTC, datetime

    metrics = BrokerMetrics(["aws"])

    def refusing(limit: int) -> list[Any]:
        raise OSError("disk gone")

    metrics.scrape.watch(refusing, lambda: datetime.now(UTC), lambda: 0)
    samples = {s.name: s.value for f in text_string_to_metric_families(metrics.render().decode()) for s in f.samples}
    assert samples["cloud_broker_store_up"] == 0 and samples["cloud_broker_event_streams"] == 0
    assert "cloud_broker_pending_grants" not in samples
