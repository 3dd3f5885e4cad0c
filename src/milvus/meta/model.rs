//! The meta messages and enums (field order = proto declaration order = Go struct order).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::is_zero;

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
