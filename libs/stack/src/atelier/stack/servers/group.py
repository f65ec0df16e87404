"""Servers that start, stop and die together: the Server protocol over all of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Self

from .base import Server


class ServerGroup(ABC):
    """Starts and stops its `members` in parallel; running while all of them are."""

    name = "servers"

    @property
    @abstractmethod
    def members(self) -> Sequence[Server]:
        """The servers of the group, in start order."""

    @property
    def running(self) -> bool:
        return all(member.running for member in self.members)

    def start(self) -> None:
        """Start them all at once; if one fails, stop the others and raise its error."""
        with ThreadPoolExecutor(len(self.members), thread_name_prefix=f"start {self.name}") as pool:
            futures = [pool.submit(member.start) for member in self.members]
        errors = [exc for f in futures if (exc := f.exception()) is not None]
        if errors:
            self.stop()
            raise errors[0]

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.members), thread_name_prefix=f"stop {self.name}") as pool:
            for future in [pool.submit(member.stop) for member in self.members]:
                future.result()

    def kill(self) -> None:
        for member in self.members:
            member.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
