"""The sandbox's state: one seeded, deterministic world of people and their training in four systems.

    world = build_world(people=50, seed=7)
    world.damstra.users[world.people[0].damstra_user_id]

People are linked across the sources the way a real company's are: some by the identity
file (every account in one entry), some only through a shared email (in another case) or
employee number, and some not at all. The vendor apps read and change this state: each vendor's
records are `...Row` classes (`DamstraUserRow`, `TrainSessionRow`), the sandbox's side of the records
the connectors parse (`gateway.upstreams.damstra.DamstraUser`, ...); a `SeededPerson` is the human
behind the accounts, not the gateway's linked `gateway.data.people.Person`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.indexed import IndexedDict

FIRST_NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olive",
    "Priya",
    "Quinn",
    "Ruby",
    "Sam",
    "Tara",
    "Uma",
    "Vik",
    "Willa",
    "Xavier",
    "Yara",
    "Zane",
    "Amir",
    "Bea",
    "Cody",
    "Dana",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kai",
    "Lena",
    "Milo",
    "Nina",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Brown",
    "Taylor",
    "Wilson",
    "Nguyen",
    "Patel",
    "Martin",
    "Lee",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Torres",
    "Parker",
    "Collins",
]
COURSES = [
    ("WHMIS", "WHMIS 2015"),
    ("TDG", "Transportation of Dangerous Goods"),
    ("FP", "Fall Protection"),
    ("JHSC", "Joint Health and Safety Committee"),
    ("FA", "First Aid Basics"),
    ("CONF", "Confined Spaces"),
    ("FORK", "Forklift Safety"),
    ("LOTO", "Lockout Tagout"),
]
LESSON_TOPICS = [
    "Induction",
    "Manual Handling",
    "Fire Safety",
    "Working at Heights",
    "Hazard Reporting",
    "Ladder Safety",
    "PPE Essentials",
    "Chemical Handling",
    "Site Security",
    "Emergency Evacuation",
    "Hot Work Permits",
    "Noise Awareness",
    "Fatigue Management",
    "Traffic Management",
    "Electrical Safety",
    "Scaffold Inspection",
    "Asbestos Awareness",
    "Drug and Alcohol Policy",
    "Bullying and Harassment",
    "Privacy Basics",
    "Customer Care",
    "Incident Investigation",
    "Risk Assessment",
    "Toolbox Talks",
]
PACKAGES = [
    (f"PKG-{i:03d}", name)
    for i, name in enumerate(
        [
            "Code of Conduct",
            "Anti-Bribery",
            "Data Protection",
            "Health and Safety",
            "Equality and Diversity",
            "Cyber Security",
            "Information Security",
            "Whistleblowing",
            "Modern Slavery",
            "Environmental Awareness",
        ],
        1,
    )
]
TIME_ZONES = ("Australia/Perth", "Australia/Sydney", "America/Toronto", "Europe/London")

ROLE_TRAINEE, ROLE_SUPERVISOR, ROLE_INSTRUCTOR, ROLE_ADMIN = 6, 5, 8, 3
STATUS_ACTIVE, STATUS_NOT_CURRENT = 56, 57


@dataclass
class SeededPerson:
    """The real human behind the accounts; the sandbox's ground truth for identity tests."""

    index: int
    first_name: str
    last_name: str
    email: str
    employee_number: str
    username: str
    damstra_user_id: int | None = None
    learninglogin_login_id: int | None = None
    training_records_person_api_id: str | None = None
    iscout_user_id: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


# -- DAMSTRA ------------------------------------------------------------------------------------


@dataclass
class DamstraUserRow:
    id: int
    user_name: str
    first_name: str
    last_name: str
    email_address: str
    phone_number: str
    mobile_number: str
    employee_number: str
    client_status_id: int
    roles: list[int]
    time_zone: str
    created: datetime
    modified: datetime
    last_logged_in: datetime | None = None


@dataclass
class DamstraGroupRow:
    id: int
    name: str
    description: str
    parent_id: int | None
    created: datetime
    active: bool = True
    member_ids: list[int] = field(default_factory=list)
    supervisor_ids: list[int] = field(default_factory=list)


@dataclass
class DamstraLessonRow:
    lesson_id: int
    lesson_version_id: int
    name: str
    duration_ms: int
    status: str  # active | inactive | never | rendering | error
    version: int
    created: datetime
    modified: datetime
    instructor_led: bool = False
    question_count: int = 8  # questions in the lesson's questionnaire; 0: none to pass
    pass_rate: int = 80  # the questionnaire's pass mark, in percent
    custom_fields: list[tuple[str, str, str]] = field(default_factory=list)  # (fieldId, description, value)


@dataclass
class DamstraScheduleRow:
    id: int
    user_id: int
    lesson_id: int
    lesson_version_id: int
    start_date: datetime
    end_date: datetime
    status: str  # scheduled | due | overdue | completed | cancelled
    progress: int
    created: datetime
    modified: datetime
    started: datetime | None = None
    completed: datetime | None = None
    completed_by: int | None = None
    passed: bool = False
    schedule_type: str = "manual"


@dataclass
class DamstraILTSessionRow:
    id: int
    lesson_id: int
    instructor_id: int
    status_id: int  # 1 active, 2 completed, 3 cancelled
    notes: str
    number_of_places: int
    start: datetime
    end: datetime
    location: str
    created: datetime
    modified: datetime
    trainee_notification: bool = True
    instructor_notification: bool = True


@dataclass
class DamstraAttendeeRow:
    id: int
    user_id: int
    session_id: int
    lesson_schedule_id: int
    registering_user_id: int
    passed: bool
    attended: bool
    created: datetime
    modified: datetime


@dataclass
class DamstraState:
    users: IndexedDict[int, DamstraUserRow] = field(default_factory=IndexedDict)
    groups: IndexedDict[int, DamstraGroupRow] = field(default_factory=IndexedDict)
    lessons: IndexedDict[int, DamstraLessonRow] = field(  # by lesson_id
        default_factory=lambda: IndexedDict[int, DamstraLessonRow](version=lambda x: x.lesson_version_id)
    )
    schedules: IndexedDict[int, DamstraScheduleRow] = field(
        default_factory=lambda: IndexedDict[int, DamstraScheduleRow](user=lambda s: s.user_id)
    )
    ilt_sessions: dict[int, DamstraILTSessionRow] = field(default_factory=dict)
    attendees: IndexedDict[int, DamstraAttendeeRow] = field(
        default_factory=lambda: IndexedDict[int, DamstraAttendeeRow](
            session=lambda a: a.session_id, schedule=lambda a: a.lesson_schedule_id
        )
    )
    next_id: int = 900_000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def schedules_of(self, user_id: int) -> list[DamstraScheduleRow]:
        """The user's schedules, by id."""
        return [self.schedules[sid] for sid in sorted(self.schedules.keys_where("user", user_id))]

    def lesson_by_version(self, version_id: int | None) -> DamstraLessonRow | None:
        """The first lesson (in the dict's order) whose current version is `version_id`."""
        found = self.lessons.in_order(self.lessons.keys_where("version", version_id))
        return self.lessons[found[0]] if found else None

    def attendees_of(self, session_id: int) -> list[DamstraAttendeeRow]:
        """The session's attendees, by id."""
        return [self.attendees[aid] for aid in sorted(self.attendees.keys_where("session", session_id))]

    def sessions_registering(self, schedule_id: int) -> set[int]:
        """The ILT sessions a lesson schedule is registered in."""
        return {self.attendees[aid].session_id for aid in self.attendees.keys_where("schedule", schedule_id)}


# -- LEARNINGLOGIN ------------------------------------------------------------------------------


@dataclass
class LearningLoginLoginRow:
    """A LearningLogin login. The API has no endpoint for logins; the sandbox needs them to filter."""

    id: int
    username: str
    full_name: str


@dataclass
class TrainSessionRow:
    id: int
    login_id: int
    course_code: str
    course_name: str
    status: str  # Assigned | In Progress | Completed
    score: int
    percent_complete: int
    failed_attempts: int
    cert_expiry: date | None
    completion_date: date | None
    complete_by: date | None
    last_attempt: date | None
    time_spent: float | str | None  # LearningLogin's documents show a number, a decimal string and null
    unit_expiry: date | None = None


@dataclass
class LearningLoginState:
    logins: IndexedDict[int, LearningLoginLoginRow] = field(
        default_factory=lambda: IndexedDict[int, LearningLoginLoginRow](username=lambda x: x.username)
    )
    train_sessions: IndexedDict[int, TrainSessionRow] = field(
        default_factory=lambda: IndexedDict[int, TrainSessionRow](login=lambda ts: ts.login_id)
    )

    def sessions_of_logins(self, login_ids: Iterable[int | None]) -> list[TrainSessionRow]:
        """The train sessions of these logins, in the dict's order."""
        sessions = self.train_sessions
        keys = [key for login_id in login_ids for key in sessions.keys_where("login", login_id)]
        return [sessions[key] for key in sessions.in_order(keys)]

    def sessions_of_username(self, username: str) -> list[TrainSessionRow]:
        """The train sessions of the logins with this username, in the dict's order."""
        return self.sessions_of_logins(self.logins.keys_where("username", username))


# -- TRAINING_RECORDS ---------------------------------------------------------------------------


@dataclass
class TrainingRecordRow:
    api_id: str
    person_api_id: str
    package_api_id: str
    date_assigned: datetime
    date_started: datetime | None
    date_completed: datetime | None


@dataclass
class TrainingRecordsState:
    packages: dict[str, str] = field(default_factory=dict)  # package_api_id -> description
    records: IndexedDict[str, TrainingRecordRow] = field(
        default_factory=lambda: IndexedDict[str, TrainingRecordRow](
            person=lambda r: r.person_api_id, package=lambda r: r.package_api_id
        )
    )
    next_id: int = 50_000

    def new_api_id(self) -> str:
        self.next_id += 1
        return f"rec-{self.next_id}"


# -- ISCOUT -------------------------------------------------------------------------------------


@dataclass
class IScoutCompletionRow:
    user_id: str
    training_id: str
    created_ms: int
    date_number: int
    special_expiration_date_number: int | None
    instructor_id: str | None
    group_training_id: str | None


@dataclass
class IScoutState:
    trainings: dict[str, str] = field(default_factory=dict)  # training_id -> name (not served by the API)
    completions: list[IScoutCompletionRow] = field(default_factory=list)
    # The completions by user and by training, in the list's order; rebuilt when the list has changed.
    _by_user: dict[str, list[IScoutCompletionRow]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _by_training: dict[str, list[IScoutCompletionRow]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _indexed_as: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)

    def completions_where(self, user_id: str | None, training_id: str | None) -> list[IScoutCompletionRow]:
        """The completions of that user and that training (None: any), in the list's order.
        Read-only: the answer may be the index's own list."""
        self._index()
        found = self.completions
        if user_id is not None:
            found = self._by_user.get(user_id, [])
        if training_id is not None:
            by_training = self._by_training.get(training_id, [])
            found = by_training if user_id is None else [c for c in found if c.training_id == training_id]
        return found

    def _index(self) -> None:
        # Nothing in the sandbox writes completions, but tests append to the list, so a changed list
        # (another length, first or last entry) is indexed again: cheap to check, rare to happen.
        # A completion's user or training changed in place is not noticed; no one does that.
        items = self.completions
        shape = (id(items), len(items), id(items[0]) if items else 0, id(items[-1]) if items else 0)
        if shape == self._indexed_as:
            return
        self._by_user, self._by_training = {}, {}
        for completion in items:
            self._by_user.setdefault(completion.user_id, []).append(completion)
            self._by_training.setdefault(completion.training_id, []).append(completion)
        self._indexed_as = shape


@dataclass
class World:
    anchor: datetime
    people: list[SeededPerson]
    damstra: DamstraState
    learninglogin: LearningLoginState
    training_records: TrainingRecordsState
    iscout: IScoutState
    identity_entries: list[dict[str, str | int]]


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def build_world(people: int = 50, seed: int = 7, anchor: datetime | None = None) -> World:
    """A deterministic world for `people` people; `anchor` is "now" for due dates (default: today, 00:00 UTC)."""
    rng = random.Random(seed)
    if anchor is None:
        today = datetime.now(UTC).date()
        anchor = datetime(today.year, today.month, today.day, tzinfo=UTC)
    world = World(anchor, [], DamstraState(), LearningLoginState(), TrainingRecordsState(), IScoutState(), [])
    _make_people(world, rng, people)
    _make_damstra(world, rng)
    _make_learninglogin(world, rng)
    _make_training_records(world, rng)
    _make_iscout(world, rng)
    _make_identity_entries(world, rng)
    _build_lookups(world)
    return world


def _build_lookups(world: World) -> None:
    # Built now so the first request after the build does not pay for them (~50 ms at 5000 people).
    damstra, learninglogin = world.damstra, world.learninglogin
    tables: list[IndexedDict[Any, Any]] = [damstra.lessons, damstra.schedules, damstra.attendees]
    tables += [learninglogin.logins, learninglogin.train_sessions, world.training_records.records]
    for table in tables:
        table.build_lookups()
    world.iscout.completions_where(None, None)  # indexes the completions


def _make_people(world: World, rng: random.Random, count: int) -> None:
    for i in range(count):
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i * 7 + i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        person = SeededPerson(
            index=i,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}{i}@example.com",
            employee_number=f"E{1000 + i}",
            username=f"{first.lower()}{last.lower()}{i}",
        )
        # Most people have a DAMSTRA account; the other systems hold a subset each.
        if i == 0 or rng.random() < 0.9:
            person.damstra_user_id = 10_000 + i
        if i == 0 or rng.random() < 0.6:
            person.learninglogin_login_id = 500 + i
        if i == 0 or rng.random() < 0.5:
            person.training_records_person_api_id = f"person-{i:05d}"
        if i == 0 or rng.random() < 0.5:
            person.iscout_user_id = _hex_id(rng)
        world.people.append(person)


def _make_damstra(world: World, rng: random.Random) -> None:
    state, now = world.damstra, world.anchor
    for person in world.people:
        if person.damstra_user_id is None:
            continue
        created = now - timedelta(days=rng.randint(200, 2000), seconds=rng.randint(0, 86_400))
        roles = [ROLE_TRAINEE]
        if person.index % 10 == 1:
            roles.append(ROLE_SUPERVISOR)
        if person.index % 12 == 2:
            roles.append(ROLE_INSTRUCTOR)
        if person.index == 0:
            roles = [ROLE_ADMIN, ROLE_SUPERVISOR]
        state.users[person.damstra_user_id] = DamstraUserRow(
            id=person.damstra_user_id,
            user_name=person.username,
            first_name=person.first_name,
            last_name=person.last_name,
            email_address=person.email,
            phone_number=f"08{rng.randint(10_000_000, 99_999_999)}",
            mobile_number=f"04{rng.randint(10_000_000, 99_999_999)}",
            employee_number=person.employee_number,
            client_status_id=STATUS_NOT_CURRENT if person.index % 17 == 16 else STATUS_ACTIVE,
            roles=roles,
            time_zone=TIME_ZONES[person.index % len(TIME_ZONES)],
            created=created,
            modified=created + timedelta(days=rng.randint(0, 150)),
            last_logged_in=now - timedelta(hours=rng.randint(1, 2000)),
        )
    user_ids = sorted(state.users)

    group_count = max(3, len(user_ids) // 6)
    for g in range(group_count):
        gid = 200 + g
        parent = 200 if g > 0 and g % 3 == 0 else None
        state.groups[gid] = DamstraGroupRow(
            id=gid,
            name=f"{['Site', 'Depot', 'Office', 'Crew'][g % 4]} {g + 1}",
            description=f"Training group {g + 1}",
            parent_id=parent,
            created=now - timedelta(days=rng.randint(100, 1500)),
        )
    groups = list(state.groups.values())
    for n, uid in enumerate(user_ids):
        primary = groups[n % len(groups)]
        primary.member_ids.append(uid)
        if rng.random() < 0.25:
            extra = rng.choice(groups)
            if uid not in extra.member_ids:
                extra.member_ids.append(uid)
    supervisors = [uid for uid in user_ids if ROLE_SUPERVISOR in state.users[uid].roles]
    for n, group in enumerate(groups):
        if supervisors:
            group.supervisor_ids.append(supervisors[n % len(supervisors)])
    # The first group is large enough for the "group with many members" dashboards.
    for uid in user_ids[: min(len(user_ids), max(12, len(user_ids) // 40))]:
        if uid not in groups[0].member_ids:
            groups[0].member_ids.append(uid)

    lesson_count = max(24, min(600, len(user_ids) // 8))
    statuses = ["active"] * 12 + ["inactive", "never", "rendering", "error"]
    for n in range(lesson_count):
        lesson_id = 1000 + n
        version = 1 + n % 4
        created = now - timedelta(days=rng.randint(300, 1800))
        state.lessons[lesson_id] = DamstraLessonRow(
            lesson_id=lesson_id,
            lesson_version_id=lesson_id * 10 + version,
            name=f"{LESSON_TOPICS[n % len(LESSON_TOPICS)]}{'' if n < len(LESSON_TOPICS) else f' {n // len(LESSON_TOPICS) + 1}'}",
            duration_ms=rng.randint(2, 40) * 30_000,
            status=statuses[n % len(statuses)] if n >= 4 else "active",
            version=version,
            created=created,
            modified=created + timedelta(days=rng.randint(0, 200)),
            instructor_led=n % 8 == 3,
            # Read off the index, not the random stream, so the rest of the world stays as it was seeded.
            question_count=0 if n % 5 == 2 else 4 + n % 7,
            pass_rate=(70, 80, 100)[n % 3],
            custom_fields=[
                ("customField1", "Department", ("Operations", "Safety", "People")[n % 3]),
                *([("customField2", "Regulator code", f"REG-{lesson_id}")] if n % 2 else []),
            ],
        )
    active = [lesson for lesson in state.lessons.values() if lesson.status == "active"]

    schedule_id = 70_000
    for uid in user_ids:
        for lesson in rng.sample(active, k=min(len(active), rng.randint(2, 6))):
            schedule_id += 1
            start = now + timedelta(days=rng.randint(-400, 30), hours=rng.randint(0, 23))
            end = start + timedelta(days=rng.choice([14, 30, 60]))
            created = start - timedelta(days=rng.randint(0, 20))
            roll = rng.random()
            started = completed = None
            completed_by = None
            progress = 0
            passed = False
            if start > now:
                status = "scheduled"
            elif roll < 0.45:
                status = "completed"
                started = start + timedelta(hours=rng.randint(1, 200))
                completed = min(now, started + timedelta(hours=rng.randint(1, 48)))
                progress = lesson.duration_ms
                # A lesson with no questions has nothing to fail.
                passed = rng.random() < 0.9 or lesson.question_count == 0
                completed_by = uid if rng.random() < 0.8 else user_ids[0]
            elif roll < 0.5:
                status = "cancelled"
            elif end < now:
                status = "overdue"
            else:
                status = "due"
                if rng.random() < 0.5:
                    started = start + timedelta(hours=rng.randint(1, 48))
                    progress = rng.randint(1, lesson.duration_ms - 1)
            state.schedules[schedule_id] = DamstraScheduleRow(
                id=schedule_id,
                user_id=uid,
                lesson_id=lesson.lesson_id,
                lesson_version_id=lesson.lesson_version_id,
                start_date=start,
                end_date=end,
                status=status,
                progress=progress,
                created=created,
                modified=completed or created,
                started=started,
                completed=completed,
                completed_by=completed_by,
                passed=passed,
                schedule_type=rng.choice(["manual", "automatic"]),
            )

    instructors = [uid for uid in user_ids if ROLE_INSTRUCTOR in state.users[uid].roles] or user_ids[:1]
    ilt_lessons = [lesson for lesson in active if lesson.instructor_led] or active[:2]
    attendee_id = 3000
    for n in range(max(4, len(user_ids) // 5)):
        lesson = ilt_lessons[n % len(ilt_lessons)]
        start = now + timedelta(days=rng.randint(-60, 60), hours=rng.randint(7, 15))
        status_id = 3 if n % 9 == 8 else (2 if start < now - timedelta(days=1) else 1)
        session = DamstraILTSessionRow(
            id=400 + n,
            lesson_id=lesson.lesson_id,
            instructor_id=instructors[n % len(instructors)],
            status_id=status_id,
            notes=f"Bring PPE. Session {n + 1}.",
            number_of_places=rng.choice([8, 12, 20]),
            start=start,
            end=start + timedelta(hours=rng.choice([2, 4, 8])),
            location=rng.choice(["Training Room A", "Depot 3", "Head Office L2", "Online"]),
            created=start - timedelta(days=rng.randint(10, 40)),
            modified=start - timedelta(days=rng.randint(0, 9)),
        )
        state.ilt_sessions[session.id] = session
        for uid in rng.sample(user_ids, k=min(len(user_ids), rng.randint(2, 6))):
            schedule_id += 1
            state.schedules[schedule_id] = DamstraScheduleRow(
                id=schedule_id,
                user_id=uid,
                lesson_id=lesson.lesson_id,
                lesson_version_id=lesson.lesson_version_id,
                start_date=session.start,
                end_date=session.end + timedelta(days=7),
                status="completed" if status_id == 2 else ("cancelled" if status_id == 3 else "due"),
                progress=0,
                created=session.created,
                modified=session.modified,
                completed=session.end if status_id == 2 else None,
                completed_by=session.instructor_id if status_id == 2 else None,
                passed=status_id == 2,
            )
            attendee_id += 1
            done = status_id == 2
            state.attendees[attendee_id] = DamstraAttendeeRow(
                id=attendee_id,
                user_id=uid,
                session_id=session.id,
                lesson_schedule_id=schedule_id,
                registering_user_id=session.instructor_id,
                passed=done and rng.random() < 0.85,
                attended=done and rng.random() < 0.95,
                created=session.created,
                modified=session.modified,
            )


def _make_learninglogin(world: World, rng: random.Random) -> None:
    state, today = world.learninglogin, world.anchor.date()
    session_id = 0
    for person in world.people:
        if person.learninglogin_login_id is None:
            continue
        login = LearningLoginLoginRow(
            person.learninglogin_login_id, f"ll.{person.username}", person.full_name
        )
        state.logins[login.id] = login
        for code, name in rng.sample(COURSES, k=rng.randint(2, 5)):
            session_id += 1
            roll = rng.random()
            completion = cert = None
            score = percent = 0
            status = "Assigned"
            if roll < 0.55:
                status = "Completed"
                completion = today - timedelta(days=rng.randint(1, 900))
                cert = completion + timedelta(days=rng.choice([365, 730, 1095]))
                score = rng.choice([70, 80, 90, 100])
                percent = 100
            elif roll < 0.75:
                status = "In Progress"
                percent = rng.randint(5, 95)
            state.train_sessions[session_id] = TrainSessionRow(
                id=session_id,
                login_id=login.id,
                course_code=code,
                course_name=name,
                status=status,
                score=score,
                percent_complete=percent,
                failed_attempts=rng.choice([0, 0, 0, 1, 2]),
                cert_expiry=cert,
                completion_date=completion,
                complete_by=today + timedelta(days=rng.randint(-60, 90)) if status != "Completed" else None,
                last_attempt=completion or (today - timedelta(days=rng.randint(1, 60)) if percent else None),
                time_spent=rng.choice([None, "0.0", 12.5, 45, "30.25"]),
            )


def _make_training_records(world: World, rng: random.Random) -> None:
    state, now = world.training_records, world.anchor
    state.packages.update(PACKAGES)
    record = 0
    for person in world.people:
        if person.training_records_person_api_id is None:
            continue
        for package_id, _ in rng.sample(PACKAGES, k=rng.randint(2, 5)):
            record += 1
            assigned = now - timedelta(days=rng.randint(10, 700), minutes=rng.randint(0, 1440))
            started = assigned + timedelta(days=rng.randint(0, 10)) if rng.random() < 0.8 else None
            completed = None
            if started is not None and rng.random() < 0.7:
                completed = min(now - timedelta(minutes=5), started + timedelta(hours=rng.randint(1, 300)))
            api_id = f"rec-{record:05d}"
            state.records[api_id] = TrainingRecordRow(
                api_id, person.training_records_person_api_id, package_id, assigned, started, completed
            )


def _make_iscout(world: World, rng: random.Random) -> None:
    state, today = world.iscout, world.anchor.date()
    trainings = [(_hex_id(rng), f"Scout Training {n + 1}") for n in range(12)]
    state.trainings.update(trainings)
    instructors = [_hex_id(rng) for _ in range(3)]
    for person in world.people:
        if person.iscout_user_id is None:
            continue
        for training_id, _ in rng.sample(trainings, k=rng.randint(3, 8)):
            day = today - timedelta(days=rng.randint(1, 1500))
            expires = day + timedelta(days=rng.choice([365, 730])) if rng.random() < 0.6 else None
            state.completions.append(
                IScoutCompletionRow(
                    user_id=person.iscout_user_id,
                    training_id=training_id,
                    created_ms=int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1000)
                    + rng.randint(0, 3_600_000),
                    date_number=day.year * 10000 + day.month * 100 + day.day,
                    special_expiration_date_number=(
                        expires.year * 10000 + expires.month * 100 + expires.day if expires else None
                    ),
                    instructor_id=rng.choice(instructors) if rng.random() < 0.7 else None,
                    group_training_id=_hex_id(rng) if rng.random() < 0.5 else None,
                )
            )
    # Newest first, as the API returns them.
    state.completions.sort(key=lambda c: (c.date_number, c.created_ms), reverse=True)


def _make_identity_entries(world: World, rng: random.Random) -> None:
    """The identity file: a third of the multi-system people listed whole; the rest left to
    automatic linking through an email in another case or an employee number; some left out."""
    for person in world.people:
        accounts: dict[str, str | int] = {}
        if person.learninglogin_login_id is not None:
            accounts["learninglogin_login_id"] = person.learninglogin_login_id
            accounts["learninglogin_username"] = world.learninglogin.logins[
                person.learninglogin_login_id
            ].username
        if person.training_records_person_api_id is not None:
            accounts["training_records_person_api_id"] = person.training_records_person_api_id
        if person.iscout_user_id is not None:
            accounts["iscout_user_id"] = person.iscout_user_id
        if not accounts:
            continue
        style = person.index % 3
        if person.damstra_user_id is not None and (style == 0 or person.index == 0):
            world.identity_entries.append({"damstra_user_id": person.damstra_user_id, **accounts})
        elif style == 1:
            # Linked to the DAMSTRA account (if any) only by email, written in another case.
            world.identity_entries.append({**accounts, "email": person.email.upper()})
        else:
            # Linked only by employee number; one source per entry, so the linker has to join them.
            for key, value in accounts.items():
                if key == "learninglogin_username":
                    continue
                entry: dict[str, str | int] = {key: value, "employee_number": person.employee_number}
                if key == "learninglogin_login_id":
                    entry["learninglogin_username"] = accounts["learninglogin_username"]
                world.identity_entries.append(entry)
