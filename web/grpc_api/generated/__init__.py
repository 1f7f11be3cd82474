"""Generated from proto/logistics/v1 by `python -m scripts.grpc_codegen`: do not edit."""
