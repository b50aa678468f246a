"""DAMSTRA's webhooks (docs/vendors.md, "Webhooks") received at `POST /webhooks/damstra`.

    receiver = DamstraWebhooks()
    Route("/webhooks/damstra", receiver.receive, methods=["POST"])
    receiver.duplicates, receiver.stale             # counts (learngraph_webhook_events_total too)

A post is authenticated by the shared secret `LEARNGRAPH_WEBHOOK_SECRET`, validated, and the
cache entries its event makes stale are dropped before the answer; subscribers get the event
right after it, once. DAMSTRA's bodies carry no event ID, so a delivery is known by the SHA-256
of its canonical JSON (keys sorted), remembered for `LEARNGRAPH_WEBHOOK_MAX_AGE_SECONDS`
(`Services.deliveries`): a repeat within that window is not published again. A body whose
`timeStamp` is older than the window is stale: too old to tell from a replay, so it is not
published either. Both still drop the cached records they name, which is always safe. Answers:

    202  accepted; or accepted and ignored (an event name this gateway does not know), a
         duplicate, or stale (the body's `status` says which)
    400  not a JSON object, no `name`, a field of the wrong type, a known event without its ids
    401  no secret, or the wrong one
    403  no secret is configured: the receiver refuses every post rather than trust anyone
    413  a body far larger than any event
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.data.cache import EntityCache
from gateway.data.context import Services
from gateway.data.events import EventBus, TrainingEvent, TrainingEventType
from gateway.data.sync_hooks import WebhookSubject
from gateway.dates import parse_datetime
from gateway.native_ids import is_numeric_id
from gateway.settings import Settings
from gateway.sources import Source
from gateway.telemetry.metrics import WEBHOOKS_DUPLICATE, WEBHOOKS_RECEIVED, WEBHOOKS_STALE

log = logging.getLogger("gateway.server.webhooks")

SECRET_HEADER = "X-LearnGraph-Webhook-Secret"
# DAMSTRA's webhook settings take nothing but a URI, so a real DAMSTRA can only carry the secret
# in it (`.../webhooks/damstra?secret=...`); configured secrets are redacted from every log line.
SECRET_PARAM = "secret"
MAX_BODY_BYTES = 64 * 1024

EVENT_TYPES = {
    "lesson.schedule.created": TrainingEventType.SCHEDULE_CREATED,
    "lesson.schedule.changed": TrainingEventType.SCHEDULE_CHANGED,
    "lesson.schedule.completed": TrainingEventType.SCHEDULE_COMPLETED,
    "lesson.schedule.cancelled": TrainingEventType.SCHEDULE_CANCELLED,
    "user.account.created": TrainingEventType.USER_CREATED,
    "user.settings.updated": TrainingEventType.USER_UPDATED,
    "user.account.inactivate": TrainingEventType.USER_INACTIVATED,
}
SCHEDULE_EVENTS = {
    TrainingEventType.SCHEDULE_CREATED,
    TrainingEventType.SCHEDULE_CHANGED,
    TrainingEventType.SCHEDULE_COMPLETED,
    TrainingEventType.SCHEDULE_CANCELLED,
}
USER_EVENTS = {
    TrainingEventType.USER_CREATED,
    TrainingEventType.USER_UPDATED,
    TrainingEventType.USER_INACTIVATED,
}
# Creating or updating a user may place them in groups or take them out (DAMSTRA's `groups`),
# and a cached group carries its `memberCount`.
MEMBERSHIP_EVENTS = {TrainingEventType.USER_CREATED, TrainingEventType.USER_UPDATED}


class BadWebhook(ValueError):
    """A post that is not a DAMSTRA event; the message says why, without echoing the body."""


def _native_id(value: Any) -> str | None:
    # The API document sends ids as strings; a number is the same id. Empty means absent (the sandbox
    # sends `"actingUserId": ""` when no user acted).
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not is_numeric_id(value):
        raise ValueError("must be a numeric id as a string")
    return value


def _timestamp(value: Any) -> datetime | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    return parse_datetime(value)


NativeId = Annotated[str | None, BeforeValidator(_native_id)]
Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]


class DamstraWebhook(BaseModel):
    """Every key any of the documented events carries; which ones an event needs is checked in `to_event`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: StrictStr
    # The API document spells it `userId` in some events and `userID` in others.
    user_id: NativeId = Field(None, validation_alias=AliasChoices("userId", "userID"))
    lesson_schedule_id: NativeId = Field(None, validation_alias="lessonScheduleId")
    time_stamp: Timestamp = Field(None, validation_alias="timeStamp")
    schedule_date: Timestamp = Field(None, validation_alias="scheduleDate")
    cancellation_reason: StrictStr | None = Field(None, validation_alias="cancellationReason")
    acting_user_id: NativeId = Field(None, validation_alias="actingUserId")
    first_name: StrictStr | None = Field(None, validation_alias="firstName")
    last_name: StrictStr | None = Field(None, validation_alias="lastName")
    user_name: StrictStr | None = Field(None, validation_alias="userName")


@dataclass(frozen=True)
class Delivery:
    """One post, read: its event (None for an event name this gateway does not know) and its identity."""

    event: TrainingEvent | None
    identity: str


def delivery_identity(data: dict[str, Any]) -> str:
    """The SHA-256 of the body as canonical JSON: the same event whatever its keys' order or spacing."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def read_delivery(body: bytes, received_at: datetime) -> Delivery:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadWebhook("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadWebhook("the body must be a JSON object")
    if not isinstance(data.get("name"), str):
        raise BadWebhook("name: required, a string")
    if data["name"] not in EVENT_TYPES:
        # "Any handler would need to be able to accommodate all of the events": a new kind is no error.
        return Delivery(None, "")
    try:
        hook = DamstraWebhook.model_validate(data)
    except ValidationError as exc:
        raise BadWebhook(_explain(exc)) from None
    return Delivery(to_event(hook, received_at), delivery_identity(data))


def parse_event(body: bytes, received_at: datetime) -> TrainingEvent | None:
    """The event a post reports; None for an event name this gateway does not know."""
    return read_delivery(body, received_at).event


def to_event(hook: DamstraWebhook, received_at: datetime) -> TrainingEvent:
    event_type = EVENT_TYPES[hook.name]
    if hook.user_id is None:
        raise BadWebhook(f"{hook.name} needs userId")
    if event_type in SCHEDULE_EVENTS and hook.lesson_schedule_id is None:
        raise BadWebhook(f"{hook.name} needs lessonScheduleId")
    return TrainingEvent(
        type=event_type,
        source=Source.DAMSTRA,
        # A post without its timeStamp is taken as just fired.
        occurred_at=hook.time_stamp or received_at,
        user_id=hook.user_id,
        schedule_id=hook.lesson_schedule_id if event_type in SCHEDULE_EVENTS else None,
        cancellation_reason=hook.cancellation_reason,
        from_webhook=True,
    )


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def invalidate(cache: EntityCache, scope: str, event: TrainingEvent) -> None:
    """Drop the cross-request entries `event` made stale (read with the credential `scope`).

    - a user event: that user's record (names, status, roles, groups all live in it);
    - user created or updated: every group too, as memberships may have moved and the groups
      joined are named only by the upstream record the event does not carry;
    - a schedule event, and an inactivated user (DAMSTRA may cancel their schedules): that user's
      cached schedule list. A schedule by ID and ILT attendance are read afresh by every request.
    """
    if event.source is not Source.DAMSTRA:
        return
    if event.type in SCHEDULE_EVENTS | {TrainingEventType.USER_INACTIVATED} and event.user_id is not None:
        cache.invalidate("damstra_schedules", scope, event.user_id)
    if event.type in USER_EVENTS and event.user_id is not None:
        cache.invalidate("user", scope, event.user_id)
    if event.type in MEMBERSHIP_EVENTS:
        cache.invalidate("group", scope)


def configured_secret(settings: Settings) -> str | None:
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    return secret or None


def log_receiver_state(settings: Settings) -> None:
    """Said once at start-up, so a refusing receiver is no surprise."""
    if configured_secret(settings) is None:
        log.warning(
            "DAMSTRA webhooks are refused: set LEARNGRAPH_WEBHOOK_SECRET, and give DAMSTRA the same secret"
        )
    else:
        log.info("DAMSTRA webhooks are received at /webhooks/damstra")


def _authentic(request: Request, secret: str) -> bool:
    given = request.headers.get(SECRET_HEADER) or request.query_params.get(SECRET_PARAM)
    # Constant time, so the answer's timing does not reveal how much of a guess was right.
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it grows past any real event."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def _publish(bus: EventBus, event: TrainingEvent) -> None:
    try:
        await bus.publish(event)
    except Exception:  # the sender has its answer; a failed delivery is ours to report
        log.exception("could not publish a DAMSTRA %s event", event.type.name)


def _refusal(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class DamstraWebhooks:
    """The receiver, with counts of what it answered 202 without publishing (the metrics export them)."""

    def __init__(self) -> None:
        self.accepted = 0  # published (or handed to the bus, which drops echoes of our own writes)
        self.duplicates = 0  # seen within the window already
        self.stale = 0  # stamped longer ago than the window

    async def receive(self, request: Request) -> Response:
        services: Services = request.app.state.services
        settings = services.settings
        secret = configured_secret(settings)
        if secret is None:
            return _refusal(403, "this gateway takes no webhooks until LEARNGRAPH_WEBHOOK_SECRET is set")
        if not _authentic(request, secret):
            return _refusal(401, f"missing or wrong webhook secret (send it in the {SECRET_HEADER} header)")
        body = await _read_body(request)
        if body is None:
            return _refusal(413, f"a webhook body is at most {MAX_BODY_BYTES} bytes")
        received_at = datetime.now(UTC)
        try:
            delivery = read_delivery(body, received_at)
        except BadWebhook as exc:
            return _refusal(400, str(exc))
        WEBHOOKS_RECEIVED.inc()  # authentic and well formed
        event = delivery.event
        if event is None:
            return JSONResponse({"status": "ignored"}, status_code=202)
        scope = services.upstreams.fingerprints.get(Source.DAMSTRA)
        if scope is not None:
            # Before the answer, so whoever reads after it reads fresh data, on every replica; it is
            # only memory. A duplicate or a stale body drops them too: dropping is always safe.
            invalidate(services.cache, scope, event)
            await services.flush()
        if received_at - event.occurred_at > timedelta(seconds=settings.webhook_max_age_seconds):
            # Too old to tell from a replay (its first delivery may be forgotten already).
            self.stale += 1
            WEBHOOKS_STALE.inc()
            log.info(
                "a stale DAMSTRA webhook (%s, stamped %s) was not published",
                event.type.name,
                event.occurred_at,
            )
            return JSONResponse({"status": "stale"}, status_code=202)
        if not await services.deliveries.remember(delivery.identity):
            self.duplicates += 1
            WEBHOOKS_DUPLICATE.inc()
            log.info("a repeated DAMSTRA webhook (%s) was not published again", event.type.name)
            return JSONResponse({"status": "duplicate"}, status_code=202)
        self.accepted += 1
        log.debug("DAMSTRA webhook %s for user %s", event.type.name, event.user_id)
        if services.sync is not None and event.user_id is not None:
            # The index re-reads exactly what the event names, in the background, from now.
            subject: WebhookSubject = "schedules" if event.type in SCHEDULE_EVENTS else "user"
            services.sync.webhook_received(subject, event.user_id, received_at)
        # The sender gets its answer now; subscribers get the event right after.
        return JSONResponse(
            {"status": "accepted"},
            status_code=202,
            background=BackgroundTask(_publish, services.events, event),
        )
