"""The worst decision an agent can force: hostile request shapes against two ceilings.

Run: PYTHONPATH=src python bench/adversarial_bench.py   (BENCH_SEED=…, BENCH_RANDOM=… to vary)

Every request here passes the API's input validation (field limits of ``domain.limits``): runs
of ``?`` and ``*``, alternating literals and wildcards, equivalent patterns spelt differently,
wide action × resource products, unknown names far from any service, and patterns as long as
the fields allow. Each is decided cold — pattern caches, the compiled ceiling's memos and the
catalogue's memos emptied — because an agent can always send shapes nobody has seen. The
catalogue itself is loaded once, as in a running broker. Figures only: nothing here asserts on
time (the test suite bounds the same work with counters).
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloud_broker.domain.limits import (
    DECISION_WORK,
    MAX_ACTION_NAME_LENGTH,
    MAX_ACTION_PATTERNS,
    MAX_ACTIONS,
    MAX_RESOURCE_LENGTH,
    MAX_RESOURCES,
)
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling
from cloud_broker.families.aws.decide import decide
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.policy import compiled, patterns
from cloud_broker.policy.budget import Budget

ACCOUNT = "123456789012"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SEED = int(os.environ.get("BENCH_SEED", "7"))
RANDOM_SHAPES = int(os.environ.get("BENCH_RANDOM", "300"))
S3 = "arn:aws:s3:::"

SANDBOX = Ceiling(
    ACCOUNT, timedelta(hours=1), ("us-east-1",),
    (AutoApproveRule("read-reports", ("s3:GetObject", "s3:ListBucket"), (f"{S3}reports", f"{S3}reports/*")),),
    ("iam:PassRole", "iam:CreateAccessKey", "iam:PutRolePolicy", "organizations:*", "sts:AssumeRole"),
    ("approver",),
)
# Operator patterns written the hard way too: rules full of wildcards and ``?`` runs.
TRICKY = Ceiling(
    ACCOUNT, timedelta(hours=1), ("us-east-1",),
    tuple(AutoApproveRule(f"r{i}", ("s3:Get*", "s3:List*", "ec2:Describe*"), (
        f"{S3}b{i}/*a{'?' * 12}*", f"{S3}b{i}/*{'?*' * 8}x", f"{S3}*{'a?' * 10}*", f"arn:aws:ec2:*:{ACCOUNT}:*",
    )) for i in range(40)),
    ("iam:*", "organizations:*", "sts:*", "kms:*Delete*", "s3:*Policy*"),
    ("approver",),
)


@dataclass(frozen=True)
class Shape:
    family: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


def _bounded(resource: str) -> str:
    return resource[:MAX_RESOURCE_LENGTH]


def question_runs() -> Iterator[Shape]:
    """Equivalent globs written differently: ``?`` runs between stars, the same language twice."""
    for n in (8, 18, 30, 64, 200, 1000, 2000):
        half = n // 2
        yield Shape("question-runs", ("s3:GetObject",), (
            _bounded(f"{S3}reports/*a{'?' * n}*"), _bounded(f"{S3}reports/*a*{'?' * half}*{'?' * (n - half)}"),
        ))
        yield Shape("question-runs", ("s3:GetObject", "s3:PutObject"), (
            _bounded(f"{S3}reports/*{'?*' * (n // 2)}"), _bounded(f"{S3}reports/{'*?' * (n // 2)}*"),
            _bounded(f"{S3}reports/*{'?' * n}*b"),
        ))


def alternations() -> Iterator[Shape]:
    """Alternating literals and wildcards: the subset construction's favourite food."""
    for n in (10, 40, 150, 600):
        for unit in ("a*", "a?", "ab*?", "?a*b"):
            body = (unit * n)[: MAX_RESOURCE_LENGTH - len(S3) - 10]
            yield Shape("alternations", ("s3:GetObject", "s3:ListBucket"),
                        (f"{S3}reports/{body}", f"{S3}reports/{body[::-1]}", f"{S3}*{body}*"))


def spellings() -> Iterator[Shape]:
    """One pattern spelt many ways: ``*``, ``**``, ``*?*``, case changes."""
    stars = [f"ec2:{'*' * k}" for k in range(1, 41)] + [f"s3:{'*' * k}" for k in range(1, 41)]
    yield Shape("spellings", tuple(stars[:MAX_ACTIONS]), tuple(f"{S3}b{i}/*" for i in range(MAX_RESOURCES)))
    mixed = [f"s3:Get{'*?' * k}" for k in range(1, 50)] + [f"S3:gEt{'?*' * k}" for k in range(1, 50)]
    yield Shape("spellings", tuple(mixed[:MAX_ACTIONS]), (f"{S3}reports/*",))


def products() -> Iterator[Shape]:
    """Wide action × resource products, just under and over the pair cap."""
    catalogue = Catalogue.default()
    s3 = sorted(catalogue.expand("s3:*"))
    yield Shape("products", tuple(s3[:MAX_ACTIONS]), tuple(f"{S3}b{i}/*" for i in range(MAX_RESOURCES)))
    yield Shape("products", tuple(s3[:MAX_ACTIONS]), tuple(f"{S3}b{i}/*a?*" for i in range(MAX_RESOURCES)))
    yield Shape("products", ("ec2:*", "s3:*"), ("*",))
    yield Shape("products", tuple(f"ec2:*{c}*" for c in string.ascii_lowercase * 4)[:MAX_ACTIONS], ("*",))
    yield Shape("products", ("s3:*",), tuple(f"arn:aws:*:*:*:{'?*' * i}x" for i in range(1, MAX_RESOURCES + 1)))
    # The widest product the cap allows, over resources that make every containment work.
    reads = tuple(a for a in s3 if a.startswith(("s3:Get", "s3:List")))[:MAX_ACTIONS]
    yield Shape("products", reads, tuple(_bounded(f"{S3}b{i % 40}/*a{'?' * 12}*{'a?*' * (i + 3)}x")
                                         for i in range(MAX_RESOURCES)))


def long_fields() -> Iterator[Shape]:
    """Every field at its limit."""
    action = "ec2:" + ("?*" * MAX_ACTION_NAME_LENGTH)[:MAX_ACTION_NAME_LENGTH]
    yield Shape("long-fields", (action,), (_bounded(f"{S3}reports/" + "a*" * 1200),))
    actions = tuple(f"ec2:Describe{'?' * (k % 30)}*{'*?' * (k % 7)}" for k in range(MAX_ACTIONS))
    resources = tuple(_bounded(f"arn:aws:ec2:*:{ACCOUNT}:" + ("i?*" * (200 + k))) for k in range(MAX_RESOURCES))
    yield Shape("long-fields", actions, resources)
    yield Shape("long-fields", tuple(f"zq{k}xw:{'Q' * 120}" for k in range(MAX_ACTIONS)), ("*",))
    # As many distinct long patterns as a request may hold, each a different walk of a*b*.
    walks = tuple("ec2:" + "".join("ab"[(k >> i) & 1] + "*" for i in range(40)) for k in range(MAX_ACTION_PATTERNS))
    yield Shape("long-fields", walks, ("*",))
    yield Shape("long-fields", tuple(f"ec2:*{'?*' * (k + 1)}" for k in range(MAX_ACTION_PATTERNS)), ("*",))
    accounts = tuple(_bounded(f"arn:aws:s3:us-east-1:{'1*' * (600 + k)}:x") for k in range(MAX_RESOURCES))
    yield Shape("long-fields", ("s3:GetObject",), accounts)
    yield Shape("long-fields", tuple(f"ec2:Qq{k}{'x' * 110}" for k in range(MAX_ACTIONS)), ("*",))


def format_heavy() -> Iterator[Shape]:
    """Actions with the most resource types (``ec2:CreateTags`` has over a hundred ARN formats),
    one per distinct set, against long resources: a question per format and resource."""
    catalogue = Catalogue.default()
    seen: set[tuple[str, ...]] = set()
    actions: list[str] = []
    for action in sorted(catalogue.all_actions(), key=lambda a: -len(a.arn_formats)):
        if action.arn_formats not in seen and not any(f == "*" for f in action.arn_formats):
            seen.add(action.arn_formats)
            actions.append(action.name)
        if len(actions) == MAX_ACTIONS:
            break
    for head in ("arn:aws:*:*:*:", "arn:aws:zzzz:*:*:", f"arn:aws:ec2:us-east-1:{ACCOUNT}:"):
        yield Shape("format-heavy", tuple(actions), tuple(_bounded(head + "?" * 2000 + str(i))
                                                          for i in range(MAX_RESOURCES)))


def wide_alphabets(rng: random.Random) -> Iterator[Shape]:
    """Resources of 2,048 distinct non-ASCII characters: an automaton mask per character."""
    alphabet = [chr(c) for c in range(0x100, 0x1000)]
    for _ in range(3):
        resources = tuple(_bounded(S3 + "reports/" + "".join(rng.sample(alphabet, 2000))) for _ in range(MAX_RESOURCES))
        yield Shape("wide-alphabet", ("s3:GetObject", "s3:ListBucket"), resources)


def random_shapes(rng: random.Random) -> Iterator[Shape]:
    """Random mixtures of the above alphabets, sized up to the limits."""
    alphabet = "ab/*?*?"
    for _ in range(RANDOM_SHAPES):
        n_actions, n_resources = rng.randint(1, MAX_ACTIONS), rng.randint(1, MAX_RESOURCES)
        actions = tuple(rng.choice(("s3:", "ec2:", "iam:", "sts:")) + "".join(
            rng.choice("GetLis*?tObjec") for _ in range(rng.randint(1, 40))) for _ in range(n_actions))
        resources = tuple(_bounded(S3 + rng.choice(("reports/", "b1/", "", "*")) + "".join(
            rng.choice(alphabet) for _ in range(rng.choice((5, 30, 200, 2000))))) for _ in range(n_resources))
        yield Shape("random", actions, resources)


def cold() -> None:
    """Empty every memo; collect the garbage that makes, so its pause is not charged to the
    next decision (a running broker freezes its start-up heap the same way: ``serve``)."""
    patterns.cache_clear()
    compiled.cache_clear()
    Catalogue.default().cache_clear()
    gc.collect()


def run() -> None:
    catalogue = Catalogue.default()
    gc.freeze()  # as ``serve`` does once the catalogue is loaded
    shapes = [*question_runs(), *alternations(), *spellings(), *products(), *long_fields(), *format_heavy(),
              *wide_alphabets(random.Random(SEED)), *random_shapes(random.Random(SEED))]
    timings: dict[str, list[float]] = {}
    worst = (0.0, "", "")
    spent_max = 0
    for ceiling_name, ceiling in (("sandbox", SANDBOX), ("tricky", TRICKY)):
        for shape in shapes:
            request = AwsAccessRequest(ACCOUNT, shape.actions, shape.resources, ("us-east-1",))
            cold()
            budget = Budget(DECISION_WORK)
            started = time.perf_counter()
            decision = decide(request, ceiling, team="t", catalogue=catalogue, now=NOW, budget=budget)
            elapsed = (time.perf_counter() - started) * 1000
            spent_max = max(spent_max, budget.spent)
            timings.setdefault(shape.family, []).append(elapsed)
            if elapsed > worst[0]:
                worst = (elapsed, f"{shape.family} on {ceiling_name}", decision.outcome.value)
    everything = sorted(t for ts in timings.values() for t in ts)
    print(f"cpu_count={os.cpu_count()}  shapes={len(shapes)} x 2 ceilings  seed={SEED}  "
          f"work budget {DECISION_WORK:,} steps (most spent: {spent_max:,})")
    print("| family         | decisions | p50 (ms) | p99 (ms) | worst (ms) |")
    print("|----------------|-----------|----------|----------|------------|")
    for family, values in timings.items():
        values.sort()
        print(f"| {family:<14} | {len(values):>9} | {statistics.median(values):>8.2f} | "
              f"{_p99(values):>8.2f} | {values[-1]:>10.2f} |")
    print(f"| {'all':<14} | {len(everything):>9} | {statistics.median(everything):>8.2f} | "
          f"{_p99(everything):>8.2f} | {everything[-1]:>10.2f} |")
    print(f"worst decision: {worst[0]:.1f} ms ({worst[1]}, {worst[2]}); target <= 50 ms")


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))]


if __name__ == "__main__":
    run()
