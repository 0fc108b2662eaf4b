"""Named random streams: the only place random state is created.

Each stochastic input (arrival times, locations, priorities, handling times, ...) draws from its
own :class:`numpy.random.Generator`, seeded from ``(seed, replication, name)``. A stream's numbers
therefore depend only on those three things: adding a stream, a service or a drone leaves every
other stream unchanged, replications are independent, and the same seed gives the same numbers in
one process or many. Scenarios run with the same seed see the same incidents (common random
numbers) as long as the demand settings are equal.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["stream", "Streams"]


def _name_key(name: str) -> int:
    # crc32 is stable across processes and Python versions (unlike hash()).
    return zlib.crc32(name.encode("utf-8"))


def stream(seed: int, replication: int, name: str, block: int | None = None
           ) -> np.random.Generator:
    """The generator for one named input of one replication (of one block of simulated time,
    when ``block`` is given: see :meth:`Streams.block`)."""
    key = (int(replication), _name_key(name)) if block is None else (
        int(replication), _name_key(name), int(block))
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=key)
    return np.random.Generator(np.random.PCG64(ss))


class Streams:
    """The streams of one replication, created on first use by name."""

    def __init__(self, seed: int, replication: int, block: int | None = None) -> None:
        self.seed = int(seed)
        self.replication = int(replication)
        self.block_index = block
        self._made: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        gen = self._made.get(name)
        if gen is None:
            gen = self._made[name] = stream(self.seed, self.replication, name, self.block_index)
        return gen

    def block(self, k: int) -> Streams:
        """The streams of block ``k`` of this replication (demand is drawn a week at a time,
        each week from its own streams, so that any week can be drawn without the others)."""
        return Streams(self.seed, self.replication, k)

    def names(self) -> list[str]:
        return sorted(self._made)
