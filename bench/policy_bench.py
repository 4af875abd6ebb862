"""Policy-engine throughput: decisions per second against a large, realistic ceiling.

Run: PYTHONPATH=src python bench/policy_bench.py   (BENCH_REQUESTS=… to change the request count)

The ceiling has 200 auto-approve rules of 20 patterns each (about 7 action patterns and 13
resource patterns per rule, over 8 services) plus a denylist. Requests are distinct and mixed:
about 60 % should auto-approve, 25 % route to an approver, 15 % be hard-denied. The first
("cold") pass starts with empty pattern caches and a freshly compiled ceiling; the second
("warm") pass replays the same requests. Figures only — nothing here asserts on time.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling
from cloud_broker.families.aws.decide import decide
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.policy import patterns
from cloud_broker.policy.compiled import compile_ceiling

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
RULES, PATTERNS_PER_RULE, REQUESTS = 200, 20, int(os.environ.get("BENCH_REQUESTS", "5000"))
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Service:
    actions: tuple[str, ...]  # what rules grant (concrete names and patterns)
    extra: tuple[str, ...]  # real actions no rule grants: requests for them are routed
    arn: str  # resource template; {r} region, {a} account, {n} name


SERVICES = (
    Service(("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectTagging",
             "s3:List*", "s3:*Object"), ("s3:PutBucketPolicy", "s3:PutLifecycleConfiguration"), "arn:aws:s3:::{n}/*"),
    Service(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:PutItem",
             "dynamodb:Describe*", "dynamodb:UpdateItem"), ("dynamodb:DeleteTable", "dynamodb:UpdateTable"),
            "arn:aws:dynamodb:{r}:{a}:table/{n}"),
    Service(("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
             "sqs:ChangeMessageVisibility", "sqs:List*"), ("sqs:PurgeQueue", "sqs:SetQueueAttributes"),
            "arn:aws:sqs:{r}:{a}:{n}"),
    Service(("lambda:InvokeFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:List*",
             "lambda:GetAlias", "lambda:InvokeAsync", "lambda:GetPolicy"), ("lambda:UpdateFunctionCode",),
            "arn:aws:lambda:{r}:{a}:function:{n}"),
    Service(("logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams", "logs:Describe*", "logs:GetQueryResults",
             "logs:StartQuery", "logs:Get*"), ("logs:DeleteLogGroup", "logs:PutRetentionPolicy"),
            "arn:aws:logs:{r}:{a}:log-group:/app/{n}:*"),
    Service(("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds",
             "secretsmanager:GetResourcePolicy", "secretsmanager:Describe*", "secretsmanager:List*", "secretsmanager:Get*"),
            ("secretsmanager:PutSecretValue",), "arn:aws:secretsmanager:{r}:{a}:secret:{n}/*"),
    Service(("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:DescribeParameters",
             "ssm:GetParameterHistory", "ssm:Get*", "ssm:ListTagsForResource"), ("ssm:PutParameter", "ssm:DeleteParameter"),
            "arn:aws:ssm:{r}:{a}:parameter/{n}/*"),
    Service(("kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream", "kinesis:ListShards",
             "kinesis:PutRecord", "kinesis:PutRecords", "kinesis:Describe*"), ("kinesis:DeleteStream",),
            "arn:aws:kinesis:{r}:{a}:stream/{n}"),
)
DENYLIST = ("iam:*", "organizations:*", "sts:*", "kms:ScheduleKeyDeletion", "s3:DeleteBucket*", "secretsmanager:DeleteSecret")


def arn(service: Service, name: str, region: str = "*") -> str:
    return service.arn.format(r=region, a=ACCOUNT, n=name)


RuleSpec = tuple[AutoApproveRule, Service, list[str]]  # the rule, its service, its resource names


def build_ceiling(rng: random.Random) -> tuple[Ceiling, list[RuleSpec]]:
    rules = []
    for index in range(RULES):
        service = SERVICES[index % len(SERVICES)]
        n_actions = rng.randint(5, 7)
        names = [f"team{index:03d}-{word}{k}" for k, word in enumerate(rng.sample(WORDS, PATTERNS_PER_RULE - n_actions))]
        resources = tuple(arn(service, name + ("*" if k % 3 == 0 else "")) for k, name in enumerate(names))
        rule = AutoApproveRule(f"rule-{index:03d}", tuple(rng.sample(service.actions, n_actions)), resources)
        rules.append((rule, service, names))
    ceiling = Ceiling(ACCOUNT, timedelta(hours=1), REGIONS, tuple(r for r, _, _ in rules), DENYLIST)
    return ceiling, rules


WORDS = ("reports", "ingest", "billing", "events", "models", "exports", "orders", "audit", "metrics", "search",
         "alerts", "images", "users", "sessions", "feeds", "archive", "staging", "cache", "ledger", "jobs")


def build_requests(rng: random.Random, rules: list[RuleSpec]) -> list[AwsAccessRequest]:
    makers = [auto_request] * 12 + [route_request] * 5 + [deny_request] * 3
    return [rng.choice(makers)(rng, *rng.choice(rules), serial) for serial in range(REQUESTS)]


def auto_request(rng: random.Random, rule: AutoApproveRule, service: Service, names: list[str], serial: int) -> AwsAccessRequest:
    actions = tuple(rng.sample(rule.actions, rng.randint(1, 3)))
    picks = rng.sample(range(len(names)), rng.randint(1, 2))
    # Names ending in * in the rule get a suffix: the request is narrower than the rule.
    resources = tuple(arn(service, names[k] + (f"-{serial}" if k % 3 == 0 else ""), rng.choice(REGIONS)) for k in picks)
    return AwsAccessRequest(ACCOUNT, actions, resources, (rng.choice(REGIONS),))


def route_request(rng: random.Random, rule: AutoApproveRule, service: Service, names: list[str], serial: int) -> AwsAccessRequest:
    actions = (rng.choice(rule.actions), rng.choice(service.extra))
    resources = (arn(service, f"other-{serial}"), arn(service, rng.choice(names)))
    return AwsAccessRequest(ACCOUNT, actions, resources, REGIONS)


def deny_request(rng: random.Random, rule: AutoApproveRule, service: Service, names: list[str], serial: int) -> AwsAccessRequest:
    base = auto_request(rng, rule, service, names, serial)
    kind = serial % 4
    if kind == 0:
        return AwsAccessRequest(ACCOUNT, base.actions, base.resources, ("ap-south-1",))
    if kind == 1:
        return AwsAccessRequest(ACCOUNT, (*base.actions, "iam:PassRole"), base.resources, base.regions)
    if kind == 2:
        return AwsAccessRequest(ACCOUNT, (rule.actions[0] + "x",), base.resources, base.regions)
    return AwsAccessRequest(ACCOUNT, base.actions, (arn(service, f"x{serial}").replace(ACCOUNT, "999999999999"),), base.regions)


def run(requests: list[AwsAccessRequest], ceiling: Ceiling, catalogue: Catalogue) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    for request in requests:
        start = time.perf_counter()
        decision = decide(request, ceiling, team="bench", catalogue=catalogue, now=NOW)
        latencies.append(time.perf_counter() - start)
        outcomes[decision.outcome.value] += 1
    return latencies, outcomes


def row(label: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    rate = len(latencies) / sum(latencies)
    return f"| {label:<5} | {rate:>14,.0f} | {p50 * 1e6:>9.0f} | {p99 * 1e6:>9.0f} | {statistics.mean(latencies) * 1e6:>9.0f} |"


def main() -> None:
    rng = random.Random(7)
    start = time.perf_counter()
    catalogue = Catalogue.default()
    load_ms = (time.perf_counter() - start) * 1e3
    ceiling, rules = build_ceiling(rng)
    requests = build_requests(rng, rules)
    patterns.cache_clear()
    start = time.perf_counter()
    compile_ceiling(ceiling)  # decide() reuses this compiled form
    compile_ms = (time.perf_counter() - start) * 1e3
    cold, outcomes = run(requests, ceiling, catalogue)
    warm, _ = run(requests, ceiling, catalogue)
    print(f"cpu_count={os.cpu_count()}  ceiling={RULES} rules x {PATTERNS_PER_RULE} patterns  requests={len(requests)} distinct")
    print(f"catalogue load {load_ms:.0f} ms, ceiling compile {compile_ms:.1f} ms")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print("| pass  | decisions/s    | p50 (µs)  | p99 (µs)  | mean (µs) |")
    print("|-------|----------------|-----------|-----------|-----------|")
    print(row("cold", cold))
    print(row("warm", warm))


if __name__ == "__main__":
    main()
