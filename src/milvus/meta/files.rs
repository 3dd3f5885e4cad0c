//! The meta file names, the level split and the read.

use std::collections::BTreeMap;

use super::*;

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
