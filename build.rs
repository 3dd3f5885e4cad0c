//! Compiles the Milvus protos in `proto/` with protox (no system `protoc`) into tonic client stubs.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    for f in ["milvus.proto", "common.proto", "schema.proto"] {
        println!("cargo:rerun-if-changed={}", proto_dir.join(f).display());
    }
    let fds = protox::compile(["milvus.proto"], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // The RPC `Connect` would clash with the generated transport helper `MilvusServiceClient::connect`.
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
