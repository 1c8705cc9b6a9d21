"""What the engine keeps for one operator between calls: plans and work buffers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .numpy_kernels import Workspace

__all__ = ["EngineCache"]

#: plans kept per operator (one per input form: batch, width, layout, dtype)
_PLANS_KEPT = 16


class EngineCache:
    """What the engine keeps for one operator between calls: plans and buffers.

    Transient: an operator rebuilds it after unpickling, and :meth:`clear` frees
    the buffers (they regrow on use).
    """

    def __init__(self) -> None:
        self.plans: OrderedDict = OrderedDict()
        self.workspace = Workspace()
        self.split_workspace = Workspace()
        self._subs: dict[Any, EngineCache] = {}
        self._lock = threading.Lock()

    def plan(self, key, build):
        """The plan stored under ``key``, built on first use (a few kept).

        ``build(runs)`` plans for ``runs`` products. A plan whose search was cut
        short to keep the first product fast (``final`` false) is planned again
        after 8, 64, 512, … uses with a budget that grows with them, so planning
        stays a bounded share of the time the plan runs and a plan used often gets
        the full search.
        """
        entry = self.plans.get(key)
        if entry is None:
            entry = [build(1), 0]
            with self._lock:
                self.plans[key] = entry
                while len(self.plans) > _PLANS_KEPT:
                    self.plans.popitem(last=False)
            return entry[0]
        entry[1] += 1
        uses = entry[1]
        if (
            not getattr(entry[0], "final", True)
            and uses & (uses - 1) == 0
            and uses.bit_length() % 3 == 1
            and uses > 1
        ):
            entry[0] = build(uses)
        return entry[0]

    def sub(self, key) -> EngineCache:
        """A child cache (one per term of a sum of products, per block)."""
        got = self._subs.get(key)
        if got is None:
            got = self._subs.setdefault(key, EngineCache())
        return got

    def clear(self) -> None:
        """Free the work buffers."""
        self.workspace.clear()
        self.split_workspace.clear()
        for s in list(self._subs.values()):  # tasks may add subs meanwhile
            s.clear()

    def nbytes(self) -> int:
        """Bytes held in work buffers."""
        total = self.workspace.nbytes() + self.split_workspace.nbytes()
        return total + sum(s.nbytes() for s in self._subs.values())
