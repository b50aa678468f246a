"""LeanExecutionContext answers what Strawberry's own execution context answers: data, nulls,
non-null violations and errors alike, whatever a basic field holds."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig

from gateway.server.graphql_app import LearnGraphGraphQL
from resolvers import execution
from resolvers.completion import Completion
from resolvers.errors import ErrorExtensions
from resolvers.execution import LeanExecutionContext
from resolvers.group import Group
from resolvers.ilt_session import ILTSession
from resolvers.lesson import Lesson
from resolvers.query import Query as Query_
from resolvers.scalars import SCALAR_MAP, DateTime
from resolvers.schedule import Schedule
from resolvers.schema import schema
from resolvers.user import User
from tests.conftest import Gateway
from tests.ids import user_id


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"
    CRIMSON = "red"  # noqa: PIE796 (an alias on purpose: answered as RED)


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Plain:
    text: str | None = None
    number: int | None = None


@strawberry.type
class Thing(Named):
    name: str
    count: int | None = None
    ratio: float | None = None
    flag: bool | None = None
    ident: strawberry.ID | None = None
    color: Color | None = None
    strict_color: Color = Color.RED
    when: DateTime | None = None
    maybe: str | None = None
    child: Thing | None = None
    strict_child: Plain = strawberry.field(default_factory=Plain)
    children: list[Thing] = strawberry.field(default_factory=list)
    loose_children: list[Thing | None] | None = None
    plains: list[Plain] | None = None


class Haunted:
    """A source whose attribute read fails: a Plain by duck typing (Plain has no is_type_of)."""

    number = 1

    @property
    def text(self) -> str:
        raise RuntimeError("the attribute broke")


class later:
    """An awaitable answering `value` on the next turn of the loop (unawaited, it warns of nothing)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        yield from asyncio.sleep(0).__await__()
        return self.value


WHEN = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def thing(**fields: Any) -> Thing:
    """A Thing holding whatever it is given: the values a type checker would refuse are the point."""
    return Thing(**fields)


def things() -> list[Thing]:
    """Every shape a basic field's value can take; built afresh per request."""
    when = WHEN
    return [
        Thing(
            name="ok", count=3, ratio=0.5, flag=True, ident=strawberry.ID("7"), color=Color.BLUE, when=when
        ),
        thing(name="coerced", count=True, ratio=2, flag=0, ident=12, color=Color.CRIMSON, maybe=5),
        thing(name="floaty", count=3.0, ratio="1.5", flag=1.0, ident=1.5, color="BLUE"),
        Thing(name="too big", count=2**40),
        Thing(name="not finite", ratio=math.nan),
        thing(name="not an int", count=2.5, maybe=["a", "list"]),
        thing(name="bad enum", color="GREEN"),
        thing(name="unknown enum value", color=42),
        thing(name=None),  # a non-null field answering null
        thing(name="null strict enum", strict_color=None),
        thing(name="error value", maybe=ValueError("held, not raised")),
        thing(
            name="awaitable",
            count=later(4),
            maybe=later(None),
            child=later(Thing(name="late")),
            ratio=later(math.inf),
        ),
        thing(name="strict child null", strict_child=None),
        thing(name="haunted child", strict_child=Haunted()),
        thing(name="wrong child type", child=Plain(text="not a thing")),
        thing(name="string child", child="oops"),
        Thing(name="kids", children=[Thing(name="a"), Thing(name="b", child=Thing(name="c"))]),
        thing(name="null kid", children=[Thing(name="a"), None, Thing(name="c")]),
        thing(name="loose kids", loose_children=[Thing(name="a"), None, Plain(), thing(name=None)]),
        thing(name="tuple kids", children=(Thing(name="t"),)),
        thing(name="generator kids", children=(t for t in [Thing(name="g")])),
        thing(name="kids not a list", children=5),
        thing(name="awaitable kids", children=[later(Thing(name="x")), Thing(name="y")]),
        thing(name="awaitable list", children=later([Thing(name="z")])),
        thing(name="plains", plains=[Plain(text="p", number=1), Haunted(), None]),
        Thing(name="kid with error", children=[Thing(name="ok"), thing(name=None), Thing(name="after")]),
        thing(name="graphql error value", maybe=GraphQLError("held as a value")),
        Thing(name="cast child", child=strawberry.cast(Plain, Thing(name="cast elsewhere"))),
    ]


@strawberry.type
class Echo:
    """A field with arguments of each kind, telling what its resolver received."""

    n: int

    @strawberry.field
    def said(
        self,
        plain: int | None = None,
        maybe: strawberry.Maybe[int | None] = None,
        unset: str | None = strawberry.UNSET,
        tags: list[str] | None = None,
        required: int = 0,
    ) -> str:
        if tags is not None:
            tags.append(str(self.n))  # changes its own copy only: every item gets a fresh list
        return repr((self.n, plain, maybe, unset, tags, required))


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        return list(things())

    @strawberry.field
    def echoes(self) -> list[Echo]:
        return [Echo(n=n) for n in range(3)]

    @strawberry.field
    def one(self, index: int) -> Thing:
        return things()[index]

    @strawberry.field
    def named(self) -> list[Named]:
        return [Thing(name="via interface", count=1)]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def things(self, count: int) -> AsyncGenerator[Thing, None]:
        for shape in things()[:count]:
            yield shape


def build(**kwargs: Any) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        types=[Thing],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        **kwargs,
    )


LEAN = build(execution_context_class=LeanExecutionContext)
PLAIN = build()

FIELDS = """name count ratio flag ident color strictColor when maybe __typename
  alias: name
  child { name count child { name } }
  strictChild { text number }
  children { name child { name } }
  looseChildren { name }
  plains { text number }"""

# Scalars, enums and objects of them, __typename left out: each thing is answered by one generated row.
ROW_FIELDS = "name count ratio flag ident color strictColor maybe alias: name child { name count } strictChild { text number }"

QUERIES = [
    f"{{ things {{ {FIELDS} }} }}",
    f"{{ things {{ {ROW_FIELDS} }} }}",
    "{ things { name ...F ... on Thing { count } } } fragment F on Thing { count ratio maybe }",
    "query($no: Boolean!) { things { name count @skip(if: $no) ratio @include(if: $no) } }",
    "{ named { name __typename ... on Thing { count } } }",
    "{ things { children { name } } }",
    "{ echoes { said } }",
    "{ echoes { n said(plain: null, maybe: null, unset: null, tags: null) } }",
    'query($r: Int!) { echoes { said(plain: 1, maybe: 2, unset: "u", tags: ["t"], required: 3) '
    "again: said(maybe: null) third: said(required: $r) } }",
    "query($t: [String!]) { echoes { said(tags: $t) } }",
]


def answer(result: Any) -> tuple[Any, list[Any]]:
    return result.data, [error.formatted for error in result.errors or []]


@pytest.mark.parametrize("query", QUERIES)
async def test_answers_as_strawberry_does(query: str) -> None:
    variables = {"no": True, "t": ["v"], "r": 4}
    lean = await LEAN.execute(query, variable_values=variables)
    plain = await PLAIN.execute(query, variable_values=variables)
    assert answer(lean) == answer(plain)


@pytest.mark.parametrize("fields", [FIELDS, ROW_FIELDS], ids=["by field", "by row"])
@pytest.mark.parametrize("index", range(len(things())))
async def test_each_shape_alone_answers_as_strawberry_does(index: int, fields: str) -> None:
    # One at a time: a non-null violation nulls the whole `one`, so each shape needs its own answer.
    query = f"query($i: Int!) {{ one(index: $i) {{ {fields} }} }}"
    lean = await LEAN.execute(query, variable_values={"i": index})
    plain = await PLAIN.execute(query, variable_values={"i": index})
    assert answer(lean) == answer(plain)


async def test_arguments_are_coerced_once_per_field_and_nulls_left_to_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coerced: list[dict[str, Any]] = []
    get_argument_values = execution.get_argument_values  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        values: dict[str, Any] = get_argument_values(*args, **kwargs)
        coerced.append(values)
        return values

    monkeypatch.setattr(execution, "get_argument_values", counting)
    query = '{ echoes { said(plain: null, maybe: null, tags: ["t"]) } }'
    lean = await LEAN.execute(query)
    assert not lean.errors
    assert len(coerced) == 1  # three items, one field node
    assert coerced == [{"plain": None, "maybe": None, "tags": ["t"], "required": 0}]
    assert answer(lean) == answer(await PLAIN.execute(query))
    # What the resolver is called with: `plain`'s null left to its default, a Maybe's kept.
    assert execution._omissible_when_null(LEAN._schema.get_type("Echo").fields["said"]) == {"plain", "tags"}  # type: ignore[union-attr]


async def test_arguments_are_converted_once_per_field_node_when_nothing_converted_can_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    converted: list[dict[str, Any]] = []
    convert_arguments = execution.convert_arguments  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        values: dict[str, Any] = convert_arguments(*args, **kwargs)
        converted.append(values)
        return values

    monkeypatch.setattr(execution, "convert_arguments", counting)
    monkeypatch.setattr(execution, "_direct_calls", {})  # made anew, with the counting conversion
    # A list of scalars: once for the three items; each resolver still gets a list of its
    # own (it appends to it), as Strawberry gives it.
    lean_schema, plain_schema = RESOLVED["lean"], RESOLVED["plain"]
    query = '{ resolved { tagged(tags: ["t"]) } }'
    lean = await lean_schema.execute(query)
    assert not lean.errors and len(converted) == 1
    assert answer(lean) == answer(await plain_schema.execute(query))
    # A Maybe is an object a resolver holds: converted for each item.
    converted.clear()
    query = "{ resolved { tagged(pick: 3) } }"
    lean = await lean_schema.execute(query)
    assert len(converted) == 3
    assert answer(lean) == answer(await plain_schema.execute(query))
    # Another operation converts its own arguments.
    converted.clear()
    await lean_schema.execute('{ resolved { tagged(tags: ["t"]) } }')
    assert len(converted) == 1


async def test_basic_fields_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    executed: list[str] = []
    execute_field = LeanExecutionContext.execute_field

    def counting(self: LeanExecutionContext, parent_type: Any, *args: Any) -> Any:
        executed.append(f"{parent_type}.{args[1][0].node.name.value}")
        return execute_field(self, parent_type, *args)

    monkeypatch.setattr(LeanExecutionContext, "execute_field", counting)
    result = await LEAN.execute(
        "{ things { name count color child { name } children { name } strictChild { text } } }"
    )
    assert result.data and executed == ["Query.things"]  # only the root field has a resolver of its own


async def test_objects_of_plain_values_are_answered_by_a_row() -> None:
    result = await LEAN.execute(f"{{ things {{ {ROW_FIELDS} }} }}")
    assert result.data
    names = ["name", "count", "ratio", "flag", "ident", "color", "strictColor", "maybe", "alias"]
    made = [
        row
        for key, (_, row) in execution._rows.items()
        if [k[0] for k in key] == [*names, "child", "strictChild"]
    ]
    assert made and made[-1] is not None
    ok = things()[0]
    ok.child = Thing(name="kid", count=1)
    assert made[-1](ok) == {
        "name": "ok",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "ident": "7",
        "color": "BLUE",
        "strictColor": "RED",
        "maybe": None,
        "alias": "ok",
        "child": {"name": "kid", "count": 1},
        "strictChild": {"text": None, "number": None},
    }
    # Anything a fast check cannot vouch for goes back to the loop, which words its errors.
    for shape in [*things()[1:10], *things()[12:16], things()[-1]]:
        assert made[-1](shape) is None, shape.name


async def test_subscription_events_answer_as_strawberry_does(monkeypatch: pytest.MonkeyPatch) -> None:
    plans: list[int] = []
    per_event = LeanExecutionContext.build_per_event_executor

    def counting(self: LeanExecutionContext, payload: Any) -> LeanExecutionContext:
        executor = per_event(self, payload)
        plans.append(len(executor._plans))
        return executor

    monkeypatch.setattr(LeanExecutionContext, "build_per_event_executor", counting)
    query = "subscription { things(count: 12) { name count color child { name } maybe } }"
    answers = []
    for schema_ in (LEAN, PLAIN):
        stream = await schema_.subscribe(query)
        answers.append([answer(event) async for event in stream])
    assert answers[0] == answers[1] and len(answers[0]) == 12
    assert plans == [0] * 12  # every event starts with plans of its own


def test_the_shapes_cover_errors_and_nulls() -> None:
    result = PLAIN.execute_sync("{ one(index: 8) { name } }")
    assert result.data is None and result.errors
    assert "Cannot return null for non-nullable field Thing.name." in result.errors[0].message


class Upper(SchemaExtension):
    """Middleware: resolvers run through it, so the shortcut must step aside."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


async def test_middleware_still_wraps_every_field() -> None:
    lean = await build(execution_context_class=LeanExecutionContext, extensions=[Upper]).execute(QUERIES[0])
    plain = await build(extensions=[Upper]).execute(QUERIES[0])
    assert answer(lean) == answer(plain)
    assert lean.data and lean.data["things"][0]["name"] == "OK"


class Deny(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


class Shout(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        return value.upper() if isinstance(value, str) else value


@strawberry.type
class Guarded:
    """Fields without resolvers that Strawberry still runs code for: a permission, an extension."""

    open: str = "open"
    secret: str | None = strawberry.field(default="classified", permission_classes=[Deny])
    strict_secret: str = strawberry.field(default="classified", permission_classes=[Deny])
    loud: str = strawberry.field(default="quiet", extensions=[Shout()])
    hidden_child: Plain | None = strawberry.field(
        default_factory=lambda: Plain(text="classified"), permission_classes=[Deny]
    )
    hidden_children: list[Plain] | None = strawberry.field(
        default_factory=lambda: [Plain(text="classified")], permission_classes=[Deny]
    )


@strawberry.type
class GuardedQuery:
    @strawberry.field
    def guarded(self) -> list[Guarded]:
        return [Guarded(), Guarded()]


GUARDED_LEAN = strawberry.Schema(query=GuardedQuery, execution_context_class=LeanExecutionContext)
GUARDED_PLAIN = strawberry.Schema(query=GuardedQuery)


@pytest.mark.parametrize(
    "fields",
    [
        "secret",
        "open secret loud",  # leaves only: what a generated row would answer
        "open loud",
        "strictSecret",
        "hiddenChild { text }",
        "hiddenChildren { text }",
        "open secret strictSecret loud hiddenChild { text } hiddenChildren { text }",
    ],
)
async def test_fields_with_permissions_or_extensions_are_refused_as_strawberry_refuses(fields: str) -> None:
    query = f"{{ guarded {{ {fields} }} }}"
    lean = await GUARDED_LEAN.execute(query)
    plain = await GUARDED_PLAIN.execute(query)
    assert answer(lean) == answer(plain)
    assert "classified" not in str(lean.data)
    if "ecret" in fields or "hidden" in fields:
        assert lean.errors and {e.message for e in lean.errors} == {"not for you"}
    if "loud" in fields and "strictSecret" not in fields:  # a refused non-null field nulls the list
        assert lean.data and lean.data["guarded"][0]["loud"] == "QUIET"


def test_the_gateway_schema_uses_it() -> None:
    assert schema.execution_context_class is LeanExecutionContext


@pytest.fixture
async def plain_gateway(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's schema, executed by Strawberry's own execution context."""
    # A federation subgraph as LearnGraph's is (resolvers/schema.py), on Strawberry's own execution.
    plain = strawberry.federation.Schema(
        query=Query_,
        mutation=schema.mutation,
        subscription=schema.subscription,
        types=[User, Group, Lesson, Schedule, ILTSession, Completion],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[ErrorExtensions],
    )
    app = Starlette(routes=[Route("/graphql", LearnGraphGraphQL(plain), methods=["POST"])])
    app.state.services = gateway.services
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://plain.test"
    ) as http:
        yield http


GATEWAY_QUERIES = [
    "{ lessons(first: 500) { totalCount edges { cursor node { id name status durationSeconds version source code } } pageInfo { hasNextPage endCursor } } }",
    "{ users(first: 5) { edges { node { id fullName accounts { source nativeId } "
    "schedules(first: 3) { edges { node { id status dueDate lesson { name } } } } } } } }",
    "{ groups(first: 3) { totalCount edges { node { id name members(first: 2) { edges { node { fullName } } } } } } }",
    "{ completions(first: 20) { edges { node { id source completedAt score lesson { id name } } } } }",
    "{ iltSessions(first: 5) { edges { node { __typename id } } } }",
]


@pytest.mark.parametrize("query", GATEWAY_QUERIES)
async def test_the_gateway_answers_as_with_strawberry_alone(
    gateway: Gateway, plain_gateway: httpx.AsyncClient, query: str
) -> None:
    lean = await gateway.query(query)
    plain = (await plain_gateway.post("/graphql", json={"query": query})).json()
    assert lean == plain
    assert "errors" not in lean


async def test_a_person_answers_as_with_strawberry_alone(
    gateway: Gateway, plain_gateway: httpx.AsyncClient
) -> None:
    query = "query($id: ID!) { user(id: $id) { id fullName completions(first: 50) { edges { node { id source completedAt lesson { name } } } } } }"
    variables = {"id": user_id("damstra", 10000)}
    lean = await gateway.query(query, variables)
    plain = (await plain_gateway.post("/graphql", json={"query": query, "variables": variables})).json()
    assert lean == plain


class _Hooked:
    def __getattr__(self, name: str) -> Any:
        if name == "__await__":
            return later(1).__await__
        raise AttributeError(name)


class _Intercepted:
    def __getattribute__(self, name: str) -> Any:
        return object.__getattribute__(self, name)


def test_only_classes_read_plainly_are_remembered_as_never_awaitable() -> None:
    plain = [{}, [], (), True, 1, 1.5, "s", b"b", WHEN, WHEN.date(), Color.RED, Plain()]
    for value in plain:
        assert not execution._is_awaitable(value)
        assert type(value) in execution._never_awaitable, type(value)
    for value in [_Hooked(), _Intercepted()]:
        execution._is_awaitable(value)
        assert type(value) not in execution._never_awaitable
    assert execution._is_awaitable(_Hooked())  # its hook answers `__await__`, each time asked


@strawberry.type
class Resolved:
    """Fields with resolvers: called directly when nothing wraps them, through Strawberry otherwise."""

    n: int

    @strawberry.field
    def plain(self, info: strawberry.Info, by: int = 1) -> int:
        return self.n * by + (1 if info.field_name == "plain" else 0)

    @strawberry.field
    @staticmethod
    def from_root(parent: strawberry.Parent[Resolved]) -> int:
        return parent.n * 10

    @strawberry.field
    async def later(self, tags: list[str] | None = None) -> str:
        await asyncio.sleep(0)
        return f"{self.n}:{tags}"

    @strawberry.field
    def tagged(self, tags: list[str] | None = None, pick: strawberry.Maybe[int | None] = None) -> str:
        if tags is not None:
            tags.append(str(self.n))  # its own list: every call gets one
        return repr((self.n, tags, pick))

    @strawberry.field(permission_classes=[Deny])  # type: ignore[untyped-decorator]
    def denied(self) -> int:
        return self.n

    @strawberry.field(extensions=[Shout()])  # type: ignore[untyped-decorator]
    def shouted(self) -> str:
        return f"quiet {self.n}"


@strawberry.type
class ResolvedQuery:
    @strawberry.field
    def resolved(self) -> list[Resolved]:
        return [Resolved(n=n) for n in range(3)]


RESOLVED = {
    "lean": strawberry.Schema(query=ResolvedQuery, execution_context_class=LeanExecutionContext),
    "plain": strawberry.Schema(query=ResolvedQuery),
}


@pytest.mark.parametrize(
    "fields", ["plain plain2: plain(by: 3) fromRoot later", 'later(tags: ["a"]) denied', "shouted fromRoot"]
)
async def test_resolvers_called_directly_answer_as_strawberry_does(fields: str) -> None:
    query = f"{{ resolved {{ n {fields} }} }}"
    lean, plain = [await RESOLVED[kind].execute(query) for kind in ("lean", "plain")]
    assert answer(lean) == answer(plain)
    assert lean.data or lean.errors


def test_only_resolvers_nothing_wraps_are_called_directly() -> None:
    schema_ = RESOLVED["lean"]
    fields = schema_._schema.get_type("Resolved").fields  # type: ignore[union-attr]
    direct = {name: execution._direct_call(field, schema_) is not None for name, field in fields.items()}
    assert direct == {
        "n": False,
        "plain": True,
        "fromRoot": True,
        "later": True,
        "tagged": True,
        "denied": False,
        "shouted": False,
    }
