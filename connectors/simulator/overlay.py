"""Mutations on top of the generated data: touched items (a new `updated`) and deleted items.

Both stay small (tests and benchmarks touch or delete a few hundred items), so listings merge
the generated sequence with the sorted touched list instead of materialising anything.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Overlay:
    touched: dict[int, int] = field(default_factory=dict)  # index -> updated (epoch ms)
    deleted: set[int] = field(default_factory=set)
    # (updated_ms, index) of touched, non-deleted items, ascending
    by_time: list[tuple[int, int]] = field(default_factory=list)
    version: int = 0  # bumped by every mutation; offsets remembered for paging depend on it

    def touch(self, index: int, ms: int) -> None:
        if index in self.deleted:
            return
        self.version += 1
        old = self.touched.get(index)
        if old is not None:
            self.by_time.remove((old, index))
        self.touched[index] = ms
        bisect.insort(self.by_time, (ms, index))

    def delete(self, index: int) -> None:
        self.version += 1
        self.deleted.add(index)
        old = self.touched.pop(index, None)
        if old is not None:
            self.by_time.remove((old, index))

    def hidden(self, index: int) -> bool:
        """True when the generated position of `index` must be skipped (moved or gone)."""
        return index in self.touched or index in self.deleted

    def updated(self, index: int, generated_ms: int) -> int:
        return self.touched.get(index, generated_ms)
