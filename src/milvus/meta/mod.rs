//! Milvus backup meta files, byte-compatible with zilliztech/milvus-backup.
//!
//! milvus-backup serializes protoc-gen-go structs with Go's `encoding/json`
//! (not protojson), so the JSON keys are the proto field names (`fieldID`,
//! `autoID`, snake_case otherwise), every field is `omitempty` except a few
//! whose tag was rewritten by `scripts/gen_proto.sh` (`size`, `has_index`,
//! `log_size`, `state_code`), enums are bare integers, 64-bit ids are bare
//! numbers, map keys are sorted, and strings get Go's HTML escaping. The types
//! below reproduce those rules so that files written by mbx are read by
//! milvus-backup and vice versa.
//!
//! Reading follows `internal/meta/meta.go: Read`: `full_meta.json` wins; without
//! it the tree is rebuilt from the four level files and sizes are recomputed.
//!
//! One job per file: `model` (the messages and enums), `go_json` (Go's `encoding/json` rules), `files` (the
//! five meta files: the level split and the read), `layout` (backup keys, Go `path.Join` semantics) and `name`
//! (backup names).

mod files;
mod go_json;
mod layout;
mod model;
mod name;
#[cfg(test)]
mod tests;

pub use files::*;
pub use go_json::*;
pub use layout::*;
pub use model::*;
pub use name::*;

/// Everything that can go wrong while encoding, decoding or laying out backup meta.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// serde_json refused to encode a value (only possible for exotic
    /// `default_value` payloads); `what` names the Rust type being written.
    #[error("meta: encode {what}: {source}")]
    Encode {
        /// Rust type name of the value that failed to encode.
        what: &'static str,
        /// Underlying serde_json error.
        source: serde_json::Error,
    },
    /// A meta file is not valid JSON or has a value of the wrong type for a
    /// known key; `file` names the meta file so the user knows which object is bad.
    #[error("meta: decode {file}: {source}")]
    Decode {
        /// Meta file name, e.g. `segment_meta.json`.
        file: &'static str,
        /// Underlying serde_json error (with line/column when it is a syntax error).
        source: serde_json::Error,
    },
    /// `full_meta.json` is absent and one of the level files needed to rebuild
    /// the tree is missing too; milvus-backup fails in the same situation.
    #[error("meta: {file} is missing and full_meta.json is absent, cannot rebuild the backup tree")]
    MissingLevelFile {
        /// Meta file name that was not supplied.
        file: &'static str,
    },
    /// The backup name breaks milvus-backup's naming rule.
    #[error("invalid backup name {name:?}: {reason}")]
    InvalidBackupName {
        /// The rejected name.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A partition has non-L0 segments both with and without a group id, so
    /// neither the per-group nor the partition-level import layout covers all
    /// of them without double-importing or skipping data.
    #[error(
        "meta: partition {partition_id} of collection {collection_id} mixes segments with and without group_id; refusing to build import dirs"
    )]
    MixedGroupIds {
        /// Collection id of the partition.
        collection_id: i64,
        /// Partition id.
        partition_id: i64,
    },
}

/// Go's `omitempty` for scalars: the zero value of the type is dropped.
fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
