"""Which cache node owns a key: rendezvous (highest random weight) hashing.

Every node gets a score per key, ``hash(node name, key)``, and the node with the
highest score owns the key. Why rendezvous rather than ketama (a ring of virtual
points):

* **Minimal movement**, exactly: adding a node to ``n`` moves only the keys the
  new node now wins, 1/(n+1) of them in expectation, and removing a node moves
  only that node's keys. Ketama gets close to this only with ~100 to 160 virtual
  points per node and a sorted table to rebuild on every change.
* **Even spread without tuning**: no virtual-node count to choose, and every
  process computes the same owner from the same node *set*, whatever order the
  nodes were listed or discovered in.
* **Small and obviously right**: a few lines, no table. The cost is one short hash
  per node per lookup; an ElastiCache memcached cluster has at most a few dozen
  nodes, so a lookup stays in the microseconds.

The hash is BLAKE2b (64-bit digest) over the node name and the key: stable across
processes and Python versions (unlike ``hash()``), and well mixed, so adjacent keys
do not cluster. Ownership never depends on which nodes are *up*: the cache keeps a
down node's keys on that node (see :mod:`colonnade.runtime.cachecluster`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


class RendezvousRing:
    """The owner of each key among a fixed set of node names."""

    __slots__ = ("_hashers", "_names")

    def __init__(self, names: Iterable[str]) -> None:
        self._names = tuple(sorted(set(names)))
        # One hasher per node, primed with its name; each lookup copies and feeds the key.
        self._hashers = tuple(
            (name, hashlib.blake2b(name.encode() + b"\x00", digest_size=8)) for name in self._names
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The node names, sorted."""
        return self._names

    def __len__(self) -> int:
        return len(self._names)

    def owner(self, key: bytes) -> str | None:
        """The name of the node that owns ``key``; ``None`` when the ring is empty."""
        best: str | None = None
        best_score = -1
        for name, primed in self._hashers:
            hasher = primed.copy()
            hasher.update(key)
            score = int.from_bytes(hasher.digest(), "big")
            if score > best_score:
                best, best_score = name, score
        return best
