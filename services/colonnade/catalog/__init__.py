"""The catalog service: products, their prices and stock.

``domain`` (plain Python, no gRPC), ``storage`` (asyncpg), ``servicer`` (proto ⇄
domain), ``app`` (wiring, ``create_server``), ``v1`` (generated from proto/).
"""
