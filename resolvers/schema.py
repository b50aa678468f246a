"""The schema: the export target for `schema.graphql`, and an Apollo Federation 2 subgraph.

The same `/graphql` serves clients and a supergraph's router: `_service { sdl }` gives the router
LearnGraph's SDL, and `_entities` finds a `User` by `id` or `email`, a `Lesson` by `id`, through
the same look-ups (and so the same access rules) as `user(id:)`, `users(email:)` and `lesson(id:)`.
`schema.graphql` is the served schema as printed, federation's `@link`, `@key` and `_service` and
`_entities` included: what introspection shows and what a subgraph offers are one schema.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from graphql.utilities.print_schema import print_directive, print_type
from strawberry import federation
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info

from resolvers.completion import Completion
from resolvers.errors import BadInputError, ErrorExtensions, log_errors
from resolvers.execution import LeanExecutionContext
from resolvers.group import Group
from resolvers.ilt_session import ILTSession
from resolvers.introspection import IntrospectionSwitch
from resolvers.lesson import Lesson
from resolvers.limits import OperationLimits
from resolvers.mutations import Mutation
from resolvers.naming import RememberingNameConverter
from resolvers.query import Query
from resolvers.scalars import SCALAR_MAP
from resolvers.schedule import Schedule
from resolvers.subscription import Subscription
from resolvers.sync_status import SyncStatusQuery
from resolvers.user import User

# The entities a supergraph may ask `_entities` for, by the keys each has.
ENTITY_KEYS = {"User": ("id", "email"), "Lesson": ("id",)}


class LearnGraphSchema(federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error at ERROR with a traceback; a caller's mistake is no fault of ours.
        log_errors(errors)

    def entities_resolver(self, info: Info, representations: list[FederationAny]) -> list[FederationAny]:
        # Strawberry's resolver fails on a representation that is no object of a known entity with a
        # key's fields (an INTERNAL_SERVER_ERROR): that is the caller's input error.
        for index, representation in enumerate(representations):
            problem = _representation_problem(representation)
            if problem is not None:
                raise BadInputError(f"representations[{index}] {problem}")
        return super().entities_resolver(info, representations)


def _representation_problem(representation: Any) -> str | None:
    if not isinstance(representation, dict):
        return "is not an object"
    keys = ENTITY_KEYS.get(representation.get("__typename"))  # type: ignore[arg-type]
    if keys is None:
        return f"names no entity: `__typename` is one of {', '.join(sorted(ENTITY_KEYS))}"
    fields = set(representation) - {"__typename"}
    if (
        not fields
        or not fields <= set(keys)
        or not all(isinstance(v, str) for k, v in representation.items())
    ):
        return f"holds no key of {representation['__typename']}: one of {', '.join(keys)}, a string"
    return None


schema = LearnGraphSchema(
    # Query.syncStatus lives with its types in resolvers/sync_status.py.
    query=merge_types("Query", (Query, SyncStatusQuery)),
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Group, Lesson, Schedule, ILTSession, Completion],
    config=StrawberryConfig(scalar_map=SCALAR_MAP, name_converter=RememberingNameConverter()),
    # OperationLimits parses and validates, with the limits' checks between (in place of Strawberry's
    # ParserCache and ValidationCache); IntrospectionSwitch adds its rule to the validation before.
    extensions=[ErrorExtensions, IntrospectionSwitch, OperationLimits],
    execution_context_class=LeanExecutionContext,
)


# What Strawberry's printer leaves out of a subgraph's SDL, as the federation spec wants: the definitions
# of the directives it applies (a router knows them from the `@link`ed spec). The served schema holds them.
_FEDERATION_DIRECTIVES = ("link", "key")
_FEDERATION_TYPES = ("_FieldSet", "link__Import", "link__Purpose")


def subgraph_sdl() -> str:
    """The SDL `_service { sdl }` answers a router: federation's directives applied, not defined."""
    return schema.as_str()


def sdl() -> str:
    """The served schema as a document on its own (`schema.graphql`): the subgraph SDL and the
    definitions of the federation directives and types it uses, as the served schema has them."""
    served = schema._schema
    definitions = [print_directive(d) for d in served.directives if d.name in _FEDERATION_DIRECTIVES]
    definitions += [print_type(served.type_map[name]) for name in _FEDERATION_TYPES]
    return subgraph_sdl() + "\n\n" + "\n\n".join(definitions) + "\n"
