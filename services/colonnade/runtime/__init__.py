"""The shared service runtime: one place for what every Colonnade service needs.

Settings, JSON logging, the grpc.aio server factory with health, reflection and
interceptors, graceful shutdown, the asyncpg pool with migrations, and the
memcached read-through cache.
"""
