"""The committed gRPC modules are exactly what the .proto files generate (else: `python -m scripts.grpc_codegen`)."""

from pathlib import Path

from scripts.grpc_codegen import OUTPUT, generate, proto_files


def committed_files() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in OUTPUT.iterdir() if path.is_file()}


def test_the_committed_modules_are_what_the_protos_generate(tmp_path: Path) -> None:
    fresh = {path.name: path.read_bytes() for path in generate(tmp_path)}
    committed = committed_files()
    assert set(fresh) == set(committed), "generated modules missing or left over: run python -m scripts.grpc_codegen"
    stale = sorted(name for name, text in fresh.items() if committed[name] != text)
    assert stale == [], f"stale generated modules {stale}: run python -m scripts.grpc_codegen"


def test_every_proto_is_generated_with_its_stubs() -> None:
    committed = committed_files()
    for proto in proto_files():
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert f"{proto.stem}{suffix}" in committed, f"{proto.name} has no committed {proto.stem}{suffix}"


def test_generated_modules_import_each_other_within_their_package() -> None:
    for name, text in committed_files().items():
        assert b"from logistics.v1 import" not in text, f"{name} imports the .proto package as a top-level module"
