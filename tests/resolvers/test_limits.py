"""The request limits on documents (resolvers/limits): shape, the static cost estimate and its weights,
and the defaults, which let every README query and bench operation through and refuse the attacks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from graphql import get_introspection_query

from bench.operations import build_operations
from gateway.server.graphql_app import STARTER_QUERY
from gateway.settings import load_settings
from gateway.upstreams.damstra.client import LESSON_BATCH
from resolvers.limits import CostLimitExceeded, LimitExceeded, Limits, Refusal, analyse
from resolvers.limits.cost import estimate
from resolvers.limits.weights import LESSON_BATCH as WEIGHED_LESSON_BATCH
from resolvers.schema import schema
from sandbox.world import build_world

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = build_operations(build_world(people=50, seed=7, anchor=datetime(2026, 11, 1, tzinfo=UTC)))
README_QUERIES = re.findall(r"```graphql\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
USER = "VXNlcjpkYW1zdHJhOjEwMDAw"


def refusal(
    query: str, variables: dict[str, Any] | None = None, limits: Limits | None = None
) -> Refusal | None:
    limits = limits or Limits()
    try:
        document = limits.parse(query)
    except Refusal as refused:
        return refused
    analysis = analyse(schema._schema, document, None)
    assert analysis is not None
    return limits.refusal(analysis, variables)


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = Limits().parse(query)
    analysis = analyse(schema._schema, document, None)
    assert analysis is not None
    return estimate(schema._schema, document, analysis.operation, variables).cost


def nested(levels: int) -> str:
    """`user → groups → members(first: 20)` nested `levels` deep (issue 13's depth attack)."""
    inner = "{ groups { members(first: 20) { edges { node " * levels + "{ fullName }" + " } } } }" * levels
    return f'{{ user(id: "{USER}") {inner} }}'


# -- the defaults ---------------------------------------------------------------------------------


def test_the_defaults_are_the_contracts() -> None:
    settings = load_settings({})
    assert (settings.max_body_bytes, settings.max_tokens, settings.max_depth) == (1_048_576, 15_000, 15)
    assert (settings.max_aliases, settings.max_root_fields, settings.max_cost) == (30, 10, 1_000)
    assert settings.cost_mode == "enforce" and Limits.of(settings) == Limits()


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.key for op in OPERATIONS])
def test_every_bench_operation_passes_the_default_limits(op: Any) -> None:
    assert refusal(op.query, op.variables(0)) is None


@pytest.mark.parametrize("query", README_QUERIES, ids=[f"readme{n}" for n in range(len(README_QUERIES))])
def test_every_readme_query_passes_the_default_limits(query: str) -> None:
    assert len(README_QUERIES) >= 5
    assert refusal(query) is None


def test_graphiqls_starter_query_and_the_standard_introspection_query_pass() -> None:
    assert refusal(STARTER_QUERY) is None
    # graphql-core's own (depth 15, its TypeRef the deepest); GraphiQL's (graphql-js 16) is shallower.
    assert refusal(get_introspection_query(descriptions=True)) is None


ATTACKS = {
    "5,000 aliases of completions(first: 1000)": "{ "
    + " ".join(f"a{n}: completions(first: 1000) {{ edges {{ node {{ id }} }} }}" for n in range(5000))
    + " }",
    "40 aliases of a cheap field": "{ " + " ".join(f"a{n}: __typename" for n in range(40)) + " }",
    "user → groups → members nested 4 deep": nested(4),
    "user → groups → members nested 3 deep": nested(3),
    "user → groups → members nested 12 deep": nested(12),
    "fan-out: 1,000 people's schedules and lessons": "{ users(first: 1000) { edges { node { "
    "schedules { edges { node { lesson { name } } } } } } } }",
    "fan-out: 100 groups × 100 members × completions": "{ groups(first: 100) { edges { node { "
    "members(first: 100) { edges { node { completions(first: 10) { edges { node { source } } } } } } } } } }",
    "11 root fields": "{ " + " ".join(f'u{n}: user(id: "{USER}") {{ id }}' for n in range(11)) + " }",
    "5 company-wide completions": "{ "
    + " ".join(f"c{n}: completions(first: 10) {{ edges {{ cursor }} }}" for n in range(5))
    + " }",
}


@pytest.mark.parametrize("query", ATTACKS.values(), ids=list(ATTACKS))
def test_the_attacks_are_refused(query: str) -> None:
    assert refusal(query) is not None


# -- each limit ------------------------------------------------------------------------------------


def test_tokens_stop_the_parse() -> None:
    refused = refusal("{ " + "__typename " * 15_001 + "}")
    assert isinstance(refused, LimitExceeded)
    assert refused.extensions == {"code": "LIMIT_EXCEEDED", "limit": "tokens", "max": 15_000}
    assert refusal("{ " + "__typename " * 14_000 + "}", limits=Limits(max_root_fields=20_000)) is None
    # Comments count too: they cost the lexer as much.
    assert refusal("#\n" * 15_001 + "{ __typename }") is not None


def test_depth_counts_nested_fields_through_fragments() -> None:
    assert refusal(nested(3)) is not None and not isinstance(refusal(nested(3)), LimitExceeded)
    refused = refusal(nested(4))
    assert isinstance(refused, LimitExceeded) and (refused.extensions or {})["limit"] == "depth"
    assert "18 fields deep" in refused.message
    deep = "{ user(id: $u) { ...A } } fragment A on User { groups { parent { parent { ...B } } } }"
    deep += " fragment B on Group { parent { parent { parent { id } } } }"
    deep = deep.replace(
        "{ user", "query($u: ID!) { user", 1
    )  # user groups parent parent parent parent parent id
    assert refusal(deep, limits=Limits(max_depth=8)) is None
    assert refusal(deep, limits=Limits(max_depth=7)) is not None


def test_a_fragment_bomb_is_measured_in_the_documents_length() -> None:
    # Each fragment spreads the next twice: 2**40 fields as executed, measured without expanding them.
    levels = 40
    fragments = " ".join(f"fragment F{n} on Group {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels))
    query = f'{{ group(id: "R3JvdXA6ZGFtc3RyYToyMDA=") {{ ...F0 }} }} {fragments} fragment F{levels} on Group {{ a: id }}'
    refused = refusal(query)
    assert isinstance(refused, LimitExceeded) and (refused.extensions or {})["limit"] == "aliases"
    # Spread into each other thousands deep: refused, not a RecursionError.
    chain = " ".join(f"fragment F{n} on Group {{ ...F{n + 1} }}" for n in range(1500))
    refused = refusal(f'{{ group(id: "x") {{ ...F0 }} }} {chain} fragment F1500 on Group {{ id }}')
    assert isinstance(refused, LimitExceeded) and (refused.extensions or {})["limit"] == "depth"


def test_aliases_and_root_fields() -> None:
    aliases = "{ " + " ".join(f'a{n}: user(id: "{USER}") {{ x: id }}' for n in range(8)) + " }"
    refused = refusal(aliases, limits=Limits(max_aliases=15))
    assert isinstance(refused, LimitExceeded) and (refused.extensions or {})["limit"] == "aliases"
    assert refusal(aliases, limits=Limits(max_aliases=16)) is None
    refused = refusal(ATTACKS["11 root fields"])
    assert isinstance(refused, LimitExceeded)
    assert refused.extensions == {"code": "LIMIT_EXCEEDED", "limit": "rootFields", "max": 10}
    # A response key asked twice is one field, as it runs.
    assert refusal("{ " + "__typename " * 11 + "}") is None


def test_cost_refusal_says_the_cost_and_the_limit() -> None:
    refused = refusal(ATTACKS["fan-out: 1,000 people's schedules and lessons"])
    assert isinstance(refused, CostLimitExceeded)
    assert refused.extensions == {"code": "COST_LIMIT_EXCEEDED", "cost": refused.cost, "maxCost": 1000}
    assert refused.cost > 1000


def test_measure_mode_logs_and_lets_it_through(caplog: pytest.LogCaptureFixture) -> None:
    query = ATTACKS["fan-out: 1,000 people's schedules and lessons"]
    with caplog.at_level("INFO", logger="gateway.limits"):
        assert refusal(query, limits=Limits(enforce_cost=False)) is None
    [line] = [r.getMessage() for r in caplog.records]
    assert "measure mode" in line and "1000" in line
    # The shape limits hold in either mode.
    assert refusal(nested(4), limits=Limits(enforce_cost=False)) is not None


# -- the weights, against what the resolvers read ---------------------------------------------------


def test_a_list_multiplies_its_children_by_first_or_twenty() -> None:
    # Group.members is one page read; each member's schedules one read in DAMSTRA and one in LearningLogin
    # (OVERDUE: TRAINING_RECORDS holds none); the lessons one batched read.
    members = '{{ group(id: "x") {{ members{first} {{ edges {{ node {{ schedules(status: [OVERDUE]) {{ edges {{ node {{ lesson {{ name }} }} }} }} }} }} }} }} }}'
    assert cost(members.format(first="(first: 100)")) == 1 + 1 + 100 * 2 + 4  # 2,000 schedules: 4 batches
    assert cost(members.format(first="")) == 1 + 1 + 20 * 2 + 1
    assert cost(members.format(first="(first: $n)").replace("{", "query($n: Int) {", 1), {"n": 5}) == 13


def test_arguments_that_spare_a_source_lower_the_cost() -> None:
    every = cost(f'{{ user(id: "{USER}") {{ schedules {{ edges {{ cursor }} }} }} }}')
    overdue = cost(f'{{ user(id: "{USER}") {{ schedules(status: [OVERDUE]) {{ edges {{ cursor }} }} }} }}')
    damstra = cost(f'{{ user(id: "{USER}") {{ schedules(source: DAMSTRA) {{ edges {{ cursor }} }} }} }}')
    # The whole TRAINING_RECORDS list (5 pages assumed) is read once for anyone's records.
    assert (every, overdue, damstra) == (2 + 2 + 5, 2 + 2, 2 + 1)
    company = cost("{ completions(first: 10) { edges { cursor } } }")
    expiring = cost('{ completions(first: 10, expiringBefore: "2027-01-01") { edges { cursor } } }')
    person = cost(f'{{ completions(userId: "{USER}", first: 10) {{ edges {{ cursor }} }} }}')
    assert company > 200 > person and expiring == 5 + 1


def test_shared_reads_count_once_and_batched_reads_once_a_batch() -> None:
    twice = f'{{ a: user(id: "{USER}") {{ schedules {{ edges {{ cursor }} }} }} b: user(id: "{USER}") {{ schedules {{ edges {{ cursor }} }} }} }}'
    assert cost(twice) == 2 * (2 + 2) + 5
    lessons = cost(
        "{ lessons(first: 3) { edges { node { iltSessions { edges { node { lesson { name } } } } } } } }"
    )
    assert lessons == (1 + 5 + 5 + 5) + 5 + 1  # the catalogue, every ILT session once, one lesson batch


def test_fragments_cost_as_they_run() -> None:
    plain = cost(f'{{ user(id: "{USER}") {{ groups {{ name }} }} }}')
    spread = f'{{ user(id: "{USER}") {{ ...G ...G ... on User {{ groups {{ name }} }} }} }} fragment G on User {{ groups {{ name }} }}'
    assert cost(spread) == plain == 2 + 20
    # node(id:) costs its dearest possible type.
    node = '{ node(id: "x") { ... on Group { members { edges { cursor } } } ... on User { groups { id } } } }'
    assert cost(node) == 2 + 20
    skipped = f'query($s: Boolean!) {{ user(id: "{USER}") {{ groups @skip(if: $s) {{ name }} }} }}'
    assert (cost(skipped, {"s": True}), cost(skipped, {"s": False})) == (2, 22)


def test_a_mutation_weighs_ten_and_introspection_nothing() -> None:
    mutation = 'mutation { completeLesson(input: {userId: "x", lessonId: "y"}) { userErrors { code } } }'
    assert cost(mutation) == 10
    assert cost(get_introspection_query()) == 0


def test_the_lesson_batch_is_damstras() -> None:
    assert WEIGHED_LESSON_BATCH == LESSON_BATCH


def test_a_cost_that_depends_on_variables_is_estimated_for_each_request() -> None:
    query = "query($n: Int) { users(first: $n) { edges { node { groups { name } } } } }"
    analysis = analyse(schema._schema, Limits().parse(query), None)
    assert analysis is not None and analysis.cost is None
    assert Limits().refusal(analysis, {"n": 10}) is None
    assert isinstance(Limits().refusal(analysis, {"n": 1000}), CostLimitExceeded)
    fixed = analyse(schema._schema, Limits().parse("{ users(first: 10) { edges { cursor } } }"), None)
    assert fixed is not None and fixed.cost == 21


def test_an_estimate_is_kept_for_the_variable_values_that_change_it() -> None:
    query = "query($u: ID, $n: Int) { completions(userId: $u, first: $n) { edges { node { user { id } } } } }"
    analysis = analyse(schema._schema, Limits().parse(query), None)
    assert analysis is not None and analysis.variables == (("n", True), ("u", False))
    # One person's or everyone's: which person does not change the estimate, so it is made once.
    costs = {analysis.cost_for({"u": f"person-{n}", "n": 10}) for n in range(50)}
    assert len(costs) == 1 and len(analysis.costs) == 1
    assert analysis.cost_for({"u": None, "n": 10}) > costs.pop()
    assert len(analysis.costs) == 2
