"""The schema: the export target for `schema.graphql`."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.completion import Completion
from resolvers.errors import ErrorExtensions, log_errors
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


class LearnGraphSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error at ERROR with a traceback; a caller's mistake is no fault of ours.
        log_errors(errors)


schema = LearnGraphSchema(
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
