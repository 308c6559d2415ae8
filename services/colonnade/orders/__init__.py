"""The orders service: orders placed at the catalog's prices, with the catalog's stock reserved.

``model`` (orders, states, validation), ``filters`` (the list grammar), ``saga`` (placing,
cancelling and recovering orders; plain Python, no gRPC), ``stock`` (the catalog over the
runtime's internal gRPC client), ``storage`` (asyncpg), ``servicer`` (proto ⇄ domain),
``app`` (wiring, ``create_server``), ``v1`` (generated from proto/).
"""
