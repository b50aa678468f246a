"""How the schema executes.

`LeanExecutionContext` is graphql-core's executor as Strawberry configures it, with one shortcut:
a field read straight off its source (Strawberry's default resolver, no arguments) is read in
place, without a resolve info, and a scalar or enum serialized, an object or a list of objects
completed, without the generic `complete_value`. Anything unusual (an awaitable, a value that
is not a list, an interface, middleware, `@stream`) takes graphql-core's own path; nulls,
non-null violations and errors come out as graphql-core makes them.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from math import isfinite
from operator import attrgetter
from types import CoroutineType, GeneratorType
from typing import Any

from cachetools import LRUCache
from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.execution.collect_fields import FieldDetails, FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import Executor, invalid_return_type_error, to_nodes
from graphql.execution.values import get_argument_values
from graphql.language import FieldNode
from graphql.pyutils import AwaitableOrValue, Path, Undefined, UndefinedType, gather_with_cancel
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.arguments import StrawberryArgument, convert_arguments
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.field import StrawberryField

from gateway.data.context import Context

# Values no resolver hands back as an awaitable.
_PLAIN = frozenset({str, int, float, bool, type(None)})
# Builtin scalars that answer a value of this exact type unchanged (an int within 32 bits, a
# finite float): graphql-core's serialize_string, serialize_id, serialize_boolean, ...
_SAME_TYPE: list[tuple[GraphQLScalarType, type]] = [
    (GraphQLString, str),
    (GraphQLID, str),
    (GraphQLBoolean, bool),
    (GraphQLInt, int),
    (GraphQLFloat, float),
]
_MIN_INT, _MAX_INT = GRAPHQL_MIN_INT, GRAPHQL_MAX_INT
# What a completed object or list is when nothing in it had to wait.
_COMPLETE = frozenset({dict, list})
_TYPENAME = "__typename"
# Strawberry's `is_type_of` for an object type with interfaces: an isinstance check, info unused.
_STRAWBERRY_IS_TYPE_OF = "GraphQLCoreConverter.from_object.<locals>._get_is_type_of.<locals>.is_type_of"
# The resolver Strawberry gives a field it found basic (no resolver, no permission classes or other
# field extensions, no exception handler): `get_result` without an info. Any other resolver, even of
# a field without a resolver of its own (`_is_default` is set on those too), runs code per value.
_STRAWBERRY_BASIC_RESOLVER = "GraphQLCoreConverter.from_resolver.<locals>._get_basic_result"


@dataclasses.dataclass(frozen=True, slots=True)
class _BasicFieldShortcut:
    """How to answer a basic field (Strawberry's word: no resolver, no extension, no arguments)
    without its resolver: the attribute it reads off its source, and what the value must be."""

    field: GraphQLField
    attribute: str  # the Python attribute it reads
    read: Callable[[Any], Any]
    return_type: GraphQLOutputType
    non_null: bool
    # The Python type a builtin scalar answers unchanged (a str for a String), if any.
    same_type: type | None


@dataclasses.dataclass(frozen=True, slots=True)
class _LeafShortcut(_BasicFieldShortcut):
    """...of a scalar or an enum type: the value serialized in place."""

    leaf_type: GraphQLLeafType
    # An enum's members by GraphQL name, as Strawberry's enum type serializes them.
    enum_class: type[Enum] | None = None
    enum_names: dict[Enum, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class _ObjectShortcut(_BasicFieldShortcut):
    """...of an object type whose `is_type_of`, if any, is Strawberry's isinstance check: the
    object completed by its sub-selection's plan."""

    object_type: GraphQLObjectType


@dataclasses.dataclass(frozen=True, slots=True)
class _ObjectListShortcut(_BasicFieldShortcut):
    """...of a list of such an object type: each item completed so."""

    object_type: GraphQLObjectType
    item_type: GraphQLOutputType
    item_non_null: bool


# By field identity (GraphQLField compares by value, unhashable), the field kept with its answer.
_basic_field_shortcuts: dict[int, tuple[GraphQLField, _BasicFieldShortcut | None]] = {}


def _basic_field_shortcut(field: GraphQLField) -> _BasicFieldShortcut | None:
    cached = _basic_field_shortcuts.get(id(field))
    if cached is None or cached[0] is not field:
        cached = _basic_field_shortcuts[id(field)] = (field, _make_basic_field_shortcut(field))
    return cached[1]


# By type identity: the object type a field of that (possibly non-null) type completes as a plain
# object (`_plain_object`), or None.
_resolved_object_types: dict[int, tuple[GraphQLOutputType, GraphQLObjectType | None]] = {}


def _resolved_object_type(type_: GraphQLOutputType) -> GraphQLObjectType | None:
    cached = _resolved_object_types.get(id(type_))
    if cached is None or cached[0] is not type_:
        cached = _resolved_object_types[id(type_)] = (type_, _plain_object(_unwrap(type_)[1]))
    return cached[1]


def _unwrap(type_: GraphQLOutputType) -> tuple[bool, GraphQLOutputType]:
    return (True, type_.of_type) if isinstance(type_, GraphQLNonNull) else (False, type_)


def _plain_object(type_: GraphQLOutputType) -> GraphQLObjectType | None:
    if isinstance(type_, GraphQLObjectType) and (
        type_.is_type_of is None or type_.is_type_of.__qualname__ == _STRAWBERRY_IS_TYPE_OF
    ):
        return type_
    return None


def _make_basic_field_shortcut(field: GraphQLField) -> _BasicFieldShortcut | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not (
        isinstance(definition, StrawberryField)
        # As Strawberry decides to skip the info and the field's extensions (permissions among them).
        and definition.is_basic_field
        and getattr(field.resolve, "__qualname__", None) == _STRAWBERRY_BASIC_RESOLVER
        and definition.default_resolver is getattr
        and definition.python_name
        and not field.args
    ):
        return None
    attribute = definition.python_name
    read = attrgetter(attribute)
    non_null, named = _unwrap(field.type)
    if object_type := _plain_object(named):
        return _ObjectShortcut(field, attribute, read, field.type, non_null, None, object_type)
    if isinstance(named, GraphQLList):
        item_non_null, item = _unwrap(named.of_type)
        if object_type := _plain_object(item):
            return _ObjectListShortcut(
                field, attribute, read, field.type, non_null, None, object_type, named.of_type, item_non_null
            )
        return None
    if isinstance(named, CustomGraphQLEnumType):
        enum_class: type[Enum] = named.wrapped_cls  # type: ignore[assignment]
        names: dict[Enum, str] = {}
        for member in enum_class:
            # As CustomGraphQLEnumType.coerce_output_value picks the name: the first equal value.
            name = next((n for n, v in named.values.items() if member.value == v.value), None)
            if name is not None:
                names[member] = name
        return _LeafShortcut(field, attribute, read, field.type, non_null, None, named, enum_class, names)
    if isinstance(named, GraphQLScalarType):
        same_type = next((type_ for scalar, type_ in _SAME_TYPE if named is scalar), None)
        return _LeafShortcut(field, attribute, read, field.type, non_null, same_type, named)
    return None  # an interface, a union, an enum Strawberry did not build: the general path


PlannedFields = list[tuple[str, FieldDetailsList, _BasicFieldShortcut | str | None]]
Row = Callable[[Any], dict[str, Any] | None]


@dataclasses.dataclass(frozen=True, slots=True)
class SelectionPlan:
    """A selection's fields with their shortcuts (None: graphql-core's execute_field), and when
    every field is a scalar or enum read off its source, a function answering the whole object."""

    fields: PlannedFields
    row: Row | None


# An object field of a row: the class its values must be exactly, and the row answering them.
NestedRow = tuple[type, Row]
# By the selection's (response name, field, nested row) triples: a row is made once per selection
# shape, and as many are kept as a busy schema's clients ask for (clients can vary aliases freely).
_rows: LRUCache[tuple[tuple[str, int, int], ...], tuple[list[Any], Row | None]] = LRUCache(maxsize=2048)
_CAST = "__as_strawberry_type__"  # strawberry.cast marks an object so; its type check then differs


def _row(fields: PlannedFields, nested: dict[int, NestedRow]) -> Row | None:
    """The row answering an object of these fields, if each is a scalar, an enum or an object of
    one class with a row of its own (`nested`, by field index)."""
    shortcuts: list[_BasicFieldShortcut] = []
    for index, (_, _, shortcut) in enumerate(fields):
        if not (
            isinstance(shortcut, _LeafShortcut) or (isinstance(shortcut, _ObjectShortcut) and index in nested)
        ):
            return None
        shortcuts.append(shortcut)
    names = [name for name, _, _ in fields]
    inner = [nested[index][1] if index in nested else None for index in range(len(fields))]
    key = tuple(zip(names, map(id, shortcuts), map(id, inner), strict=True))
    keep = [*shortcuts, *inner]  # alive while their ids are in the key
    cached = _rows.get(key)
    if cached is None or any(a is not b for a, b in zip(cached[0], keep, strict=True)):
        cached = _rows[key] = (keep, _make_row(names, shortcuts, nested))
    return cached[1]


def _make_row(
    names: list[str], shortcuts: list[_BasicFieldShortcut], nested: dict[int, NestedRow]
) -> Row | None:
    """A function reading every field of an object and answering it, or None when any value needs
    more than the fast checks here (a null in a non-null field, a value of another type, an int past
    32 bits, an object a nested row refused, ...): then the plan's loop answers the object field by
    field, errors and all.

    Generated because a row is the hot path of every list: one call with each read, check and the
    answer's dict written out costs a fraction of the loop over the fields, and a nested object's
    row is called straight from its parent's.
    """
    namespace: dict[str, Any] = {"isfinite": isfinite}
    lines = ["def row(source):"]
    answer = []
    for n, (name, basic) in enumerate(zip(names, shortcuts, strict=True)):
        if not basic.attribute.isidentifier():
            return None
        lines.append(f"    v{n} = source.{basic.attribute}")
        null = None if basic.non_null else f"v{n} is None"
        if n in nested:
            # Exactly the type's class and not cast elsewhere: what Strawberry's is_type_of accepts.
            namespace[f"C{n}"], namespace[f"R{n}"] = nested[n]
            exact = f"type(v{n}) is C{n} and getattr(v{n}, {_CAST!r}, None) is None"
            lines += (
                [f"    if {null}:", f"        a{n} = None", f"    elif {exact}:"]
                if null
                else [f"    if {exact}:"]
            )
            lines += [f"        a{n} = R{n}(v{n})", f"        if a{n} is None:", "            return None"]
            lines += ["    else:", "        return None"]
            answer.append(f"{name!r}: a{n}")
            continue
        assert isinstance(basic, _LeafShortcut)
        value = f"v{n}"
        if basic.enum_class is not None:
            namespace[f"E{n}"] = basic.enum_class
            # By member name: an enum member's own hash is computed in Python, a str's is cached.
            namespace[f"N{n}"] = {member._name_: gql for member, gql in basic.enum_names.items()}
            check = f"type(v{n}) is E{n} and v{n}._name_ in N{n}"
            value = f"None if v{n} is None else N{n}[v{n}._name_]" if null else f"N{n}[v{n}._name_]"
        elif basic.same_type is int:
            check = f"type(v{n}) is int and {_MIN_INT} <= v{n} <= {_MAX_INT}"
        elif basic.same_type is float:
            check = f"type(v{n}) is float and isfinite(v{n})"
        elif basic.same_type is not None:
            namespace[f"T{n}"] = basic.same_type
            check = f"type(v{n}) is T{n}"
        else:
            return None  # a custom scalar: serialized by its own code, in the loop
        lines += [
            f"    if not ({null} or {check}):" if null else f"    if not ({check}):",
            "        return None",
        ]
        answer.append(f"{name!r}: {value}")
    lines.append(f"    return {{{', '.join(answer)}}}")
    exec(compile("\n".join(lines), "<lean row>", "exec"), namespace)
    row: Row = namespace["row"]
    return row


@dataclasses.dataclass(frozen=True, slots=True)
class _SubselectionPlan:
    """An object field's sub-selection, collected, and its plan."""

    details: FieldDetailsList  # kept alive: its id is half the key
    grouped_field_set: GroupedFieldSet
    deferred: bool
    plan: SelectionPlan | None


# Classes whose instances Strawberry's check found not awaitable, and that cannot answer otherwise
# for another instance: no `__await__`, no attribute hook, not a coroutine or generator.
_never_awaitable: set[type] = set()


def _is_awaitable(value: Any) -> bool:
    """Strawberry's optimized_is_awaitable, remembering classes that never are: for an object of a
    Strawberry type it ends in a `hasattr(value, "__await__")` that misses, raising inside."""
    kind = type(value)
    if kind in _never_awaitable:
        return False
    if optimized_is_awaitable(value):
        return True
    if _plainly_read(kind) and not issubclass(kind, (CoroutineType, GeneratorType)):
        _never_awaitable.add(kind)
    return False


# Classes whose `__getattribute__` is the generic lookup (CPython's own types; a Python-level one, or a
# proxy's, could find an `__await__` the class does not have).
_GENERIC_GETATTRIBUTE = frozenset({object, dict, list, tuple, set, frozenset, str, bytes, int, float})
_GENERIC_GETATTRIBUTE |= {date, datetime, time, Decimal}


def _plainly_read(kind: type) -> bool:
    """Whether the attributes of `kind`'s instances are its classes' (and their own), no hook between:
    no `__await__`, no `__getattr__` in its classes, a generic `__getattribute__`. Read off the classes'
    own namespaces: `hasattr(kind, ...)` would also find its metaclass's (an Enum's has `__getattr__`)."""
    owner: type | None = None
    for cls in kind.__mro__:
        namespace = vars(cls)
        if "__await__" in namespace or "__getattr__" in namespace:
            return False
        if owner is None and "__getattribute__" in namespace:
            owner = cls
    return owner in _GENERIC_GETATTRIBUTE


# Strawberry's resolvers for a field with a resolver of its own (sync and async).
_STRAWBERRY_RESOLVERS = frozenset(
    {
        "GraphQLCoreConverter.from_resolver.<locals>._resolver",
        "GraphQLCoreConverter.from_resolver.<locals>._async_resolver",
    }
)
DirectCall = Callable[[Any, GraphQLResolveInfo[Any], dict[str, Any]], Any]
# By field identity (as `_basic_field_shortcuts`): how to call its resolver directly, if it can be.
_direct_calls: dict[int, tuple[GraphQLField, DirectCall | None]] = {}


def _direct_call(field: GraphQLField, strawberry_schema: Any) -> DirectCall | None:
    cached = _direct_calls.get(id(field))
    if cached is None or cached[0] is not field:
        cached = _direct_calls[id(field)] = (field, _make_direct_call(field, strawberry_schema))
    return cached[1]


def _make_direct_call(field: GraphQLField, strawberry_schema: Any) -> DirectCall | None:
    """What Strawberry's resolver does for a field with a resolver and nothing around it (no field
    extension, permission class or exception handler): the Info made, the arguments converted, the
    resolver called with self, root, parent and info as it asks; without its six layers of wrappers
    (get_arguments, extension_resolver, reduce and partial, _get_result, get_result, __call__),
    hundreds of times per dashboard."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    converter = getattr(strawberry_schema, "schema_converter", None)
    if not (
        isinstance(definition, StrawberryField)
        and converter is not None
        and definition.base_resolver is not None
        and not definition.extensions
        and not definition.is_subscription
        and not getattr(converter, "_exception_handler_specs", True)
        and getattr(field.resolve, "__qualname__", None) in _STRAWBERRY_RESOLVERS
        and callable(definition.base_resolver.wrapped_func)
    ):
        return None
    resolver = definition.base_resolver
    function: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
    takes_self = resolver.self_parameter is not None
    as_source = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    arguments = definition.arguments
    config, registry, info_class = converter.config, converter.scalar_registry, converter.config.info_class

    # By the identity of an operation's arguments for a field node (`_argument_values` coerces them
    # once for every item of a list): Strawberry's conversion of them, when it made only values that
    # cannot change (a group's members' `schedules(status: [OVERDUE])`: once, not a hundred times).
    converted: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def call(source: Any, info: GraphQLResolveInfo[Any], args: dict[str, Any]) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=definition)
        if not args:
            kwargs: dict[str, Any] = {}
        elif (done := converted.get(id(args))) is not None and done[0] is args:
            kwargs = {name: list(v) if type(v) is list else v for name, v in done[1].items()}
        else:
            kwargs = convert_arguments(
                args, arguments, scalar_registry=registry, config=config, info=strawberry_info
            )
            if all(_unchangeable(v) for v in kwargs.values()):
                if len(converted) >= _CONVERSIONS_KEPT:
                    converted.clear()
                converted[id(args)] = (
                    args,
                    {name: list(v) if type(v) is list else v for name, v in kwargs.items()},
                )
        for name in as_source:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = strawberry_info
        return function(source, **kwargs) if takes_self else function(**kwargs)

    return call


_CONVERSIONS_KEPT = 64  # per field: the operations in flight at once, give or take
_UNCHANGEABLE = (str, int, float, Enum, date, time, Decimal)  # bool is an int, datetime a date


def _unchangeable(value: Any) -> bool:
    """A converted argument no resolver can change under another: a scalar, an enum, or a list of
    them (each call gets a list of its own)."""
    if value is None or isinstance(value, _UNCHANGEABLE):
        return True
    return type(value) is list and all(item is None or isinstance(item, _UNCHANGEABLE) for item in value)


# By field identity (as `_basic_field_shortcuts`): the names of its arguments that may be left out
# when null, the resolver's own default being that same null.
_null_default_arguments: dict[int, tuple[GraphQLField, frozenset[str]]] = {}


def _omissible_when_null(field: GraphQLField) -> frozenset[str]:
    """The arguments of `field` whose null a Strawberry resolver receives as its own default: declared
    `= null` in the schema, a Python default of None, an Optional (a Maybe tells null from absent).
    Left out, Strawberry converts nothing for them and the resolver's default gives the same None."""
    cached = _null_default_arguments.get(id(field))
    if cached is None or cached[0] is not field:
        names: set[str] = set()
        if isinstance((field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF), StrawberryField):
            for name, argument in field.args.items():
                definition = (argument.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
                if (
                    isinstance(definition, StrawberryArgument)
                    and argument.default_value is None
                    and definition.default is None
                    and isinstance(definition.type, StrawberryOptional)
                    and not isinstance(definition.type, StrawberryMaybe)
                ):
                    names.add(name)
        cached = _null_default_arguments[id(field)] = (field, frozenset(names))
    return cached[1]


def _weakly(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, without holding its object (an executor's helper; the executor outlives its calls)."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = ref()
        if bound is None:
            raise RuntimeError("the operation's execution has ended")
        return bound(*args, **kwargs)

    return call


class LeanExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor as Strawberry configures it, with a shortcut for basic fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core's helpers are this executor's bound methods, which it holds: a cycle that
        # keeps every operation's executor, context and request alive until a garbage collection
        # (on `{ __typename }`, a fifth of the gateway's CPU). Held weakly, they are freed with it.
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=_weakly(self.gather_async_work), track=_weakly(self.track_async_work)
        )
        context = self.context_value
        # LEARNGRAPH_FAST_PATHS=false: no plan is made, every field goes graphql-core's way.
        self._shortcuts = not (isinstance(context, Context) and not context.services.settings.fast_paths)
        if self._shortcuts and self.is_awaitable is optimized_is_awaitable:
            self.is_awaitable = _is_awaitable  # type: ignore[assignment]
        # Per grouped field set (one per selection, shared by every item of a list): which of its
        # fields take the shortcut. Sub-executors are shallow copies and share these.
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[GroupedFieldSet, SelectionPlan | None]] = {}
        # Per object type and field (as collect_subfields memoizes them): its sub-selection's plan.
        self._subplans: dict[tuple[GraphQLObjectType, int], _SubselectionPlan] = {}
        # Per field node (the variables being the operation's): its arguments, coerced once for every
        # item of a list that asks the field (a group's members' schedules: 13 arguments each).
        self._arguments: dict[int, tuple[FieldNode, GraphQLField, dict[str, Any]]] = {}
        self._strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        # Resolvers are called directly unless a middleware wraps them (Strawberry's `Schema.execute`
        # hands over a manager with none).
        manager = self.middleware_manager
        self._direct_calls = self._shortcuts and not (manager is not None and manager.middlewares)

    def build_per_event_executor(self, payload: Any) -> LeanExecutionContext:
        # Each event of a subscription collects its fields anew: plans of its own, so a long
        # subscription does not pile up the plans of every event it sent.
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, LeanExecutionContext)
        executor._plans, executor._subplans, executor._arguments = {}, {}, {}
        return executor

    def _argument_values(self, field_def: GraphQLField, details: FieldDetails) -> dict[str, Any]:
        """get_argument_values, once per field node; without the nulls the resolver defaults to."""
        node = details.node
        cached = self._arguments.get(id(node))
        if cached is not None and cached[0] is node and cached[1] is field_def:
            return cached[2]
        args = get_argument_values(
            field_def, node, self.variable_values, details.fragment_variable_values, self.hide_suggestions
        )
        if self._shortcuts:
            omissible = _omissible_when_null(field_def)
            if omissible:
                args = {name: v for name, v in args.items() if v is not None or name not in omissible}
            if details.fragment_variable_values is None:
                self._arguments[id(node)] = (node, field_def, args)
        return args

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any] | UndefinedType:
        """graphql-core's execute_field, its arguments coerced once per field node (`_argument_values`)."""
        first_field_details = field_details_list[0]
        first_field_node = first_field_details.node
        field_def = self.schema.get_field(parent_type, first_field_node.name.value)
        if not field_def:
            return Undefined
        return_type = field_def.type
        resolve_fn = field_def.resolve or self.field_resolver
        if self.middleware_manager:
            resolve_fn = self.middleware_manager.get_field_resolver(resolve_fn)
        info = self.build_resolve_info(field_def, to_nodes(field_details_list), parent_type, path)
        try:
            args = (
                self._argument_values(field_def, first_field_details)
                if field_def.args or first_field_node.arguments
                else {}
            )
            direct = _direct_call(field_def, self._strawberry_schema) if self._direct_calls else None
            result = direct(source, info, args) if direct is not None else resolve_fn(source, info, **args)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, result, position_context
                )
            object_type = _resolved_object_type(return_type) if self._shortcuts else None
            if (
                object_type is not None
                and position_context is None
                and result is not None
                and result is not Undefined
                and not isinstance(result, Exception)
            ):
                # An object a resolver answered (a connection, a schedule's lesson): completed by its
                # selection's plan, as a basic field's object is, not complete_value's generic way.
                completed = self._complete_object(
                    object_type, field_details_list, path, result, position_context
                )
                if type(completed) is dict:
                    return completed
            else:
                completed = self.complete_value(
                    return_type, field_details_list, info, path, result, position_context
                )
            if self.is_awaitable(completed):
                return self._handle_later(completed, return_type, field_details_list, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> SelectionPlan | None:
        key = (parent_type, id(grouped_field_set))
        cached = self._plans.get(key)
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        plan: SelectionPlan | None = None
        middleware = self.middleware_manager is not None and bool(self.middleware_manager.middlewares)
        if self._shortcuts and not middleware:
            fields = [
                (response_name, details, self._shortcut(parent_type, details))
                for response_name, details in grouped_field_set.items()
            ]
            if any(shortcut is not None for _, _, shortcut in fields):
                plan = SelectionPlan(fields, _row(fields, self._nested_rows(fields)))
        self._plans[key] = (grouped_field_set, plan)
        return plan

    def _nested_rows(self, fields: PlannedFields) -> dict[int, NestedRow]:
        """For each object field whose type's objects are all answered by a row: its class and row."""
        nested: dict[int, NestedRow] = {}
        for index, (_, details, shortcut) in enumerate(fields):
            if isinstance(shortcut, _ObjectShortcut):
                definition = (shortcut.object_type.extensions or {}).get(
                    GraphQLCoreConverter.DEFINITION_BACKREF
                )
                subplan = self._subplan(shortcut.object_type, details)
                origin = getattr(definition, "origin", None)
                if isinstance(origin, type) and subplan.plan and subplan.plan.row and not subplan.deferred:
                    nested[index] = (origin, subplan.plan.row)
        return nested

    def _subplan(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> _SubselectionPlan:
        """The plan of an object field's sub-selection (as collect_subfields memoizes it)."""
        subplan = self._subplans.get((object_type, id(details)))
        if subplan is None or subplan.details is not details:
            grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, details)
            plan = self._plan(object_type, grouped_field_set)
            subplan = _SubselectionPlan(details, grouped_field_set, bool(new_defer_usages), plan)
            self._subplans[(object_type, id(details))] = subplan
        return subplan

    def _shortcut(
        self, parent_type: GraphQLObjectType, details: FieldDetailsList
    ) -> _BasicFieldShortcut | str | None:
        node = details[0].node
        if node.arguments:
            return None
        if node.name.value == _TYPENAME:
            return _TYPENAME
        field = self.schema.get_field(parent_type, node.name.value)
        basic = _basic_field_shortcut(field) if field is not None else None
        if isinstance(basic, _ObjectListShortcut) and any(
            d.name.value == "stream" for d in node.directives or ()
        ):
            return None  # incremental delivery: the general path
        return basic

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        return self._execute_plan(plan, parent_type, source_value, path, position_context)

    def _execute_plan(
        self,
        plan: SelectionPlan,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's execute_fields, with the shortcut for the fields the plan marks."""
        if plan.row is not None and position_context is None:
            try:
                answer = plan.row(source_value)
            except Exception:
                answer = None  # a read failed: the loop reads field by field and reports which
            if answer is not None:
                return answer
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, details, shortcut in plan.fields:
                if shortcut is None:
                    field_path = Path(path, response_name, parent_type.name)
                    result = self.execute_field(
                        parent_type, source_value, details, field_path, position_context
                    )
                    if result is Undefined:
                        continue
                elif isinstance(shortcut, str):  # __typename
                    result = parent_type.name
                else:
                    try:
                        value = shortcut.read(source_value)
                    except Exception as raw_error:
                        field_path = Path(path, response_name, parent_type.name)
                        self.handle_field_error(raw_error, shortcut.return_type, details, field_path)
                        results[response_name] = None
                        continue
                    kind = type(value)
                    if (
                        kind is shortcut.same_type
                        and (kind is not int or _MIN_INT <= value <= _MAX_INT)
                        and (kind is not float or isfinite(value))
                    ):
                        results[response_name] = value  # what the builtin scalar answers for it
                        continue
                    result = self._complete_basic(
                        shortcut, parent_type, details, path, response_name, value, position_context
                    )
                results[response_name] = result
                if type(result) not in _PLAIN and is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise

        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _complete_basic(
        self,
        basic: _BasicFieldShortcut,
        parent_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path | None,
        response_name: str,
        value: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """What execute_field answers for a field whose value is read, without its resolve info."""
        field_path: Path | None = None
        try:
            kind = type(value)
            if kind in _PLAIN:
                if value is None:
                    if basic.non_null:
                        raise _null_error(parent_type, details)
                    return None
                if isinstance(basic, _LeafShortcut):
                    return Executor.complete_leaf_value(basic.leaf_type, value)
            elif self.is_awaitable(value):
                field_path = Path(path, response_name, parent_type.name)
                return self._complete_generally(
                    basic, parent_type, details, field_path, value, position_context
                )
            elif isinstance(value, Exception):
                raise value
            elif value is Undefined:
                if basic.non_null:
                    raise _null_error(parent_type, details)
                return None
            elif isinstance(basic, _LeafShortcut):
                if kind is basic.enum_class:
                    name = basic.enum_names.get(value)
                    if name is not None:
                        return name
                return Executor.complete_leaf_value(basic.leaf_type, value)
            field_path = Path(path, response_name, parent_type.name)
            completed: AwaitableOrValue[Any]
            if isinstance(basic, _ObjectShortcut):
                completed = self._complete_object(
                    basic.object_type, details, field_path, value, position_context
                )
            elif isinstance(basic, _ObjectListShortcut) and kind is list:
                completed = self._complete_objects(
                    basic, parent_type, details, field_path, value, position_context
                )
            else:
                return self._complete_generally(
                    basic, parent_type, details, field_path, value, position_context
                )
            if type(completed) not in _COMPLETE and self.is_awaitable(completed):
                return self._handle_later(completed, basic.return_type, details, field_path)
            return completed
        except Exception as raw_error:
            field_path = field_path or Path(path, response_name, parent_type.name)
            self.handle_field_error(raw_error, basic.return_type, details, field_path)
            return None

    def _complete_generally(
        self,
        basic: _BasicFieldShortcut,
        parent_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """execute_field's completion of a value already read: with a resolve info, by the book."""
        info = self.build_resolve_info(basic.field, to_nodes(details), parent_type, path)
        if self.is_awaitable(value):
            return self.complete_awaitable_value(
                basic.return_type, details, info, path, value, position_context
            )
        completed = self.complete_value(basic.return_type, details, info, path, value, position_context)
        if self.is_awaitable(completed):
            return self._handle_later(completed, basic.return_type, details, path)
        return completed

    def _complete_object(
        self,
        object_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
        subplan: _SubselectionPlan | None = None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """complete_object_value for a type whose is_type_of, if any, is Strawberry's isinstance.
        `subplan`: `_subplan(object_type, details)`, when the caller has it (a list's, for each item)."""
        is_type_of = object_type.is_type_of
        if is_type_of is not None and not is_type_of(value, None):  # type: ignore[arg-type]
            raise invalid_return_type_error(object_type, value, details)
        if subplan is None:
            subplan = self._subplan(object_type, details)
        if subplan.plan is None or subplan.deferred or position_context is not None:
            # As collect_and_execute_subfields goes on, for what the shortcut leaves alone.
            grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, details)
            return self.execute_collected_subfields(
                object_type, value, path, grouped_field_set, new_defer_usages, position_context
            )
        # What either executor's execute_collected_subfields does when nothing is deferred.
        return self._execute_plan(subplan.plan, object_type, value, path, None)

    def _complete_objects(
        self,
        basic: _ObjectListShortcut,
        parent_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path,
        items: list[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """complete_iterable_value for a list of objects, each completed as _complete_object does."""
        item_type, object_type = basic.item_type, basic.object_type
        is_awaitable = self.is_awaitable
        subplan = self._subplan(object_type, details) if items else None  # the same for every item
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        for index, item in enumerate(items):
            item_path = Path(path, index, None)
            if is_awaitable(item):
                info = self.build_resolve_info(basic.field, to_nodes(details), parent_type, path)
                completed.append(
                    self.complete_awaitable_list_item_value(
                        item, item_type, details, info, item_path, position_context
                    )
                )
                awaitable_indices.append(index)
                continue
            try:
                if isinstance(item, Exception):
                    raise item
                if item is None or item is Undefined:
                    if basic.item_non_null:
                        raise _null_error(parent_type, details)
                    completed.append(None)
                    continue
                result = self._complete_object(
                    object_type, details, item_path, item, position_context, subplan
                )
                if type(result) not in _COMPLETE and is_awaitable(result):
                    completed.append(self._handle_later(result, item_type, details, item_path))
                    awaitable_indices.append(index)
                else:
                    completed.append(result)
            except Exception as raw_error:
                try:
                    self.handle_field_error(raw_error, item_type, details, item_path)
                except Exception:
                    pending = [completed[i] for i in awaitable_indices]
                    pending += [rest for rest in items[index + 1 :] if is_awaitable(rest)]
                    if pending:
                        self.settle_in_background(pending)
                    raise
                completed.append(None)

        if not awaitable_indices:
            return completed

        async def get_completed() -> list[Any]:
            if len(awaitable_indices) == 1:
                index = awaitable_indices[0]
                completed[index] = await completed[index]
            else:
                awaited = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
                for index, result in zip(awaitable_indices, awaited, strict=True):
                    completed[index] = result
            return completed

        return get_completed()

    async def _handle_later(
        self, completed: Awaitable[Any], return_type: GraphQLOutputType, details: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None


def _null_error(parent_type: GraphQLObjectType, details: FieldDetailsList) -> TypeError:
    return TypeError(f"Cannot return null for non-nullable field {parent_type}.{details[0].node.name.value}.")
