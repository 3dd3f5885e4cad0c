//! The generated Milvus gRPC types (see `proto/README.md`).
#![allow(missing_docs, clippy::all, deprecated)]

pub mod common {
    tonic::include_proto!("milvus.proto.common");
}
pub mod schema {
    tonic::include_proto!("milvus.proto.schema");
}
pub mod milvus {
    tonic::include_proto!("milvus.proto.milvus");
}
