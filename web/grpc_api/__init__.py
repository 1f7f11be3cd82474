"""The gRPC face: products, orders and a server-streamed order status, over the same application services.

Protocol in proto/logistics/v1; generated modules in `generated` (scripts/grpc_codegen.py). Commands go through
the application services exactly as the command API's do, reads come from the read models over read-only
connections, and the status stream is fed from the same push feed as WebSocket and SSE.
"""
