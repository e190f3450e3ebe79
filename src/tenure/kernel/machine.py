"""A state machine as data: one table of every legal (status, action) -> status.

Every status in Tenure (subscriptions, invoices, payment attempts, credit notes, dunning cases)
moves only through such a table; anything not in it raises :class:`IllegalTransition`, an HTTP
409 with the machine's own code. Tests walk every (status, action) pair of every table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from tenure.kernel.errors import Conflict

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)


class IllegalTransition(Conflict):
    def __init__(self, machine: str, current: StrEnum, action: StrEnum, code: str) -> None:
        super().__init__(
            f"a {machine} that is {current.value} cannot {action.value.replace('_', ' ')}",
            code=code,
            **{f"{machine.replace(' ', '_')}_status": current.value, "action": action.value},
        )
        self.current = current
        self.action = action


class Machine(Generic[S, A]):
    """``name`` is what the thing is called in messages ("invoice"); ``code`` the problem code."""

    def __init__(
        self,
        name: str,
        statuses: type[S],
        actions: type[A],
        table: Mapping[tuple[S, A], S],
        *,
        code: str,
    ) -> None:
        self.name = name
        self.statuses = statuses
        self.actions = actions
        self.table = dict(table)
        self.code = code

    def next(self, current: S, action: A) -> S:
        """The status after ``action``; raises :class:`IllegalTransition` if it is not allowed."""
        found = self.table.get((current, action))
        if found is None:
            raise IllegalTransition(self.name, current, action, self.code)
        return found

    def allows(self, current: S, action: A) -> bool:
        return (current, action) in self.table

    def terminal(self) -> frozenset[S]:
        """Statuses no action leaves."""
        moving = {status for (status, _), target in self.table.items() if target != status}
        return frozenset(status for status in self.statuses if status not in moving)
