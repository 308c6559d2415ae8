"""Rendezvous hashing over cache nodes: even spread, minimal movement (no network)."""

from collections import Counter

from colonnade.runtime.hashring import RendezvousRing

KEYS = [f"catalog:v1:product:p-{i}".encode() for i in range(20_000)]
THREE = ["10.0.1.10:11211", "10.0.2.10:11211", "10.0.3.10:11211"]


def test_keys_spread_evenly_over_the_nodes() -> None:
    ring = RendezvousRing(THREE)
    shares = Counter(ring.owner(key) for key in KEYS)
    assert set(shares) == set(THREE)
    for node in THREE:
        assert abs(shares[node] / len(KEYS) - 1 / 3) < 0.02, shares


def test_adding_a_fourth_node_moves_only_its_share_of_keys() -> None:
    before = RendezvousRing(THREE)
    after = RendezvousRing([*THREE, "10.0.1.11:11211"])
    moved = [key for key in KEYS if before.owner(key) != after.owner(key)]
    assert abs(len(moved) / len(KEYS) - 1 / 4) < 0.02, len(moved)
    # every key that moved went to the new node: none moved between the old three
    assert {after.owner(key) for key in moved} == {"10.0.1.11:11211"}


def test_removing_a_node_moves_only_its_keys() -> None:
    before = RendezvousRing(THREE)
    after = RendezvousRing(THREE[1:])
    for key in KEYS[:5000]:
        if before.owner(key) != THREE[0]:
            assert after.owner(key) == before.owner(key)


def test_the_owner_depends_on_the_node_set_not_its_order() -> None:
    a = RendezvousRing(THREE)
    b = RendezvousRing(list(reversed(THREE)))
    assert all(a.owner(key) == b.owner(key) for key in KEYS[:2000])
    assert a.names == tuple(sorted(THREE))


def test_an_empty_ring_owns_nothing() -> None:
    assert RendezvousRing([]).owner(b"key") is None
    assert len(RendezvousRing([])) == 0
