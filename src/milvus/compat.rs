//! What mbx implements for each Milvus version, in one table that create and restore read before they touch
//! anything: a server line mbx does not know is refused, and a backup holding something the target cannot take
//! (L0 deletes, storage v2 binlogs, functions, nullable fields...) is refused with the reason, because Milvus
//! would otherwise create the collection without it and say nothing.

use std::fmt;

use super::meta::{BackupInfo, CollectionBackupInfo, DataType, FieldSchema};

/// A Milvus release, parsed from what `GetVersion` answers (`v2.3.5-lite`, `2.6.11`, `v2.4.23-dev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MilvusVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl MilvusVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> MilvusVersion {
        MilvusVersion {
            major,
            minor,
            patch,
        }
    }

    /// The release in a version string: an optional `v`, then `MAJOR.MINOR[.PATCH]`; whatever follows the
    /// numbers (`-lite`, `-dev`, `+build`) is a build tag and ignored. `None` when there are no such numbers.
    pub fn parse(s: &str) -> Option<MilvusVersion> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let mut nums = s[..end].split('.').map(|n| n.parse::<u32>().ok());
        let major = nums.next()??;
        let minor = nums.next()??;
        let patch = match nums.next() {
            None => 0,
            Some(p) => p?,
        };
        Some(MilvusVersion::new(major, minor, patch))
    }

    fn line(self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

impl fmt::Display for MilvusVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// How far mbx goes on one Milvus release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Run against a live server of this line in mbx's tests.
    Tested,
    /// Implemented after milvus-backup's code and Milvus's sources; request shapes are tested, no live server.
    Reference,
    /// Refused with exit 2.
    Refused,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// `(major, minor)`.
    pub line: (u32, u32),
    /// Backing up from a server of this line.
    pub create: Support,
    /// Restoring into a server of this line.
    pub restore: Support,
}

/// The Milvus lines mbx knows; a server outside them is refused on create and on restore. Restore into 2.2 is
/// refused as milvus-backup does (it restores into 2.4 and newer; 2.3 is tested here), and Milvus 3.0 changes
/// the backup format itself (snapshots).
pub const LINES: [Line; 5] = [
    Line {
        line: (2, 2),
        create: Support::Reference,
        restore: Support::Refused,
    },
    Line {
        line: (2, 3),
        create: Support::Tested,
        restore: Support::Tested,
    },
    Line {
        line: (2, 4),
        create: Support::Reference,
        restore: Support::Reference,
    },
    Line {
        line: (2, 5),
        create: Support::Reference,
        restore: Support::Reference,
    },
    Line {
        line: (2, 6),
        create: Support::Reference,
        restore: Support::Reference,
    },
];

/// `DescribeDatabase` and database properties on `CreateDatabase`.
pub const DATABASE_PROPERTIES_SINCE: MilvusVersion = MilvusVersion::new(2, 4, 3);

/// Something a backup may hold that only newer servers can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Delete-only (L0) segments, imported with `l0_import=true`.
    L0Segments,
    /// Segments written in Milvus storage format v2 (parquet column groups).
    StorageV2,
    /// Schema functions (BM25, text embedding).
    Functions,
    /// Nullable fields.
    Nullable,
    /// Struct array fields.
    StructArrays,
    /// Fields added with `AddCollectionField` after the dynamic field.
    AddedFields,
    /// A clustering key.
    ClusteringKey,
    /// Analyzer and text-match settings on a VARCHAR field.
    Analyzers,
    /// A field of a data type that older servers do not have.
    DataType(DataType),
}

impl Feature {
    /// The first release that can restore it faithfully.
    pub fn since(self) -> MilvusVersion {
        match self {
            Feature::L0Segments | Feature::ClusteringKey => MilvusVersion::new(2, 4, 0),
            Feature::Functions | Feature::Nullable | Feature::Analyzers => {
                MilvusVersion::new(2, 5, 0)
            }
            Feature::StorageV2 | Feature::StructArrays | Feature::AddedFields => {
                MilvusVersion::new(2, 6, 0)
            }
            Feature::DataType(t) => data_type_since(t),
        }
    }

    /// What it is and what would be lost without it, for a refusal.
    pub fn describe(self) -> String {
        match self {
            Feature::L0Segments => {
                "L0 (delete-only) segments, which hold its recent deletes: without them deleted rows come back"
                    .into()
            }
            Feature::StorageV2 => {
                "segments in storage format v2, which an older Milvus would read as v1 binlogs".into()
            }
            Feature::Functions => {
                "schema functions (BM25 or embedding): without them text search on the copy does not work".into()
            }
            Feature::Nullable => "nullable fields, which would become NOT NULL".into(),
            Feature::StructArrays => "struct array fields, whose data would be left out".into(),
            Feature::AddedFields => {
                "fields added after creation (AddCollectionField), which must be added the same way".into()
            }
            Feature::ClusteringKey => "a clustering key, which would be dropped".into(),
            Feature::Analyzers => {
                "analyzer or text-match settings, which an older Milvus ignores".into()
            }
            Feature::DataType(t) => format!("a field of data type {}", t.0),
        }
    }
}

fn data_type_since(t: DataType) -> MilvusVersion {
    if t == DataType::FLOAT16_VECTOR
        || t == DataType::BFLOAT16_VECTOR
        || t == DataType::SPARSE_FLOAT_VECTOR
    {
        MilvusVersion::new(2, 4, 0)
    } else if t == DataType::INT8_VECTOR
        || t == DataType::GEOMETRY
        || t == DataType::TEXT
        || t == DataType::TIMESTAMPTZ
        || t == DataType::ARRAY_OF_VECTOR
        || t == DataType::ARRAY_OF_STRUCT
        || t == DataType::STRUCT
    {
        MilvusVersion::new(2, 6, 0)
    } else {
        MilvusVersion::new(2, 2, 0)
    }
}

/// A refusal: the thing, the version, the reason. Nothing has been created when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The row of the table for a server version, or the reason there is none.
fn line_of(v: MilvusVersion) -> Option<&'static Line> {
    LINES.iter().find(|l| l.line == v.line())
}

/// The server's version, parsed; `address` and the raw string name it in the refusal.
pub fn server_version(raw: &str, address: &str) -> Result<MilvusVersion, Refusal> {
    MilvusVersion::parse(raw).ok_or_else(|| {
        Refusal(format!(
            "Milvus at {address} reports version '{raw}', which mbx cannot read as MAJOR.MINOR.PATCH, so it \
             cannot tell what that server supports; nothing was done"
        ))
    })
}

fn known_lines() -> String {
    LINES
        .iter()
        .filter(|l| l.create != Support::Refused || l.restore != Support::Refused)
        .map(|l| format!("{}.{}", l.line.0, l.line.1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// May mbx back up from this server?
pub fn check_create(server: MilvusVersion, address: &str) -> Result<Support, Refusal> {
    match line_of(server) {
        Some(l) if l.create != Support::Refused => Ok(l.create),
        _ => Err(Refusal(format!(
            "Milvus {server} at {address} is not a version mbx can back up (it knows {}); a newer server may \
             store data mbx would not copy. Nothing was done",
            known_lines()
        ))),
    }
}

/// What a restore must check before it creates anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreGate {
    /// Restore into a server older than the backup's source (`--allow-downgrade`).
    pub allow_downgrade: bool,
}

/// May mbx restore these collections of `info` into `target`? Every reason it may not is named.
pub fn check_restore(
    info: &BackupInfo,
    collections: &[&CollectionBackupInfo],
    target: MilvusVersion,
    address: &str,
    gate: RestoreGate,
) -> Result<Support, Refusal> {
    let support = match line_of(target) {
        Some(l) if l.restore != Support::Refused => l.restore,
        _ => {
            return Err(Refusal(format!(
                "mbx cannot restore into Milvus {target} at {address} (it restores into {}). Nothing was created",
                LINES
                    .iter()
                    .filter(|l| l.restore != Support::Refused)
                    .map(|l| format!("{}.{}", l.line.0, l.line.1))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    if let Some(source) = MilvusVersion::parse(&info.milvus_version)
        && source > target
        && !gate.allow_downgrade
    {
        return Err(Refusal(format!(
            "backup '{}' was taken from Milvus {source} and the target at {address} runs {target}: a backup \
             restores only into the same or a newer Milvus (as with milvus-backup). Upgrade the target, or pass \
             --allow-downgrade to try anyway. Nothing was created",
            info.name
        )));
    }
    let mut reasons = Vec::new();
    for c in collections {
        for f in features(c) {
            if target < f.since() {
                reasons.push(format!(
                    "collection '{}' has {} (Milvus {} and newer)",
                    c.collection_name,
                    f.describe(),
                    f.since()
                ));
            }
        }
    }
    for db in &info.database_backups {
        let restored = collections
            .iter()
            .any(|c| c.db_name == db.db_name || (c.db_name.is_empty() && db.db_name == "default"));
        if restored && !db.properties.is_empty() && target < DATABASE_PROPERTIES_SINCE {
            reasons.push(format!(
                "database '{}' has properties ({}), which Milvus keeps from {DATABASE_PROPERTIES_SINCE} on",
                db.db_name,
                db.properties
                    .iter()
                    .map(|p| p.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if reasons.is_empty() {
        return Ok(support);
    }
    reasons.dedup();
    Err(Refusal(format!(
        "backup '{}' cannot be restored faithfully into Milvus {target} at {address}: {}. Restore it into a newer \
         Milvus. Nothing was created",
        info.name,
        reasons.join("; ")
    )))
}

/// Everything in a backed-up collection that only some versions can restore, each once.
pub fn features(c: &CollectionBackupInfo) -> Vec<Feature> {
    let mut out = Vec::new();
    let mut add = |f: Feature| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    let segments = c
        .partition_backups
        .iter()
        .flat_map(|p| &p.segment_backups)
        .chain(&c.l0_segments);
    for s in segments {
        if s.is_l0 || s.partition_id == super::meta::ALL_PARTITION_ID {
            add(Feature::L0Segments);
        }
        if s.storage_version >= 2 {
            add(Feature::StorageV2);
        }
    }
    let Some(schema) = &c.schema else {
        return out;
    };
    if !schema.functions.is_empty() {
        add(Feature::Functions);
    }
    if !schema.struct_array_fields.is_empty() {
        add(Feature::StructArrays);
    }
    let fields = schema
        .fields
        .iter()
        .chain(schema.struct_array_fields.iter().flat_map(|s| &s.fields));
    for f in fields {
        field_features(f, &mut add);
    }
    if !super::schema::added_fields(schema).is_empty() {
        add(Feature::AddedFields);
    }
    out
}

fn field_features(f: &FieldSchema, add: &mut impl FnMut(Feature)) {
    if f.nullable {
        add(Feature::Nullable);
    }
    if f.is_function_output {
        add(Feature::Functions);
    }
    if f.is_clustering_key {
        add(Feature::ClusteringKey);
    }
    const ANALYZER_KEYS: [&str; 4] = [
        "enable_analyzer",
        "analyzer_params",
        "enable_match",
        "multi_analyzer_params",
    ];
    if f.type_params
        .iter()
        .any(|p| ANALYZER_KEYS.contains(&p.key.as_str()))
    {
        add(Feature::Analyzers);
    }
    for t in [f.data_type, f.element_type] {
        if data_type_since(t) > MilvusVersion::new(2, 2, 0) {
            add(Feature::DataType(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::milvus::meta::{
        CollectionSchema, FunctionSchema, KeyValuePair, PartitionBackupInfo, SegmentBackupInfo,
    };

    fn v(s: &str) -> MilvusVersion {
        MilvusVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_parse_as_servers_write_them() {
        assert_eq!(v("v2.3.5-lite"), MilvusVersion::new(2, 3, 5));
        assert_eq!(v("2.6.11"), MilvusVersion::new(2, 6, 11));
        assert_eq!(v("v2.4.23-dev+abc"), MilvusVersion::new(2, 4, 23));
        assert_eq!(v("v2.5"), MilvusVersion::new(2, 5, 0));
        assert_eq!(MilvusVersion::parse("master-20240101"), None);
        assert_eq!(MilvusVersion::parse(""), None);
        assert_eq!(MilvusVersion::parse("v2"), None);
        assert!(v("2.6.8") > v("2.6.7"));
        assert!(v("2.10.0") > v("2.9.9"));
    }

    #[test]
    fn the_table_refuses_unknown_lines_on_both_sides() {
        assert_eq!(check_create(v("2.3.5"), "a"), Ok(Support::Tested));
        assert_eq!(check_create(v("2.6.3"), "a"), Ok(Support::Reference));
        assert_eq!(check_create(v("2.2.16"), "a"), Ok(Support::Reference));
        for newer in ["2.7.0", "3.0.0", "2.1.4"] {
            let e = check_create(v(newer), "host:19530").unwrap_err();
            assert!(e.0.contains(newer) && e.0.contains("host:19530"), "{e}");
        }
        let info = BackupInfo::default();
        for refused in ["2.2.16", "2.7.0", "3.0.0"] {
            let e = check_restore(&info, &[], v(refused), "t", RestoreGate::default()).unwrap_err();
            assert!(e.0.contains(refused), "{e}");
        }
        assert_eq!(
            check_restore(&info, &[], v("2.3.5"), "t", RestoreGate::default()),
            Ok(Support::Tested)
        );
    }

    #[test]
    fn a_backup_from_a_newer_milvus_needs_the_override() {
        let info = BackupInfo {
            name: "b".into(),
            milvus_version: "v2.6.3".into(),
            ..Default::default()
        };
        let e = check_restore(&info, &[], v("2.5.4"), "t", RestoreGate::default()).unwrap_err();
        assert!(
            e.0.contains("2.6.3") && e.0.contains("2.5.4") && e.0.contains("--allow-downgrade"),
            "{e}"
        );
        let gate = RestoreGate {
            allow_downgrade: true,
        };
        assert!(check_restore(&info, &[], v("2.5.4"), "t", gate).is_ok());
        assert!(check_restore(&info, &[], v("2.6.3"), "t", RestoreGate::default()).is_ok());
    }

    fn seg(partition_id: i64, is_l0: bool, storage_version: i64) -> SegmentBackupInfo {
        SegmentBackupInfo {
            segment_id: 7,
            partition_id,
            is_l0,
            storage_version,
            ..Default::default()
        }
    }

    fn coll(segs: Vec<SegmentBackupInfo>, l0: Vec<SegmentBackupInfo>) -> CollectionBackupInfo {
        CollectionBackupInfo {
            collection_name: "c".into(),
            partition_backups: vec![PartitionBackupInfo {
                partition_id: 1,
                segment_backups: segs,
                ..Default::default()
            }],
            l0_segments: l0,
            ..Default::default()
        }
    }

    /// Each of the things the issue lists is refused on 2.3 even with --allow-downgrade, and accepted where
    /// the table says it can be restored.
    #[test]
    fn what_the_target_cannot_import_is_refused_even_with_the_override() {
        let gate = RestoreGate {
            allow_downgrade: true,
        };
        let info = BackupInfo {
            name: "b".into(),
            ..Default::default()
        };
        let field = |f: FieldSchema| {
            let mut c = coll(vec![], vec![]);
            c.schema = Some(CollectionSchema {
                fields: vec![f],
                ..Default::default()
            });
            c
        };
        let cases: Vec<(CollectionBackupInfo, &str, &str)> = vec![
            (coll(vec![seg(1, true, 0)], vec![]), "L0", "2.4.0"),
            (coll(vec![], vec![seg(-1, true, 0)]), "L0", "2.4.0"),
            (
                coll(vec![seg(1, false, 2)], vec![]),
                "storage format v2",
                "2.6.0",
            ),
            (
                field(FieldSchema {
                    nullable: true,
                    ..Default::default()
                }),
                "nullable",
                "2.5.0",
            ),
            (
                field(FieldSchema {
                    is_clustering_key: true,
                    ..Default::default()
                }),
                "clustering key",
                "2.4.0",
            ),
            (
                field(FieldSchema {
                    data_type: DataType::SPARSE_FLOAT_VECTOR,
                    ..Default::default()
                }),
                "data type 104",
                "2.4.0",
            ),
            (
                field(FieldSchema {
                    type_params: vec![KeyValuePair {
                        key: "enable_analyzer".into(),
                        value: "true".into(),
                    }],
                    ..Default::default()
                }),
                "analyzer",
                "2.5.0",
            ),
            (
                {
                    let mut c = coll(vec![], vec![]);
                    c.schema = Some(CollectionSchema {
                        functions: vec![FunctionSchema {
                            name: "bm25".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    });
                    c
                },
                "functions",
                "2.5.0",
            ),
            (
                {
                    let mut c = coll(vec![], vec![]);
                    c.schema = Some(CollectionSchema {
                        struct_array_fields: vec![Default::default()],
                        ..Default::default()
                    });
                    c
                },
                "struct array",
                "2.6.0",
            ),
        ];
        for (c, what, since) in cases {
            let e = check_restore(&info, &[&c], v("2.3.5"), "t", gate).unwrap_err();
            assert!(
                e.0.contains(what) && e.0.contains(since) && e.0.contains("Nothing was created"),
                "{what}: {e}"
            );
            assert!(
                check_restore(&info, &[&c], v("2.6.3"), "t", gate).is_ok(),
                "{what} on 2.6.3"
            );
        }
    }
}
