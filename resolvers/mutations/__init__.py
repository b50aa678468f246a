"""The `Mutation` root: one class of mutations per concern, merged.

Every mutation takes one `input` and answers a payload with the changed objects, read fresh, and
`userErrors` (docs/contract.md §6); see `running.py` for the frame they share.
"""

from __future__ import annotations

from strawberry.tools import merge_types

from resolvers.mutations.groups import GroupMutations
from resolvers.mutations.ilt_registration import ILTRegistrationMutations
from resolvers.mutations.ilt_sessions import ILTSessionMutations
from resolvers.mutations.scheduling import SchedulingMutations
from resolvers.mutations.unassigning import UnassigningMutations
from resolvers.mutations.users import UserMutations

Mutation = merge_types(
    "Mutation",
    (
        SchedulingMutations,
        UnassigningMutations,
        ILTRegistrationMutations,
        ILTSessionMutations,
        UserMutations,
        GroupMutations,
    ),
)
