"""A person across the four sources: the identity file's links joined with DAMSTRA users.

    person = await people.for_account(Source.ISCOUT, "5804f0...")   # None when nobody has it
    person.primary                                                  # the account the global ID names

A person keeps the ID of their first account in the order DAMSTRA, LEARNINGLOGIN,
TRAINING_RECORDS, ISCOUT (docs/contract.md §5). DAMSTRA users join identity-file entries by
DAMSTRA id, email (case-insensitive) or employee number (docs/contract.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.data.identity import IdentityDirectory, LinkedAccounts
from gateway.data.loaders import Loaders
from gateway.data.vendors import completions_reader
from gateway.errors import Forbidden, UpstreamNotFound
from gateway.sources import SOURCE_ORDER, Source
from gateway.upstreams.damstra.records import DamstraUser

if TYPE_CHECKING:
    from gateway.data.access import Access


@dataclass(frozen=True)
class Account:
    source: Source
    native_id: str
    username: str | None = None
    email: str | None = None


@dataclass
class Person:
    accounts: list[Account]
    damstra: DamstraUser | None = None
    linked: LinkedAccounts | None = field(default=None, repr=False)

    @property
    def primary(self) -> Account:
        return min(self.accounts, key=lambda a: SOURCE_ORDER.index(a.source))

    def ids(self, source: Source) -> list[str]:
        return [a.native_id for a in self.accounts if a.source is source]

    def learninglogin_usernames(self) -> list[str]:
        return [a.username for a in self.accounts if a.source is Source.LEARNINGLOGIN and a.username]

    @property
    def email(self) -> str | None:
        if self.damstra is not None and self.damstra.email_address:
            return self.damstra.email_address
        return sorted(self.linked.emails)[0] if self.linked and self.linked.emails else None

    @property
    def employee_number(self) -> str | None:
        if self.damstra is not None and self.damstra.employee_number:
            return self.damstra.employee_number
        numbers = self.linked.employee_numbers if self.linked else set()
        return sorted(numbers)[0] if numbers else None


def _accounts_from(linked: LinkedAccounts, skip: Source | None = None) -> list[Account]:
    accounts = []
    for source in SOURCE_ORDER:
        if source is skip:
            continue
        for native_id in linked.ids(source):
            username = (
                linked.learninglogin_usernames.get(native_id) if source is Source.LEARNINGLOGIN else None
            )
            accounts.append(Account(source, native_id, username=username))
    return accounts


class People:
    """Resolves accounts to people for one request, through that request's loaders.

    With an `Access` (every caller but ADMIN), a person the caller may not see is nobody to
    `for_account` (nothing is read for them), and Forbidden to `find`.
    """

    def __init__(self, directory: IdentityDirectory, loaders: Loaders, access: Access | None = None) -> None:
        self.directory = directory
        self.loaders = loaders
        self.access = access

    def from_damstra(self, user: DamstraUser) -> Person:
        linked = (
            self.directory.find(Source.DAMSTRA, str(user.id))
            or self.directory.find_by_email(user.email_address)
            or self.directory.find_by_employee_number(user.employee_number)
        )
        accounts = [Account(Source.DAMSTRA, str(user.id), username=user.user_name, email=user.email_address)]
        if linked is not None:
            accounts += _accounts_from(linked, skip=Source.DAMSTRA)
        return Person(accounts, damstra=user, linked=linked)

    async def for_account(
        self, source: Source, native_id: str, *, seen_upstream: bool = False
    ) -> Person | None:
        """The person owning an account; `seen_upstream` when a record already proved the account exists.
        None also for a person the caller may not see."""
        if self.access is not None and not (await self.access.visibility()).sees(source, native_id):
            return None
        if source is Source.DAMSTRA:
            try:
                user: DamstraUser = await self.loaders.damstra_user.load(native_id)
            except UpstreamNotFound:
                return None
            return self.from_damstra(user)
        linked = self.directory.find(source, native_id)
        if linked is None:
            if not seen_upstream and not await self._exists(source, native_id):
                return None
            return Person([Account(source, native_id)])
        linked_user = await self._damstra_user_for(linked)
        if linked_user is not None:
            person = self.from_damstra(linked_user)
            if all(a.source is not source or a.native_id != native_id for a in person.accounts):
                person.accounts.append(Account(source, native_id))
            return person
        return Person(_accounts_from(linked), linked=linked)

    async def find(self, source: Source, native_id: str) -> Person | None:
        """The person an ID names (None: nobody); Forbidden for one the caller may not see."""
        person = await self.for_account(source, native_id)
        if (
            person is None
            and self.access is not None
            and await self.access.raw_people.for_account(source, native_id) is not None
        ):
            raise Forbidden("this caller may not see this user")
        return person

    async def directory_entries(self) -> list[LinkedAccounts]:
        """The identity file's people who may be people with no DAMSTRA account the caller may see:
        all for ADMIN; for anyone else only their own, when they have no DAMSTRA account (everyone
        else they see is a member of a DAMSTRA group)."""
        if self.access is None:
            return self.directory.people
        mine = (await self.access.visibility()).damstra_less
        return [
            linked
            for linked in self.directory.people
            if any((source, i) in mine for source, ids in linked.accounts.items() for i in ids)
        ]

    async def everyone(self) -> Person | None:
        """Everyone the caller may see, as one person holding all their accounts, for a list across
        people (company-wide completions); None when that is everyone there is (ADMIN)."""
        if self.access is None:
            return None
        return Person(list((await self.access.visibility()).people))

    async def _damstra_user_for(self, linked: LinkedAccounts) -> DamstraUser | None:
        if not self.loaders.upstreams.has(Source.DAMSTRA):
            return None
        for user_id in linked.ids(Source.DAMSTRA):
            try:
                found: DamstraUser = await self.loaders.damstra_user.load(user_id)
                return found
            except (UpstreamNotFound, Forbidden):  # Forbidden: a user the caller may not see is not this one
                continue
        try:
            for email in sorted(linked.emails):
                by_email: DamstraUser | None = await self.loaders.damstra_user_by_email.load(email)
                if by_email is not None:
                    return by_email
            for number in sorted(linked.employee_numbers):
                by_number: DamstraUser | None = await self.loaders.damstra_user_by_employee_number.load(
                    number
                )
                if by_number is not None:
                    return by_number
        except Forbidden:
            return None
        return None

    async def _exists(self, source: Source, native_id: str) -> bool:
        """An account the identity file does not name: real if its upstream holds anything for it."""
        if source is Source.ISCOUT and self.loaders.upstreams.has(Source.ISCOUT):
            return bool(await self.loaders.iscout_completions_by_user.load(native_id))
        if source is Source.TRAINING_RECORDS and self.loaders.upstreams.has(Source.TRAINING_RECORDS):
            return native_id in await self.loaders.training_records_by_person()
        if source in (Source.DAMSTRA, Source.LEARNINGLOGIN, Source.ISCOUT, Source.TRAINING_RECORDS):
            # A LearningLogin login is reachable only through its username, which only the identity file gives.
            return False
        # A vendor added beyond the four: real if it holds a completion of the account.
        reader = completions_reader(source)
        if reader is None or source not in self.loaders.upstreams.enabled():
            return False
        return bool(await reader(self.loaders.upstreams.client(source), [native_id]))
