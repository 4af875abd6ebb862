"""Availability conditions are CEL, evaluated by cel-python against the request's attributes."""

from __future__ import annotations

import pytest

from cloud_broker.sandbox.gcp.conditions import (
    BUCKET_TYPE,
    OBJECT_LIST_PREFIX,
    OBJECT_TYPE,
    Condition,
    InvalidCondition,
    RequestAttributes,
)

TODAY = RequestAttributes("projects/_/buckets/reports/objects/today.csv", OBJECT_TYPE)
OTHER = RequestAttributes("projects/_/buckets/reports/objects/tmp/today.csv", OBJECT_TYPE)
LIST_TODAY = RequestAttributes("projects/_/buckets/reports", BUCKET_TYPE, {OBJECT_LIST_PREFIX: "today"})
LIST_ALL = RequestAttributes("projects/_/buckets/reports", BUCKET_TYPE, {OBJECT_LIST_PREFIX: ""})


@pytest.mark.parametrize(("expression", "holds_for", "fails_for"), [
    ("resource.name.startsWith('projects/_/buckets/reports/objects/today')", [TODAY], [OTHER, LIST_TODAY]),
    ("api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('today')", [LIST_TODAY],
     [LIST_ALL, TODAY]),
    ("api.getAttribute('storage.googleapis.com/objectListPrefix', 'none') == 'none'", [TODAY], [LIST_TODAY]),
    ("resource.type == 'storage.googleapis.com/Bucket'", [LIST_ALL], [TODAY]),
    ("resource.name.extract('/objects/{name}') == 'today.csv'", [TODAY], [OTHER, LIST_ALL]),
    ("resource.name.endsWith('.csv') && !resource.name.contains('/tmp/')", [TODAY], [OTHER, LIST_ALL]),
    ("resource.name.matches('^projects/_/buckets/reports/objects/[a-z]+[.]csv$')", [TODAY], [OTHER]),
])
def test_a_condition_holds_exactly_where_its_expression_is_true(expression: str, holds_for: list[RequestAttributes],
                                                                 fails_for: list[RequestAttributes]) -> None:
    condition = Condition(expression)

    assert [condition.holds(a) for a in holds_for] == [True] * len(holds_for)
    assert [condition.holds(a) for a in fails_for] == [False] * len(fails_for)


def test_an_evaluation_error_counts_as_false_even_under_negation() -> None:
    condition = Condition("!(resource.name.endsWith('/9') && int(resource.name) > 0)")
    broken = RequestAttributes("projects/_/buckets/reports/objects/9", OBJECT_TYPE)

    assert condition.holds(TODAY)
    assert not condition.holds(broken)


@pytest.mark.parametrize("expression", [
    "resource.name.startsWith('a'",
    "1 + 1",
    "unknown.attribute == 'x'",
    "resource.tags['env'] == 'prod'",
    "api.prefix == ''",
    "size(resource.name) > 0 && now() > 0",
    "resource.name.startsWith('x')" + " " * 2030,
])
def test_an_expression_the_double_cannot_honour_is_refused_up_front(expression: str) -> None:
    with pytest.raises(InvalidCondition):
        Condition(expression)
