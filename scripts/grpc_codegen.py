"""Regenerate the gRPC face's Python modules from the .proto files: `python -m scripts.grpc_codegen`.

The generated modules are committed (web/grpc_api/generated/), so that installing the platform needs no protobuf
compiler; tests/unit/test_grpc_codegen.py regenerates them into a temporary folder and fails when the committed
ones differ, so a changed .proto without a regeneration cannot go unnoticed. Needs the dev extras (grpcio-tools
for protoc and the gRPC plugin, mypy-protobuf for the .pyi stubs that keep `mypy --strict` meaningful).

protoc names a module after its .proto path (`logistics/v1/orders.proto` -> `logistics.v1.orders_pb2`) and
imports it by that name; the modules live in one package of ours instead, so those imports are made relative.
"""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"
OUTPUT = ROOT / "web" / "grpc_api" / "generated"
PACKAGE_DOC = '"""Generated from proto/logistics/v1 by `python -m scripts.grpc_codegen`: do not edit."""\n'

# `from logistics.v1 import orders_pb2 as ...` in the gRPC modules and in the stubs.
_PROTO_PACKAGE_IMPORT = re.compile(r"^from logistics\.v1 import ", re.MULTILINE)


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(output: Path) -> list[Path]:
    """Write the generated modules (and an __init__.py) into `output`; returns the files written."""
    from grpc_tools import protoc  # dev extra: imported here so that the platform itself never needs it

    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto, shipped with grpcio-tools
    plugins = Path(sys.executable).parent  # protoc-gen-mypy and protoc-gen-mypy_grpc sit beside the interpreter
    with tempfile.TemporaryDirectory() as scratch:
        arguments = [
            "grpc_tools.protoc", f"--proto_path={PROTO_ROOT}", f"--proto_path={include}",
            f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
            f"--python_out={scratch}", f"--grpc_python_out={scratch}",
            f"--mypy_out={scratch}", f"--mypy_grpc_out={scratch}",
            *(str(path.relative_to(PROTO_ROOT)) for path in proto_files()),
        ]
        if protoc.main(arguments) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(arguments)}")
        output.mkdir(parents=True, exist_ok=True)
        written = [output / "__init__.py"]
        written[0].write_text(PACKAGE_DOC)
        for generated in sorted(Path(scratch).rglob("*")):
            if generated.is_file():
                target = output / generated.name
                target.write_text(_PROTO_PACKAGE_IMPORT.sub("from . import ", generated.read_text()))
                written.append(target)
    return written


def main() -> int:
    with tempfile.TemporaryDirectory() as fresh:
        written = generate(Path(fresh))
        if OUTPUT.exists():
            shutil.rmtree(OUTPUT)
        OUTPUT.mkdir(parents=True)
        for path in written:
            shutil.copyfile(path, OUTPUT / path.name)
    for path in sorted(OUTPUT.iterdir()):
        print(os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
