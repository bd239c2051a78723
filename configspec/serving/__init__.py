"""The system configspec configures, run for real: a verification server hosting the target
(`configspec serve`) and edge clients drafting against it (`configspec edge`), over gRPC.

protocol.py  the versioned messages (proto/verify.proto) and their encodings
engine.py    the server's verification loop: sessions, batching across sessions, chunked prefill
server.py    the gRPC service around the engine, limits, metrics, the serving profile
relay.py     the edge's transport: byte counting and emulated delay / bandwidth
edge.py      the edge: a real draft speculating against the server, the e2e profile
"""
