"""The schema: the export target for `schema.graphql`."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from resolvers.completion import Completion
from resolvers.errors import ErrorExtensions
from resolvers.execution import LeanExecutionContext
from resolvers.group import Group
from resolvers.ilt_session import ILTSession
from resolvers.introspection import IntrospectionSwitch
from resolvers.lesson import Lesson
from resolvers.limits import OperationLimits
from resolvers.mutations import Mutation
from resolvers.query import Query
from resolvers.scalars import SCALAR_MAP
from resolvers.schedule import Schedule
from resolvers.subscription import Subscription
from resolvers.user import User

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Group, Lesson, Schedule, ILTSession, Completion],
    config=StrawberryConfig(scalar_map=SCALAR_MAP),
    # OperationLimits parses and validates, with the limits' checks between (in place of Strawberry's
    # ParserCache and ValidationCache); IntrospectionSwitch adds its rule to the validation before.
    extensions=[ErrorExtensions, IntrospectionSwitch, OperationLimits],
    execution_context_class=LeanExecutionContext,
)


def sdl() -> str:
    return schema.as_str() + "\n"
