//! Backup keys (pure string functions, Go `path.Join` semantics).

use super::*;

const BINLOG_PREFIX: &str = "binlogs";
const INSERT_LOG_PREFIX: &str = "insert_log";
const DELTA_LOG_PREFIX: &str = "delta_log";
/// Partition id of L0 segments that apply to every partition.
pub const ALL_PARTITION_ID: i64 = -1;

/// Go `path.Clean`: collapse slashes, drop `.`, resolve `..`, no trailing slash.
pub(super) fn go_clean(p: &str) -> String {
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
pub(super) fn go_join(elems: &[&str]) -> String {
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

/// Where Milvus itself keeps one segment's insert and delta logs: `{root}/insert_log/C/P/S/` and
/// `{root}/delta_log/C/P/S/` (`internal/storage/mpath`; P is -1 for L0 deletes of every partition).
pub fn source_segment_dirs(
    milvus_root: &str,
    collection_id: i64,
    partition_id: i64,
    segment_id: i64,
) -> (String, String) {
    let dir = |kind| {
        format!(
            "{}/",
            join_ids(
                &[milvus_root, kind],
                &[collection_id, partition_id, segment_id]
            )
        )
    };
    (dir(INSERT_LOG_PREFIX), dir(DELTA_LOG_PREFIX))
}

/// A collection's binlog folders in a backup, relative to the backup dir: `binlogs/insert_log/C/` and
/// `binlogs/delta_log/C/` (what a restore stages).
pub fn collection_binlog_dirs(collection_id: i64) -> [String; 2] {
    [INSERT_LOG_PREFIX, DELTA_LOG_PREFIX]
        .map(|kind| format!("{}/", join_ids(&[BINLOG_PREFIX, kind], &[collection_id])))
}
