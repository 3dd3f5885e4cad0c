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

use std::collections::BTreeMap;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// omitempty helpers
// ---------------------------------------------------------------------------

/// Go's `omitempty` for scalars: the zero value of the type is dropped.
fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

// ---------------------------------------------------------------------------
// Enums (bare integers on the wire; unknown values must survive a round trip)
// ---------------------------------------------------------------------------

/// `milvus.proto.backup.BackupTaskStateCode`; only `state_code` of `BackupInfo`
/// uses it and HEAD always writes 0. Kept as an integer so old values
/// (v0.4.x wrote 2 = success) round-trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackupTaskStateCode(pub i32);

impl BackupTaskStateCode {
    /// `BACKUP_INITIAL`, what HEAD writes.
    pub const INITIAL: Self = Self(0);
    /// `BACKUP_EXECUTING`.
    pub const EXECUTING: Self = Self(1);
    /// `BACKUP_SUCCESS`, what v0.4.x wrote for finished backups.
    pub const SUCCESS: Self = Self(2);
    /// `BACKUP_FAIL`.
    pub const FAIL: Self = Self(3);
    /// `BACKUP_TIMEOUT`.
    pub const TIMEOUT: Self = Self(4);
}

/// Milvus consistency level; Strong (0) is omitted by omitempty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsistencyLevel(pub i32);

impl ConsistencyLevel {
    /// Strong.
    pub const STRONG: Self = Self(0);
    /// Session (pymilvus default).
    pub const SESSION: Self = Self(1);
    /// Bounded.
    pub const BOUNDED: Self = Self(2);
    /// Eventually.
    pub const EVENTUALLY: Self = Self(3);
    /// Customized (caller supplies guarantee_timestamp).
    pub const CUSTOMIZED: Self = Self(4);
}

/// Milvus `schemapb.DataType` as an integer, so types added by newer Milvus
/// versions pass through untouched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DataType(pub i32);

#[allow(missing_docs)]
impl DataType {
    pub const NONE: Self = Self(0);
    pub const BOOL: Self = Self(1);
    pub const INT8: Self = Self(2);
    pub const INT16: Self = Self(3);
    pub const INT32: Self = Self(4);
    pub const INT64: Self = Self(5);
    pub const FLOAT: Self = Self(10);
    pub const DOUBLE: Self = Self(11);
    pub const STRING: Self = Self(20);
    pub const VARCHAR: Self = Self(21);
    pub const ARRAY: Self = Self(22);
    pub const JSON: Self = Self(23);
    pub const GEOMETRY: Self = Self(24);
    pub const TEXT: Self = Self(25);
    pub const TIMESTAMPTZ: Self = Self(26);
    pub const BINARY_VECTOR: Self = Self(100);
    pub const FLOAT_VECTOR: Self = Self(101);
    pub const FLOAT16_VECTOR: Self = Self(102);
    pub const BFLOAT16_VECTOR: Self = Self(103);
    pub const SPARSE_FLOAT_VECTOR: Self = Self(104);
    pub const INT8_VECTOR: Self = Self(105);
    pub const ARRAY_OF_VECTOR: Self = Self(106);
    pub const ARRAY_OF_STRUCT: Self = Self(200);
    pub const STRUCT: Self = Self(201);
}

/// Milvus `schemapb.FieldState`; 0 (created) is omitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldState(pub i32);

impl FieldState {
    /// FieldCreated.
    pub const CREATED: Self = Self(0);
    /// FieldCreating.
    pub const CREATING: Self = Self(1);
    /// FieldDropping.
    pub const DROPPING: Self = Self(2);
    /// FieldDropped.
    pub const DROPPED: Self = Self(3);
}

/// Milvus function type (BM25, text embedding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FunctionType(pub i32);

impl FunctionType {
    /// Unknown.
    pub const UNKNOWN: Self = Self(0);
    /// BM25.
    pub const BM25: Self = Self(1);
    /// TextEmbedding.
    pub const TEXT_EMBEDDING: Self = Self(2);
}

// ---------------------------------------------------------------------------
// Messages (field order = proto declaration order = Go struct order)
// ---------------------------------------------------------------------------

/// Root of a backup (`BackupInfo`). `state_code` and `size` are always written.
/// Removed fields 3-6 (`errorMessage`, `start_time`, `end_time`, `progress`)
/// of v0.5.9 and older files are ignored on read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupInfo {
    /// Task UUID.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Deprecated task state; written always (tag has no omitempty), HEAD writes 0.
    pub state_code: BackupTaskStateCode,
    /// Backup name (= directory name under the backup root).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Top-level timestamp; unset by HEAD, wall-clock ms in <= v0.4.12.
    #[serde(skip_serializing_if = "is_zero")]
    pub backup_timestamp: u64,
    /// Collections in the backup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collection_backups: Vec<CollectionBackupInfo>,
    /// Sum of segment sizes in bytes; always written.
    pub size: i64,
    /// Source Milvus version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub milvus_version: String,
    /// RBAC snapshot (`--rbac`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac_meta: Option<RbacMeta>,
    /// Milvus 2.5 CDC replicate channel position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_channel_info: Option<RpcChannelInfo>,
    /// Databases (name, id, properties).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub database_backups: Vec<DatabaseBackupInfo>,
    /// pchannel -> base64 of the FlushAll message (bulk_flush strategy).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub flush_all_msgs_base64: BTreeMap<String, String>,
    /// Streaming control channel (bulk_flush strategy).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub control_channel_name: String,
    /// Physical channels (bulk_flush strategy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub physical_channel_names: Vec<String>,
    /// `""` = binlog format, `"snapshot"` = Milvus 3.0 snapshot format.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
}

/// `RPCChannelInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcChannelInfo {
    /// Channel name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Base64 position.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub position: String,
}

/// `DatabaseBackupInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseBackupInfo {
    /// Database name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub db_name: String,
    /// Database id.
    #[serde(skip_serializing_if = "is_zero")]
    pub db_id: i64,
    /// DescribeDatabase properties.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<KeyValuePair>,
    /// Encryption-zone key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ezk: String,
}

/// `CollectionBackupInfo`. `size` and `has_index` are always written. Old
/// fields 2-6 (state_code, errorMessage, start_time, end_time, progress) of
/// v0.4.x files are ignored on read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectionBackupInfo {
    /// Backup task id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Collection id.
    #[serde(skip_serializing_if = "is_zero")]
    pub collection_id: i64,
    /// Database name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub db_name: String,
    /// Collection name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub collection_name: String,
    /// Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<CollectionSchema>,
    /// Shard count.
    #[serde(skip_serializing_if = "is_zero")]
    pub shards_num: i32,
    /// Consistency level.
    #[serde(skip_serializing_if = "is_zero")]
    pub consistency_level: ConsistencyLevel,
    /// Partitions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partition_backups: Vec<PartitionBackupInfo>,
    /// Hybrid TSO of the backup point.
    #[serde(skip_serializing_if = "is_zero")]
    pub backup_timestamp: u64,
    /// Bytes; always written.
    pub size: i64,
    /// Whether an index exists; always written.
    pub has_index: bool,
    /// Index descriptions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub index_infos: Vec<IndexInfo>,
    /// `NotLoad` | `Loading` | `Loaded`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub load_state: String,
    /// Unix seconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub backup_physical_timestamp: u64,
    /// vchannel -> base64(MsgPosition).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channel_checkpoints: BTreeMap<String, String>,
    /// All-partition L0 segments (partition_id == -1); only in full_meta.json.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub l0_segments: Vec<SegmentBackupInfo>,
    /// DescribeCollection properties.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<KeyValuePair>,
    /// Database id.
    #[serde(skip_serializing_if = "is_zero")]
    pub db_id: i64,
    /// Creation TSO.
    #[serde(skip_serializing_if = "is_zero")]
    pub created_timestamp: u64,
    /// Virtual channels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_channel_names: Vec<String>,
    /// Physical channels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub physical_channel_names: Vec<String>,
    /// Aliases.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Milvus 3.0 snapshot info.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_backup: Option<SnapshotBackupInfo>,
}

/// Snapshot-format bundle description (Milvus 3.0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotBackupInfo {
    /// Path of the snapshot metadata.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metadata_path: String,
    /// File count.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_files: i64,
    /// Byte count.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_bytes: i64,
}

/// `PartitionBackupInfo`; `size` is always written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartitionBackupInfo {
    /// Partition id.
    #[serde(skip_serializing_if = "is_zero")]
    pub partition_id: i64,
    /// Partition name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub partition_name: String,
    /// Owning collection id (used to regroup level files).
    #[serde(skip_serializing_if = "is_zero")]
    pub collection_id: i64,
    /// Segments (cleared in collection_meta/partition_meta).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segment_backups: Vec<SegmentBackupInfo>,
    /// Bytes; always written.
    pub size: i64,
    /// Load state.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub load_state: String,
}

/// `SegmentBackupInfo`; `size` is always written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentBackupInfo {
    /// Segment id.
    #[serde(skip_serializing_if = "is_zero")]
    pub segment_id: i64,
    /// Collection id.
    #[serde(skip_serializing_if = "is_zero")]
    pub collection_id: i64,
    /// Partition id (-1 for all-partition L0 segments).
    #[serde(skip_serializing_if = "is_zero")]
    pub partition_id: i64,
    /// Row count.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_of_rows: i64,
    /// Insert binlogs per field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binlogs: Vec<FieldBinlog>,
    /// Deprecated, never filled; kept so old files round-trip.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statslogs: Vec<FieldBinlog>,
    /// Delta logs (one FieldBinlog without fieldID).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deltalogs: Vec<FieldBinlog>,
    /// Sum of listed object sizes; always written.
    pub size: i64,
    /// Virtual partition dir; = segment_id since v0.4.4, 0 in older backups.
    #[serde(skip_serializing_if = "is_zero")]
    pub group_id: i64,
    /// Deprecated.
    #[serde(skip_serializing_if = "is_zero")]
    pub backuped: bool,
    /// L0 (delete-only) segment.
    #[serde(skip_serializing_if = "is_zero")]
    pub is_l0: bool,
    /// vchannel (REST segment API only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub v_channel: String,
    /// Milvus storage version (2 = storage v2).
    #[serde(skip_serializing_if = "is_zero")]
    pub storage_version: i64,
}

/// `FieldBinlog`. Field 0 (RowID) and delta logs therefore carry no `fieldID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldBinlog {
    /// Field id.
    #[serde(rename = "fieldID", skip_serializing_if = "is_zero")]
    pub field_id: i64,
    /// Log files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binlogs: Vec<Binlog>,
}

/// `Binlog`; `log_size` is always written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Binlog {
    /// Deprecated.
    #[serde(skip_serializing_if = "is_zero")]
    pub entries_num: i64,
    /// Deprecated.
    #[serde(skip_serializing_if = "is_zero")]
    pub timestamp_from: u64,
    /// Deprecated.
    #[serde(skip_serializing_if = "is_zero")]
    pub timestamp_to: u64,
    /// Milvus source key (e.g. `files/insert_log/...`); restore never reads it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log_path: String,
    /// Bytes; always written.
    pub log_size: i64,
    /// Log id (last path element).
    #[serde(skip_serializing_if = "is_zero")]
    pub log_id: i64,
}

/// `IndexInfo`; the fields after `index_id` are only set with `--backup_index_extra`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexInfo {
    /// Field name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field_name: String,
    /// Index name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub index_name: String,
    /// = params["index_type"].
    #[serde(skip_serializing_if = "String::is_empty")]
    pub index_type: String,
    /// All DescribeIndex params.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Index id.
    #[serde(skip_serializing_if = "is_zero")]
    pub index_id: i64,
    /// Field id (extra).
    #[serde(skip_serializing_if = "is_zero")]
    pub field_id: i64,
    /// Create time (extra).
    #[serde(skip_serializing_if = "is_zero")]
    pub create_time: u64,
    /// Type params (extra).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub type_params: Vec<KeyValuePair>,
    /// Index params (extra).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub index_params: Vec<KeyValuePair>,
    /// User index params (extra).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_index_params: Vec<KeyValuePair>,
    /// AUTOINDEX flag (extra).
    #[serde(skip_serializing_if = "is_zero")]
    pub is_auto_index: bool,
    /// Min index version (extra).
    #[serde(skip_serializing_if = "is_zero")]
    pub min_index_version: i32,
    /// Max index version (extra).
    #[serde(skip_serializing_if = "is_zero")]
    pub max_index_version: i32,
}

/// `KeyValuePair`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyValuePair {
    /// Key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// Value.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `CollectionSchema`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectionSchema {
    /// Name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Deprecated collection-level autoID.
    #[serde(rename = "autoID", skip_serializing_if = "is_zero")]
    pub auto_id: bool,
    /// Fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSchema>,
    /// Dynamic field enabled.
    #[serde(skip_serializing_if = "is_zero")]
    pub enable_dynamic_field: bool,
    /// Schema properties (what restore sends).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<KeyValuePair>,
    /// Functions (BM25 ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionSchema>,
    /// Struct array fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub struct_array_fields: Vec<StructArrayFieldSchema>,
}

/// `StructArrayFieldSchema`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StructArrayFieldSchema {
    /// Field id.
    #[serde(rename = "fieldID", skip_serializing_if = "is_zero")]
    pub field_id: i64,
    /// Name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Sub-fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSchema>,
    /// Type params (max_capacity ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub type_params: Vec<KeyValuePair>,
}

/// `FieldSchema`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldSchema {
    /// Field id (restore reuses it).
    #[serde(rename = "fieldID", skip_serializing_if = "is_zero")]
    pub field_id: i64,
    /// Name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Primary key flag.
    #[serde(skip_serializing_if = "is_zero")]
    pub is_primary_key: bool,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Data type.
    #[serde(skip_serializing_if = "is_zero")]
    pub data_type: DataType,
    /// Type params (dim, max_length ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub type_params: Vec<KeyValuePair>,
    /// Index params.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub index_params: Vec<KeyValuePair>,
    /// autoID.
    #[serde(rename = "autoID", skip_serializing_if = "is_zero")]
    pub auto_id: bool,
    /// Field state.
    #[serde(skip_serializing_if = "is_zero")]
    pub state: FieldState,
    /// Element type of arrays.
    #[serde(skip_serializing_if = "is_zero")]
    pub element_type: DataType,
    /// Go's encoding of a proto oneof (`{"Data":{...}}`); never set by the
    /// tool, kept opaque so whatever is there round-trips.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<serde_json::Value>,
    /// Dynamic `$meta` field.
    #[serde(skip_serializing_if = "is_zero")]
    pub is_dynamic: bool,
    /// Partition key.
    #[serde(skip_serializing_if = "is_zero")]
    pub is_partition_key: bool,
    /// Nullable.
    #[serde(skip_serializing_if = "is_zero")]
    pub nullable: bool,
    /// Pre-v0.5.5 default value: raw protobuf bytes as a Go string.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub default_value_proto: String,
    /// Output of a function.
    #[serde(skip_serializing_if = "is_zero")]
    pub is_function_output: bool,
    /// base64(proto ValueField), v0.5.5+.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub default_value_base64: String,
    /// Clustering key. milvus-backup's `backup.proto` has no such field and loses it; mbx writes it last, and
    /// milvus-backup's reader ignores a key it does not know.
    #[serde(skip_serializing_if = "is_zero")]
    pub is_clustering_key: bool,
}

/// `FunctionSchema`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionSchema {
    /// Name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Id.
    #[serde(skip_serializing_if = "is_zero")]
    pub id: i64,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Function type.
    #[serde(rename = "type", skip_serializing_if = "is_zero")]
    pub function_type: FunctionType,
    /// Input field names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_field_names: Vec<String>,
    /// Input field ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_field_ids: Vec<i64>,
    /// Output field names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_field_names: Vec<String>,
    /// Output field ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_field_ids: Vec<i64>,
    /// Params.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValuePair>,
}

/// `RBACMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RbacMeta {
    /// Users (with password hashes as Milvus returns them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserInfo>,
    /// Roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<NamedEntity>,
    /// Grants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantEntity>,
    /// Privilege groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub privilege_groups: Vec<PrivilegeGroupInfo>,
}

/// `RoleEntity`, `UserEntity`, `ObjectEntity` and `PrivilegeEntity` are all
/// `{name}` on the wire, so one type serves them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamedEntity {
    /// Name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// `UserInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    /// User name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Password hash.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<NamedEntity>,
}

/// `GrantEntity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrantEntity {
    /// Role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<NamedEntity>,
    /// Object type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<NamedEntity>,
    /// Object name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub object_name: String,
    /// Grantor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantor: Option<GrantorEntity>,
    /// Database.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub db_name: String,
}

/// `GrantorEntity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrantorEntity {
    /// User.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<NamedEntity>,
    /// Privilege.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privilege: Option<NamedEntity>,
}

/// `PrivilegeGroupInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivilegeGroupInfo {
    /// Group name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group_name: String,
    /// Privileges.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<NamedEntity>,
}

/// `CollectionLevelBackupInfo` = collection_meta.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectionLevelBackupInfo {
    /// Collections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<CollectionBackupInfo>,
}

/// `PartitionLevelBackupInfo` = partition_meta.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartitionLevelBackupInfo {
    /// Partitions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<PartitionBackupInfo>,
}

/// `SegmentLevelBackupInfo` = segment_meta.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentLevelBackupInfo {
    /// Segments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<SegmentBackupInfo>,
}

// ---------------------------------------------------------------------------
// Go-compatible JSON writer / reader
// ---------------------------------------------------------------------------

/// Compact formatter that adds Go's extra string escapes. serde_json already
/// escapes `"`, `\` and C0 controls exactly like Go >= 1.22 (`\b \f \n \r \t`,
/// otherwise lowercase `\u00xx`) and leaves `/` and DEL alone like Go; only the
/// HTML-safety escapes and the JavaScript line separators are missing.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            let esc: &[u8] = match ch {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(esc)?;
            start = i + ch.len_utf8();
        }
        writer.write_all(&bytes[start..])
    }
}

/// Serialize like Go's `json.Marshal`: compact, HTML-escaped, no trailing newline.
pub fn to_go_json<T: Serialize>(v: &T) -> Result<Vec<u8>, MetaError> {
    let mut ser = serde_json::Serializer::with_formatter(Vec::new(), GoFormatter);
    v.serialize(&mut ser).map_err(|source| MetaError::Encode {
        what: std::any::type_name::<T>(),
        source,
    })?;
    Ok(ser.into_inner())
}

/// Drop `null` members so they read as "missing" (= zero), which is what Go's
/// `json.Unmarshal` does for `null` on non-pointer fields.
fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, val| !val.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Parse a meta file the way Go's `json.Unmarshal` would: unknown keys
/// ignored, missing keys and `null` read as zero, duplicate keys last-wins,
/// 64-bit integers exact (serde_json keeps u64/i64 without going through f64).
pub fn from_go_json<T: DeserializeOwned>(bytes: &[u8], file: &'static str) -> Result<T, MetaError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| MetaError::Decode { file, source })?;
    strip_nulls(&mut value);
    serde_json::from_value(value).map_err(|source| MetaError::Decode { file, source })
}

// ---------------------------------------------------------------------------
// Meta file names, level split and read
// ---------------------------------------------------------------------------

/// Name of the directory holding the meta files inside a backup dir.
pub const META_DIR: &str = "meta";
/// Top-level scalars; its presence is what makes a backup "exist".
pub const BACKUP_META_FILE: &str = "backup_meta.json";
/// `{"infos":[CollectionBackupInfo]}` without segments.
pub const COLLECTION_META_FILE: &str = "collection_meta.json";
/// `{"infos":[PartitionBackupInfo]}` without segments.
pub const PARTITION_META_FILE: &str = "partition_meta.json";
/// `{"infos":[SegmentBackupInfo]}` (partition segments only).
pub const SEGMENT_META_FILE: &str = "segment_meta.json";
/// Whole tree; authoritative and read first.
pub const FULL_META_FILE: &str = "full_meta.json";
/// Write order of HEAD `task.writeMeta`; full_meta.json last, acting as the
/// closest thing to a commit marker.
pub const META_WRITE_ORDER: [&str; 5] = [
    BACKUP_META_FILE,
    COLLECTION_META_FILE,
    PARTITION_META_FILE,
    SEGMENT_META_FILE,
    FULL_META_FILE,
];

/// Encoded contents of the five meta files of one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaFiles {
    /// backup_meta.json.
    pub backup: Vec<u8>,
    /// collection_meta.json.
    pub collection: Vec<u8>,
    /// partition_meta.json.
    pub partition: Vec<u8>,
    /// segment_meta.json.
    pub segment: Vec<u8>,
    /// full_meta.json.
    pub full: Vec<u8>,
}

impl MetaFiles {
    /// (file name, bytes) pairs in the order they must be written.
    pub fn in_write_order(&self) -> [(&'static str, &[u8]); 5] {
        [
            (BACKUP_META_FILE, &self.backup),
            (COLLECTION_META_FILE, &self.collection),
            (PARTITION_META_FILE, &self.partition),
            (SEGMENT_META_FILE, &self.segment),
            (FULL_META_FILE, &self.full),
        ]
    }
}

/// Split a full tree into the five files exactly like HEAD's meta_builder:
/// backup_meta keeps only id/name/backup_timestamp/size/milvus_version/format
/// (state_code forced to 0), collection_meta drops `l0_segments` and every
/// partition's segments, partition_meta drops segments, segment_meta lists the
/// partition segments only (all-partition L0 segments live only in full_meta).
pub fn build_meta_files(info: &BackupInfo) -> Result<MetaFiles, MetaError> {
    let backup = BackupInfo {
        id: info.id.clone(),
        state_code: BackupTaskStateCode::INITIAL,
        name: info.name.clone(),
        backup_timestamp: info.backup_timestamp,
        size: info.size,
        milvus_version: info.milvus_version.clone(),
        format: info.format.clone(),
        ..BackupInfo::default()
    };

    let strip_part = |p: &PartitionBackupInfo| PartitionBackupInfo {
        segment_backups: Vec::new(),
        ..p.clone()
    };

    let collections = CollectionLevelBackupInfo {
        infos: info
            .collection_backups
            .iter()
            .map(|c| CollectionBackupInfo {
                l0_segments: Vec::new(),
                partition_backups: c.partition_backups.iter().map(strip_part).collect(),
                ..c.clone()
            })
            .collect(),
    };

    let partitions = PartitionLevelBackupInfo {
        infos: info
            .collection_backups
            .iter()
            .flat_map(|c| c.partition_backups.iter().map(strip_part))
            .collect(),
    };

    let segments = SegmentLevelBackupInfo {
        infos: info
            .collection_backups
            .iter()
            .flat_map(|c| c.partition_backups.iter())
            .flat_map(|p| p.segment_backups.iter().cloned())
            .collect(),
    };

    Ok(MetaFiles {
        backup: to_go_json(&backup)?,
        collection: to_go_json(&collections)?,
        partition: to_go_json(&partitions)?,
        segment: to_go_json(&segments)?,
        full: to_go_json(info)?,
    })
}

/// Read a backup following `meta.Read`: `full_meta.json` when present (used
/// as-is), otherwise rebuild from the level files. `backup` (backup_meta.json)
/// is required because milvus-backup treats it as the existence marker.
pub fn read_backup(
    full: Option<&[u8]>,
    backup: &[u8],
    collection: Option<&[u8]>,
    partition: Option<&[u8]>,
    segment: Option<&[u8]>,
) -> Result<BackupInfo, MetaError> {
    if let Some(full) = full {
        return from_go_json(full, FULL_META_FILE);
    }
    let backup: BackupInfo = from_go_json(backup, BACKUP_META_FILE)?;
    let collection: CollectionLevelBackupInfo = from_go_json(
        need(collection, COLLECTION_META_FILE)?,
        COLLECTION_META_FILE,
    )?;
    let partition: PartitionLevelBackupInfo =
        from_go_json(need(partition, PARTITION_META_FILE)?, PARTITION_META_FILE)?;
    let segment: SegmentLevelBackupInfo =
        from_go_json(need(segment, SEGMENT_META_FILE)?, SEGMENT_META_FILE)?;
    Ok(level_to_tree(backup, collection, partition, segment))
}

/// A level file that must be present when full_meta.json is absent.
fn need<'a>(bytes: Option<&'a [u8]>, file: &'static str) -> Result<&'a [u8], MetaError> {
    bytes.ok_or(MetaError::MissingLevelFile { file })
}

/// `levelToTree`: segments grouped by (collection, partition) of the segment
/// itself, partitions by their collection_id; a collection's partitions are
/// always replaced by those of partition_meta, which makes the three
/// collection_meta variants (HEAD: partitions without segments; <= v0.5.9:
/// full clone; l0compact: no partitions) read the same. `l0_segments` are kept
/// as found in collection_meta (only the v0.5.9 variant has them). Sizes are
/// recomputed bottom-up; orphans (a segment whose partition, or a partition
/// whose collection, is not listed) are dropped, as upstream does.
fn level_to_tree(
    mut backup: BackupInfo,
    collection: CollectionLevelBackupInfo,
    partition: PartitionLevelBackupInfo,
    segment: SegmentLevelBackupInfo,
) -> BackupInfo {
    let mut segs_by_part: BTreeMap<(i64, i64), Vec<SegmentBackupInfo>> = BTreeMap::new();
    for seg in segment.infos {
        segs_by_part
            .entry((seg.collection_id, seg.partition_id))
            .or_default()
            .push(seg);
    }

    let mut parts_by_coll: BTreeMap<i64, Vec<PartitionBackupInfo>> = BTreeMap::new();
    for mut part in partition.infos {
        let segs = segs_by_part
            .get(&(part.collection_id, part.partition_id))
            .cloned()
            .unwrap_or_default();
        part.size = segs.iter().map(|s| s.size).sum();
        part.segment_backups = segs;
        parts_by_coll
            .entry(part.collection_id)
            .or_default()
            .push(part);
    }

    let mut collections = Vec::with_capacity(collection.infos.len());
    for mut coll in collection.infos {
        let parts = parts_by_coll
            .get(&coll.collection_id)
            .cloned()
            .unwrap_or_default();
        coll.size = parts.iter().map(|p| p.size).sum();
        coll.partition_backups = parts;
        collections.push(coll);
    }

    backup.size = collections.iter().map(|c| c.size).sum();
    backup.collection_backups = collections;
    backup
}

// ---------------------------------------------------------------------------
// Layout (pure string functions, Go `path.Join` semantics)
// ---------------------------------------------------------------------------

const BINLOG_PREFIX: &str = "binlogs";
const INSERT_LOG_PREFIX: &str = "insert_log";
const DELTA_LOG_PREFIX: &str = "delta_log";
/// Partition id of L0 segments that apply to every partition.
pub const ALL_PARTITION_ID: i64 = -1;

/// Go `path.Clean`: collapse slashes, drop `.`, resolve `..`, no trailing slash.
fn go_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    if rooted {
        format!("/{body}")
    } else if body.is_empty() {
        ".".to_string()
    } else {
        body
    }
}

/// Go `path.Join`: empty elements ignored, result cleaned, "" if all empty.
fn go_join(elems: &[&str]) -> String {
    match elems.iter().position(|e| !e.is_empty()) {
        Some(i) => go_clean(&elems[i..].join("/")),
        None => String::new(),
    }
}

/// Join id components under `base`, then Clean, like `mpath.Join`.
fn join_ids(base: &[&str], ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let mut elems: Vec<&str> = base.to_vec();
    elems.extend(ids.iter().map(String::as_str));
    go_join(&elems)
}

/// `{root}/{name}/` (mpath.BackupDir); the trailing slash makes it a prefix.
pub fn backup_dir(backup_root: &str, name: &str) -> String {
    format!("{}/", go_join(&[backup_root, name]))
}

/// `{backup_dir}meta/{file}`.
pub fn meta_key(backup_dir: &str, file: &str) -> String {
    go_join(&[backup_dir, META_DIR, file])
}

/// Group segment of a path: present only when `group_id != 0` (pre-v0.1.0 and
/// ungrouped v0.1-v0.4.3 backups have no group dir).
fn group_ids(group_id: i64) -> Option<i64> {
    (group_id != 0).then_some(group_id)
}

/// Insert object key `{backup_dir}binlogs/insert_log/C/P/[G/]S/F/L`.
pub fn insert_log_key(
    backup_dir: &str,
    seg: &SegmentBackupInfo,
    field_id: i64,
    log_id: i64,
) -> String {
    let mut ids = vec![seg.collection_id, seg.partition_id];
    ids.extend(group_ids(seg.group_id));
    ids.extend([seg.segment_id, field_id, log_id]);
    join_ids(&[backup_dir, BINLOG_PREFIX, INSERT_LOG_PREFIX], &ids)
}

/// Delta object key `{backup_dir}binlogs/delta_log/C/P/[G/]S/L`; all-partition
/// L0 segments (P == -1) never have a group dir.
pub fn delta_log_key(backup_dir: &str, seg: &SegmentBackupInfo, log_id: i64) -> String {
    let mut ids = vec![seg.collection_id, seg.partition_id];
    if seg.partition_id != ALL_PARTITION_ID {
        ids.extend(group_ids(seg.group_id));
    }
    ids.extend([seg.segment_id, log_id]);
    join_ids(&[backup_dir, BINLOG_PREFIX, DELTA_LOG_PREFIX], &ids)
}

/// Directory holding one segment's insert logs (`.../C/P/[G/]S/`), for listing
/// and verification.
pub fn segment_insert_dir(backup_dir: &str, seg: &SegmentBackupInfo) -> String {
    let mut ids = vec![seg.collection_id, seg.partition_id];
    ids.extend(group_ids(seg.group_id));
    ids.push(seg.segment_id);
    format!(
        "{}/",
        join_ids(&[backup_dir, BINLOG_PREFIX, INSERT_LOG_PREFIX], &ids)
    )
}

/// Directory holding one segment's delta logs (`.../C/P/[G/]S/`, or
/// `.../C/-1/S/` for all-partition L0). Also the L0 import dir of an
/// all-partition L0 segment.
pub fn segment_delta_dir(backup_dir: &str, seg: &SegmentBackupInfo) -> String {
    let mut ids = vec![seg.collection_id, seg.partition_id];
    if seg.partition_id != ALL_PARTITION_ID {
        ids.extend(group_ids(seg.group_id));
    }
    ids.push(seg.segment_id);
    format!(
        "{}/",
        join_ids(&[backup_dir, BINLOG_PREFIX, DELTA_LOG_PREFIX], &ids)
    )
}

/// L0 import dir as HEAD restore builds it: `.../delta_log/C/P/S/` (no group
/// component; for partition-level L0 with G = S this is the group dir).
pub fn l0_import_dir(backup_dir: &str, seg: &SegmentBackupInfo) -> String {
    let ids = [seg.collection_id, seg.partition_id, seg.segment_id];
    format!(
        "{}/",
        join_ids(&[backup_dir, BINLOG_PREFIX, DELTA_LOG_PREFIX], &ids)
    )
}

/// One (insert dir, delta dir) pair handed to Milvus' backup-mode import.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportDirs {
    /// `.../insert_log/C/P/[G/]`.
    pub insert_dir: String,
    /// `.../delta_log/C/P/[G/]`; the caller sends it only if it is non-empty in storage.
    pub delta_dir: String,
}

/// Import dir pair for a group: group 0 means the partition-level dirs of old
/// backups, anything else `.../C/P/G/`.
pub fn import_dirs(
    backup_dir: &str,
    collection_id: i64,
    partition_id: i64,
    group_id: i64,
) -> ImportDirs {
    let mut ids = vec![collection_id, partition_id];
    ids.extend(group_ids(group_id));
    ImportDirs {
        insert_dir: format!(
            "{}/",
            join_ids(&[backup_dir, BINLOG_PREFIX, INSERT_LOG_PREFIX], &ids)
        ),
        delta_dir: format!(
            "{}/",
            join_ids(&[backup_dir, BINLOG_PREFIX, DELTA_LOG_PREFIX], &ids)
        ),
    }
}

/// Remove repeated dir pairs keeping first occurrence order: pre-v0.4.4
/// backups put several segments in one counter group, and importing the same
/// group dir twice would duplicate rows.
pub fn dedupe_import_dirs(dirs: Vec<ImportDirs>) -> Vec<ImportDirs> {
    let mut seen = std::collections::HashSet::new();
    dirs.into_iter()
        .filter(|d| seen.insert(d.clone()))
        .collect()
}

/// Non-L0 import dirs of a partition following HEAD restore: if any non-L0
/// segment has a group id, one pair per (deduplicated) group; if none has,
/// one partition-level pair; no non-L0 segment, nothing. A mix of both is
/// rejected (upstream would emit a non-existent `.../P/0/` dir).
pub fn partition_import_dirs(
    backup_dir: &str,
    collection_id: i64,
    part: &PartitionBackupInfo,
) -> Result<Vec<ImportDirs>, MetaError> {
    let segs: Vec<&SegmentBackupInfo> = part.segment_backups.iter().filter(|s| !s.is_l0).collect();
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    let grouped = segs.iter().filter(|s| s.group_id != 0).count();
    if grouped == 0 {
        return Ok(vec![import_dirs(
            backup_dir,
            collection_id,
            part.partition_id,
            0,
        )]);
    }
    if grouped != segs.len() {
        return Err(MetaError::MixedGroupIds {
            collection_id,
            partition_id: part.partition_id,
        });
    }
    Ok(dedupe_import_dirs(
        segs.iter()
            .map(|s| import_dirs(backup_dir, collection_id, part.partition_id, s.group_id))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------
// Backup names
// ---------------------------------------------------------------------------

/// Longest accepted backup name in bytes (`utils.MaxNameLength`).
pub const MAX_BACKUP_NAME_LEN: usize = 128;

/// milvus-backup's `ValidateType` rule: non-empty, at most 128 bytes, first
/// byte `_` or ASCII letter, the rest `_`, ASCII letters or digits. Upstream
/// trims surrounding whitespace before checking; we reject it instead because
/// the untrimmed name would become the directory name.
pub fn validate_backup_name(name: &str) -> Result<(), MetaError> {
    let fail = |reason| {
        Err(MetaError::InvalidBackupName {
            name: name.to_string(),
            reason,
        })
    };
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return fail("must not be empty");
    };
    if bytes.len() > MAX_BACKUP_NAME_LEN {
        return fail("must be at most 128 characters");
    }
    if first != b'_' && !first.is_ascii_alphabetic() {
        return fail("the first character must be an underscore or a letter");
    }
    if !bytes[1..]
        .iter()
        .all(|&c| c == b'_' || c.is_ascii_alphanumeric())
    {
        return fail("may only contain letters, digits and underscores");
    }
    Ok(())
}

/// Default name `backup_YYYY_MM_DD_HH_MM_SS_<nanos>` in UTC, as milvus-backup
/// builds it (`Format("2006_01_02_15_04_05_")` + unpadded `Nanosecond()`).
/// Times before 1970 are clamped to the epoch (no real clock returns them).
pub fn default_backup_name(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(secs / 86_400);
    let sod = secs % 86_400;
    format!(
        "backup_{y:04}_{m:02}_{day:02}_{:02}_{:02}_{:02}_{}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm, unsigned because we never go before the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const C: i64 = 449577123456789001;
    const P: i64 = 449577123456789002;
    const S: i64 = 449577123456789010;
    const ID: &str = "0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11";
    const VCH: &str = "by-dev-rootcoord-dml_0_449577123456789001v0";

    fn kv(k: &str, v: &str) -> KeyValuePair {
        KeyValuePair {
            key: k.into(),
            value: v.into(),
        }
    }

    fn binlog(path: String, size: i64, id: i64) -> Binlog {
        Binlog {
            log_path: path,
            log_size: size,
            log_id: id,
            ..Binlog::default()
        }
    }

    fn field_binlog(field: i64, size: i64, log: i64) -> FieldBinlog {
        FieldBinlog {
            field_id: field,
            binlogs: vec![binlog(
                format!("files/insert_log/{C}/{P}/{S}/{field}/{log}"),
                size,
                log,
            )],
        }
    }

    fn example_segment() -> SegmentBackupInfo {
        SegmentBackupInfo {
            segment_id: S,
            collection_id: C,
            partition_id: P,
            num_of_rows: 3000,
            binlogs: vec![
                field_binlog(0, 8133, 449577123456789101),
                field_binlog(1, 544, 449577123456789102),
                field_binlog(100, 8133, 449577123456789103),
                field_binlog(101, 2180, 449577123456789104),
                field_binlog(102, 2144, 449577123456789105),
            ],
            deltalogs: vec![FieldBinlog {
                field_id: 0,
                binlogs: vec![binlog(
                    format!("files/delta_log/{C}/{P}/{S}/449577123456789201"),
                    400,
                    449577123456789201,
                )],
            }],
            size: 21534,
            group_id: S,
            ..SegmentBackupInfo::default()
        }
    }

    /// The §1.6 scenario: one collection, one partition, one segment, HNSW.
    fn example() -> BackupInfo {
        let schema = CollectionSchema {
            name: "hello_milvus".into(),
            description: "demo".into(),
            fields: vec![
                FieldSchema {
                    field_id: 100,
                    name: "pk".into(),
                    is_primary_key: true,
                    data_type: DataType::INT64,
                    ..FieldSchema::default()
                },
                FieldSchema {
                    field_id: 101,
                    name: "random".into(),
                    data_type: DataType::DOUBLE,
                    ..FieldSchema::default()
                },
                FieldSchema {
                    field_id: 102,
                    name: "embeddings".into(),
                    data_type: DataType::FLOAT_VECTOR,
                    type_params: vec![kv("dim", "8")],
                    ..FieldSchema::default()
                },
            ],
            ..CollectionSchema::default()
        };
        let mut params = BTreeMap::new();
        // Inserted out of order on purpose: output must be sorted.
        params.insert(
            "params".to_string(),
            r#"{"M":8,"efConstruction":64}"#.to_string(),
        );
        params.insert("metric_type".to_string(), "L2".to_string());
        params.insert("index_type".to_string(), "HNSW".to_string());
        let coll = CollectionBackupInfo {
            id: ID.into(),
            collection_id: C,
            db_name: "default".into(),
            collection_name: "hello_milvus".into(),
            schema: Some(schema),
            shards_num: 1,
            consistency_level: ConsistencyLevel::BOUNDED,
            partition_backups: vec![PartitionBackupInfo {
                partition_id: P,
                partition_name: "_default".into(),
                collection_id: C,
                segment_backups: vec![example_segment()],
                size: 21534,
                load_state: "NotLoad".into(),
            }],
            backup_timestamp: 449577999000000000,
            size: 21534,
            has_index: true,
            index_infos: vec![IndexInfo {
                field_name: "embeddings".into(),
                index_name: "_default_idx_102".into(),
                index_type: "HNSW".into(),
                params,
                index_id: 449577123456789050,
                ..IndexInfo::default()
            }],
            load_state: "NotLoad".into(),
            backup_physical_timestamp: 1694085634,
            channel_checkpoints: BTreeMap::from([(VCH.to_string(), "Ci1ieS1kZXYt".to_string())]),
            created_timestamp: 449577100000000000,
            virtual_channel_names: vec![VCH.into()],
            physical_channel_names: vec!["by-dev-rootcoord-dml_0".into()],
            ..CollectionBackupInfo::default()
        };
        BackupInfo {
            id: ID.into(),
            name: "my_backup".into(),
            collection_backups: vec![coll],
            size: 21534,
            milvus_version: "v2.3.22".into(),
            database_backups: vec![DatabaseBackupInfo {
                db_name: "default".into(),
                db_id: 1,
                ..DatabaseBackupInfo::default()
            }],
            ..BackupInfo::default()
        }
    }

    fn s(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    const GOLDEN_BACKUP: &str = r#"{"id":"0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11","state_code":0,"name":"my_backup","size":21534,"milvus_version":"v2.3.22"}"#;

    const GOLDEN_PARTITION: &str = r#"{"infos":[{"partition_id":449577123456789002,"partition_name":"_default","collection_id":449577123456789001,"size":21534,"load_state":"NotLoad"}]}"#;

    fn golden_collection_obj(with_segments: bool) -> String {
        let part = if with_segments {
            format!(
                r#"{{"partition_id":449577123456789002,"partition_name":"_default","collection_id":449577123456789001,"segment_backups":[{}],"size":21534,"load_state":"NotLoad"}}"#,
                golden_segment_obj()
            )
        } else {
            r#"{"partition_id":449577123456789002,"partition_name":"_default","collection_id":449577123456789001,"size":21534,"load_state":"NotLoad"}"#.to_string()
        };
        format!(
            concat!(
                r#"{{"id":"0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11","collection_id":449577123456789001,"db_name":"default","collection_name":"hello_milvus","#,
                r#""schema":{{"name":"hello_milvus","description":"demo","fields":["#,
                r#"{{"fieldID":100,"name":"pk","is_primary_key":true,"data_type":5}},"#,
                r#"{{"fieldID":101,"name":"random","data_type":11}},"#,
                r#"{{"fieldID":102,"name":"embeddings","data_type":101,"type_params":[{{"key":"dim","value":"8"}}]}}]}},"#,
                r#""shards_num":1,"consistency_level":2,"partition_backups":[{}],"#,
                r#""backup_timestamp":449577999000000000,"size":21534,"has_index":true,"#,
                r#""index_infos":[{{"field_name":"embeddings","index_name":"_default_idx_102","index_type":"HNSW","#,
                r#""params":{{"index_type":"HNSW","metric_type":"L2","params":"{{\"M\":8,\"efConstruction\":64}}"}},"index_id":449577123456789050}}],"#,
                r#""load_state":"NotLoad","backup_physical_timestamp":1694085634,"#,
                r#""channel_checkpoints":{{"by-dev-rootcoord-dml_0_449577123456789001v0":"Ci1ieS1kZXYt"}},"#,
                r#""created_timestamp":449577100000000000,"#,
                r#""virtual_channel_names":["by-dev-rootcoord-dml_0_449577123456789001v0"],"physical_channel_names":["by-dev-rootcoord-dml_0"]}}"#
            ),
            part
        )
    }

    fn golden_segment_obj() -> String {
        let fb = |f: i64, size: i64, log: i64| {
            let key = if f == 0 {
                String::new()
            } else {
                format!(r#""fieldID":{f},"#)
            };
            format!(
                r#"{{{key}"binlogs":[{{"log_path":"files/insert_log/{C}/{P}/{S}/{f}/{log}","log_size":{size},"log_id":{log}}}]}}"#
            )
        };
        format!(
            concat!(
                r#"{{"segment_id":449577123456789010,"collection_id":449577123456789001,"partition_id":449577123456789002,"num_of_rows":3000,"#,
                r#""binlogs":[{},{},{},{},{}],"#,
                r#""deltalogs":[{{"binlogs":[{{"log_path":"files/delta_log/449577123456789001/449577123456789002/449577123456789010/449577123456789201","log_size":400,"log_id":449577123456789201}}]}}],"#,
                r#""size":21534,"group_id":449577123456789010}}"#
            ),
            fb(0, 8133, 449577123456789101),
            fb(1, 544, 449577123456789102),
            fb(100, 8133, 449577123456789103),
            fb(101, 2180, 449577123456789104),
            fb(102, 2144, 449577123456789105),
        )
    }

    #[test]
    fn golden_level_files() {
        let files = build_meta_files(&example()).unwrap();
        assert_eq!(s(&files.backup), GOLDEN_BACKUP);
        assert_eq!(
            s(&files.collection),
            format!(r#"{{"infos":[{}]}}"#, golden_collection_obj(false))
        );
        assert_eq!(s(&files.partition), GOLDEN_PARTITION);
        assert_eq!(
            s(&files.segment),
            format!(r#"{{"infos":[{}]}}"#, golden_segment_obj())
        );
        let full = format!(
            concat!(
                r#"{{"id":"0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11","state_code":0,"name":"my_backup","#,
                r#""collection_backups":[{}],"size":21534,"milvus_version":"v2.3.22","#,
                r#""database_backups":[{{"db_name":"default","db_id":1}}]}}"#
            ),
            golden_collection_obj(true)
        );
        assert_eq!(s(&files.full), full);
        assert!(!files.full.ends_with(b"\n"));
        let order: Vec<&str> = files.in_write_order().iter().map(|(n, _)| *n).collect();
        assert_eq!(order, META_WRITE_ORDER);
        assert_eq!(META_WRITE_ORDER[4], FULL_META_FILE);
    }

    #[test]
    fn full_meta_round_trips_byte_for_byte() {
        let files = build_meta_files(&example()).unwrap();
        let back = read_backup(Some(&files.full), &files.backup, None, None, None).unwrap();
        assert_eq!(back, example());
        assert_eq!(to_go_json(&back).unwrap(), files.full);
    }

    #[test]
    fn l0_segments_only_in_full_meta() {
        let mut info = example();
        let l0 = SegmentBackupInfo {
            segment_id: 7,
            collection_id: C,
            partition_id: ALL_PARTITION_ID,
            is_l0: true,
            size: 10,
            deltalogs: vec![FieldBinlog::default()],
            ..SegmentBackupInfo::default()
        };
        info.collection_backups[0].l0_segments = vec![l0];
        let files = build_meta_files(&info).unwrap();
        assert!(!s(&files.collection).contains("l0_segments"));
        assert!(!s(&files.segment).contains(r#""segment_id":7,"#));
        // An empty FieldBinlog is `{}`, hence Go's `"deltalogs":[{}]`.
        assert!(s(&files.full).contains(
            r#""l0_segments":[{"segment_id":7,"collection_id":449577123456789001,"partition_id":-1,"deltalogs":[{}],"size":10,"is_l0":true}]"#
        ));
        // Level-only read cannot see them (as upstream).
        let back = read_backup(
            None,
            &files.backup,
            Some(&files.collection),
            Some(&files.partition),
            Some(&files.segment),
        )
        .unwrap();
        assert!(back.collection_backups[0].l0_segments.is_empty());
    }

    #[test]
    fn empty_backup_files() {
        let info = BackupInfo {
            name: "b".into(),
            ..BackupInfo::default()
        };
        let files = build_meta_files(&info).unwrap();
        assert_eq!(s(&files.backup), r#"{"state_code":0,"name":"b","size":0}"#);
        assert_eq!(s(&files.collection), "{}");
        assert_eq!(s(&files.partition), "{}");
        assert_eq!(s(&files.segment), "{}");
        assert_eq!(
            s(&to_go_json(&Binlog::default()).unwrap()),
            r#"{"log_size":0}"#
        );
        assert_eq!(
            s(&to_go_json(&CollectionBackupInfo::default()).unwrap()),
            r#"{"size":0,"has_index":false}"#
        );
    }

    #[test]
    fn big_ids_exact() {
        let json = br#"{"state_code":0,"backup_timestamp":18446744073709551615,"collection_backups":[{"collection_id":9007199254740993,"size":0,"has_index":false}],"size":9223372036854775807}"#;
        let info: BackupInfo = from_go_json(json, FULL_META_FILE).unwrap();
        assert_eq!(info.backup_timestamp, u64::MAX);
        assert_eq!(info.size, i64::MAX);
        assert_eq!(info.collection_backups[0].collection_id, 9007199254740993);
        assert_eq!(to_go_json(&info).unwrap(), json.to_vec());
    }

    #[test]
    fn html_and_separator_escaping() {
        let mut params = BTreeMap::new();
        params.insert("b<&>".to_string(), "x".to_string());
        params.insert(
            "a".to_string(),
            "\u{2028}\u{2029}\u{1}\u{8}\u{c}\n\t\"\\/\u{7f}é".to_string(),
        );
        let idx = IndexInfo {
            index_name: "<script>&".into(),
            params,
            ..IndexInfo::default()
        };
        let out = to_go_json(&idx).unwrap();
        assert_eq!(
            s(&out),
            r#"{"index_name":"\u003cscript\u003e\u0026","params":{"a":"\u2028\u2029\u0001\b\f\n\t\"\\/"#
                .to_string()
                + "\u{7f}é"
                + r#"","b\u003c\u0026\u003e":"x"}}"#
        );
        let back: IndexInfo = from_go_json(&out, "test").unwrap();
        assert_eq!(back, idx);
    }

    #[test]
    fn map_keys_sorted_bytewise() {
        let coll = CollectionBackupInfo {
            channel_checkpoints: BTreeMap::from([
                ("b".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string()),
                ("a".to_string(), "3".to_string()),
                ("_".to_string(), "4".to_string()),
            ]),
            ..CollectionBackupInfo::default()
        };
        assert_eq!(
            s(&to_go_json(&coll).unwrap()),
            r#"{"size":0,"has_index":false,"channel_checkpoints":{"B":"2","_":"4","a":"3","b":"1"}}"#
        );
    }

    #[test]
    fn read_level_files_recomputes_sizes() {
        let mut info = example();
        // Second partition with two segments; stale sizes everywhere.
        let mut seg2 = example_segment();
        seg2.segment_id = 11;
        seg2.partition_id = 12;
        seg2.group_id = 11;
        seg2.size = 100;
        let mut seg3 = seg2.clone();
        seg3.segment_id = 13;
        seg3.group_id = 13;
        seg3.size = 5;
        info.collection_backups[0]
            .partition_backups
            .push(PartitionBackupInfo {
                partition_id: 12,
                partition_name: "p2".into(),
                collection_id: C,
                segment_backups: vec![seg2, seg3],
                size: 999,
                load_state: String::new(),
            });
        info.collection_backups[0].size = 1;
        info.size = 2;
        let files = build_meta_files(&info).unwrap();
        let back = read_backup(
            None,
            &files.backup,
            Some(&files.collection),
            Some(&files.partition),
            Some(&files.segment),
        )
        .unwrap();
        let coll = &back.collection_backups[0];
        assert_eq!(coll.partition_backups.len(), 2);
        assert_eq!(coll.partition_backups[0].size, 21534);
        assert_eq!(coll.partition_backups[1].size, 105);
        assert_eq!(coll.partition_backups[1].segment_backups.len(), 2);
        assert_eq!(coll.size, 21639);
        assert_eq!(back.size, 21639);
        assert_eq!(coll.schema, info.collection_backups[0].schema);

        let missing = read_backup(
            None,
            &files.backup,
            Some(&files.collection),
            None,
            Some(&files.segment),
        );
        assert!(matches!(
            missing,
            Err(MetaError::MissingLevelFile {
                file: PARTITION_META_FILE
            })
        ));
    }

    #[test]
    fn read_v04_style_backup() {
        let backup = br#"{"id":"x","state_code":2,"errorMessage":"","start_time":1690000000000,"end_time":1690000001000,"progress":100,"name":"old_backup","backup_timestamp":1690000000000,"size":7,"milvus_version":"v2.2.11"}"#;
        // v0.4.x collection_meta: full clone incl. partitions and segments, old fields.
        let collection = br#"{"infos":[{"id":"x","state_code":2,"errorMessage":"","start_time":1,"end_time":2,"progress":100,"collection_id":449577123456789001,"db_name":"default","collection_name":"c","schema":{"name":"c","fields":[{"fieldID":100,"name":"pk","is_primary_key":true,"data_type":5,"default_value_proto":"\b\u0001"},{"fieldID":101,"name":"v","data_type":101,"type_params":[{"key":"dim","value":"4"}],"default_value":null}]},"shards_num":2,"partition_backups":[{"partition_id":5,"partition_name":"_default","collection_id":449577123456789001,"segment_backups":[{"segment_id":9}],"size":3}],"backup_timestamp":449577999000000000,"size":3,"has_index":false,"load_state":"Loaded"}]}"#;
        let partition = br#"{"infos":[{"partition_id":5,"partition_name":"_default","collection_id":449577123456789001,"size":3},{"partition_id":6,"collection_id":1,"size":1}]}"#;
        let segment = br#"{"infos":[{"segment_id":9,"collection_id":449577123456789001,"partition_id":5,"num_of_rows":10,"binlogs":[{"binlogs":[{"log_path":"files/insert_log/449577123456789001/5/9/0/1","log_size":4}]}],"statslogs":[{"fieldID":100,"binlogs":[{"log_path":"files/stats_log/x","log_size":1}]}],"deltalogs":null,"size":4,"backuped":true},{"segment_id":10,"collection_id":449577123456789001,"partition_id":5,"size":6,"backuped":true}]}"#;
        let info = read_backup(
            None,
            backup,
            Some(collection),
            Some(partition),
            Some(segment),
        )
        .unwrap();
        assert_eq!(info.state_code, BackupTaskStateCode::SUCCESS);
        assert_eq!(info.name, "old_backup");
        assert_eq!(info.size, 10);
        let coll = &info.collection_backups[0];
        assert_eq!(coll.size, 10);
        assert_eq!(coll.load_state, "Loaded");
        let fields = &coll.schema.as_ref().unwrap().fields;
        assert_eq!(fields[0].default_value_proto, "\u{8}\u{1}");
        assert_eq!(fields[1].default_value, None);
        assert_eq!(coll.partition_backups.len(), 1);
        let part = &coll.partition_backups[0];
        assert_eq!(part.size, 10);
        assert_eq!(part.segment_backups.len(), 2);
        let seg = &part.segment_backups[0];
        assert_eq!(seg.group_id, 0);
        assert!(seg.backuped);
        assert_eq!(seg.statslogs.len(), 1);
        assert!(seg.deltalogs.is_empty());
        assert_eq!(seg.binlogs[0].field_id, 0);
        assert_eq!(seg.binlogs[0].binlogs[0].log_id, 0);

        // group_id 0: objects sit at insert_log/C/P/S/F/L, one partition-level import pair.
        let dir = backup_dir("backup", "old_backup");
        assert_eq!(
            insert_log_key(&dir, seg, 0, 1),
            "backup/old_backup/binlogs/insert_log/449577123456789001/5/9/0/1"
        );
        assert_eq!(
            partition_import_dirs(&dir, coll.collection_id, part).unwrap(),
            vec![ImportDirs {
                insert_dir: "backup/old_backup/binlogs/insert_log/449577123456789001/5/".into(),
                delta_dir: "backup/old_backup/binlogs/delta_log/449577123456789001/5/".into(),
            }]
        );
    }

    #[test]
    fn collection_meta_variants_read_alike() {
        let info = example();
        let files = build_meta_files(&info).unwrap();
        let head = read_backup(
            None,
            &files.backup,
            Some(&files.collection),
            Some(&files.partition),
            Some(&files.segment),
        )
        .unwrap();
        // <= v0.5.9: full clone of the collection.
        let clone = to_go_json(&CollectionLevelBackupInfo {
            infos: info.collection_backups.clone(),
        })
        .unwrap();
        // l0compact: partitions cleared.
        let mut bare = info.collection_backups[0].clone();
        bare.partition_backups.clear();
        let bare = to_go_json(&CollectionLevelBackupInfo { infos: vec![bare] }).unwrap();
        for variant in [clone, bare] {
            let got = read_backup(
                None,
                &files.backup,
                Some(&variant),
                Some(&files.partition),
                Some(&files.segment),
            )
            .unwrap();
            assert_eq!(got, head);
        }
        // Level files do not carry database_backups/rbac (upstream loses them too).
        let mut expected = info;
        expected.database_backups.clear();
        assert_eq!(head, expected);
    }

    #[test]
    fn layout_keys() {
        let dir = backup_dir("backup", "my_backup");
        assert_eq!(dir, "backup/my_backup/");
        assert_eq!(backup_dir("/root/backup/", "n"), "/root/backup/n/");
        assert_eq!(
            meta_key(&dir, FULL_META_FILE),
            "backup/my_backup/meta/full_meta.json"
        );
        let seg = example_segment();
        assert_eq!(
            insert_log_key(&dir, &seg, 101, 449577123456789104),
            format!("backup/my_backup/binlogs/insert_log/{C}/{P}/{S}/{S}/101/449577123456789104")
        );
        assert_eq!(
            delta_log_key(&dir, &seg, 449577123456789201),
            format!("backup/my_backup/binlogs/delta_log/{C}/{P}/{S}/{S}/449577123456789201")
        );
        assert_eq!(
            segment_insert_dir(&dir, &seg),
            format!("backup/my_backup/binlogs/insert_log/{C}/{P}/{S}/{S}/")
        );
        let l0 = SegmentBackupInfo {
            segment_id: 77,
            collection_id: 1,
            partition_id: ALL_PARTITION_ID,
            is_l0: true,
            group_id: 77,
            ..SegmentBackupInfo::default()
        };
        assert_eq!(
            delta_log_key(&dir, &l0, 5),
            "backup/my_backup/binlogs/delta_log/1/-1/77/5"
        );
        assert_eq!(
            segment_delta_dir(&dir, &l0),
            "backup/my_backup/binlogs/delta_log/1/-1/77/"
        );
        assert_eq!(
            l0_import_dir(&dir, &l0),
            "backup/my_backup/binlogs/delta_log/1/-1/77/"
        );
        assert_eq!(
            import_dirs(&dir, 1, 2, 3),
            ImportDirs {
                insert_dir: "backup/my_backup/binlogs/insert_log/1/2/3/".into(),
                delta_dir: "backup/my_backup/binlogs/delta_log/1/2/3/".into(),
            }
        );
        assert_eq!(go_clean("a//b/./c/../d/"), "a/b/d");
        assert_eq!(go_clean("/../a"), "/a");
        assert_eq!(go_join(&["", ""]), "");
    }

    #[test]
    fn group_dirs_dedupe_and_mixed() {
        let dir = "b/n/";
        let seg = |id: i64, g: i64, l0: bool| SegmentBackupInfo {
            segment_id: id,
            collection_id: 1,
            partition_id: 2,
            group_id: g,
            is_l0: l0,
            ..SegmentBackupInfo::default()
        };
        let mut part = PartitionBackupInfo {
            partition_id: 2,
            collection_id: 1,
            segment_backups: vec![
                seg(10, 1, false),
                seg(11, 1, false),
                seg(12, 2, false),
                seg(13, 13, true),
            ],
            ..PartitionBackupInfo::default()
        };
        let dirs = partition_import_dirs(dir, 1, &part).unwrap();
        assert_eq!(
            dirs,
            vec![import_dirs(dir, 1, 2, 1), import_dirs(dir, 1, 2, 2)]
        );
        part.segment_backups.push(seg(14, 0, false));
        assert!(matches!(
            partition_import_dirs(dir, 1, &part),
            Err(MetaError::MixedGroupIds { .. })
        ));
        part.segment_backups = vec![seg(13, 13, true)];
        assert!(partition_import_dirs(dir, 1, &part).unwrap().is_empty());
    }

    #[test]
    fn backup_name_validation() {
        let long_ok = "a".repeat(128);
        let long_bad = "a".repeat(129);
        let table: &[(&str, bool)] = &[
            ("my_backup", true),
            ("_x", true),
            ("_", true),
            ("A1_b2", true),
            ("backup_2024_01_02_03_04_05_123456789", true),
            (&long_ok, true),
            (&long_bad, false),
            ("", false),
            ("1abc", false),
            ("a-b", false),
            ("a b", false),
            (" a", false),
            ("a.b", false),
            ("a/b", false),
            ("é", false),
            ("aé", false),
        ];
        for (name, ok) in table {
            assert_eq!(validate_backup_name(name).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn default_names() {
        let t = UNIX_EPOCH + Duration::new(1_694_085_634, 7);
        assert_eq!(default_backup_name(t), "backup_2023_09_07_11_20_34_7");
        assert_eq!(
            default_backup_name(UNIX_EPOCH),
            "backup_1970_01_01_00_00_00_0"
        );
        let leap = UNIX_EPOCH + Duration::new(951_782_400 + 86_399, 999_999_999);
        assert_eq!(
            default_backup_name(leap),
            "backup_2000_02_29_23_59_59_999999999"
        );
        let name = default_backup_name(SystemTime::now());
        assert!(validate_backup_name(&name).is_ok());
    }

    #[test]
    fn decode_errors_name_the_file() {
        let err = read_backup(None, b"{", None, None, None).unwrap_err();
        assert!(err.to_string().contains(BACKUP_META_FILE), "{err}");
        let err = from_go_json::<BackupInfo>(br#"{"size":"x"}"#, FULL_META_FILE).unwrap_err();
        assert!(err.to_string().contains(FULL_META_FILE), "{err}");
    }
}
