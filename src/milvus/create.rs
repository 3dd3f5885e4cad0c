//! `mbx create`: flush, find each segment's binlogs in Milvus's storage, copy them into the backup layout
//! through the transfer engine (hashed as they go), then write the meta files, `full_meta.json` last.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::client::{MilvusClient, check};
use super::gc::{self, GcPause};
use super::meta::{self, BackupInfo, CollectionBackupInfo, PartitionBackupInfo, SegmentBackupInfo};
use super::proto::milvus as pb;
use super::{BackupSite, MilvusError, compat, rbac, schema, storage_err};
use crate::transfer::{self, Events, Reporter, SourceObject, Stage, TransferOptions, list_tree};

/// What to back up.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Backup name (validated as milvus-backup does); a default name when `None`.
    pub name: Option<String>,
    /// The database of `collections` (`default`).
    pub database: String,
    /// Collections to back up; every collection of the database when empty (and no `filter`).
    pub collections: Vec<String>,
    /// milvus-backup's `--filter`: `db.coll`, `db.*` (a whole database), `coll` (in `database`), `*.*` (every
    /// database); used instead of `collections`.
    pub filter: Vec<String>,
    /// What to flush and copy.
    pub strategy: Strategy,
    /// Pause Milvus's garbage collection while copying (also needs the remote's `pause_gc`, default true).
    pub pause_gc: bool,
    /// Back up users, roles, grants and privilege groups too (Milvus 2.4+).
    pub rbac: bool,
    /// How long to wait for Milvus to flush.
    pub flush_timeout: Duration,
    /// Copy tuning.
    pub transfer: TransferOptions,
}

/// milvus-backup's `--strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Flush each collection, then copy what is persisted (milvus-backup's `serial_flush`, and its `auto` below
    /// Milvus 2.6.11).
    #[default]
    SerialFlush,
    /// No flush: only what Milvus has already persisted (for busy clusters; recent rows may be missing).
    SkipFlush,
    /// Schemas, partitions and indexes only: no data.
    MetaOnly,
}

impl std::str::FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Strategy, String> {
        match s {
            "auto" | "serial_flush" => Ok(Strategy::SerialFlush),
            "skip_flush" => Ok(Strategy::SkipFlush),
            "meta_only" => Ok(Strategy::MetaOnly),
            "bulk_flush" => Err(
                "bulk_flush (one FlushAll, Milvus 2.6.11+) is not implemented; serial_flush backs up the same data"
                    .into(),
            ),
            other => Err(format!(
                "unknown strategy '{other}': use auto, serial_flush, skip_flush or meta_only"
            )),
        }
    }
}

/// What a backup holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreateSummary {
    /// The backup's name.
    pub name: String,
    /// Where it is (`remote:dir`).
    pub location: String,
    /// Collections backed up.
    pub collections: usize,
    /// Segments backed up.
    pub segments: usize,
    /// Objects in the backup (binlogs and meta).
    pub objects: u64,
    /// Bytes of binlogs.
    pub bytes: u64,
    /// Binlogs copied in this run (fewer than all when resuming).
    pub copied: u64,
    /// Of those, the binlogs an earlier backup beside this one already held (same key, size and source
    /// version), copied from it on the backup store's side instead of read from Milvus's storage.
    pub found: u64,
    /// Their bytes.
    pub found_bytes: u64,
    /// Seconds.
    pub seconds: f64,
}

/// Creates backup `options.name` of the collections on `site`'s Milvus, in `site`'s backup root.
pub async fn create_backup(
    site: &BackupSite,
    options: CreateOptions,
    reporter: Arc<dyn Reporter>,
    cancel: CancellationToken,
) -> Result<CreateSummary, MilvusError> {
    let started = Instant::now();
    let progress = Events::new(reporter);
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| meta::default_backup_name(SystemTime::now()));
    meta::validate_backup_name(&name)?;
    let dir = site.backup_dir(&name);
    if backup_exists(site, &dir).await? {
        return Err(MilvusError::BadInput(format!(
            "backup '{name}' already exists at {}:{dir}; choose another --name or `mbx delete` it first",
            site.backups.name()
        )));
    }
    let client = MilvusClient::connect(&site.milvus, &options.database).await?;
    let version = client.version().await?;
    let refused = |r: compat::Refusal| MilvusError::BadInput(r.0);
    compat::check_create(
        compat::server_version(&version, client.address()).map_err(refused)?,
        client.address(),
    )
    .map_err(refused)?;
    let server = compat::server_version(&version, client.address()).map_err(refused)?;
    if options.rbac {
        rbac::check(server, client.address(), "create")?;
    }
    let namespaces = resolve_namespaces(site, &client, &options).await?;
    let described = describe_collections(site, &namespaces).await?;
    let gc = if options.pause_gc {
        let ids: Vec<i64> = if gc::per_collection(server) {
            described.values().map(|d| d.collection_id).collect()
        } else {
            Vec::new()
        };
        GcPause::start(&site.milvus, server, &ids, &progress).await
    } else {
        GcPause::off()
    };
    let job = Job {
        site,
        options: &options,
        name,
        dir,
        progress: &progress,
        cancel: &cancel,
        started,
        server,
        described,
    };
    // The pause ends however the backup does: done, failed or interrupted.
    let result = back_up(&job, version, &namespaces).await;
    gc.resume(&progress).await;
    result
}

/// One `mbx create` under way.
struct Job<'a> {
    site: &'a BackupSite,
    options: &'a CreateOptions,
    name: String,
    dir: String,
    progress: &'a Events,
    cancel: &'a CancellationToken,
    started: Instant,
    server: compat::MilvusVersion,
    /// Each collection's description (database, collection), taken once: its id for a per-collection GC
    /// pause, and its schema and properties for the backup.
    described: BTreeMap<(String, String), pb::DescribeCollectionResponse>,
}

/// The description of each collection to back up (DescribeCollection), by database and collection.
async fn describe_collections(
    site: &BackupSite,
    namespaces: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<(String, String), pb::DescribeCollectionResponse>, MilvusError> {
    let mut described = BTreeMap::new();
    for (db, colls) in namespaces {
        let client = MilvusClient::connect(&site.milvus, db).await?;
        for coll in colls {
            let d = client
                .describe_collection(pb::DescribeCollectionRequest {
                    collection_name: coll.clone(),
                    ..Default::default()
                })
                .await?;
            check(d.status.as_ref(), "DescribeCollection").map_err(|e| {
                MilvusError::BadInput(format!("collection '{coll}' in database '{db}': {e}"))
            })?;
            described.insert((db.clone(), coll.clone()), d);
        }
    }
    Ok(described)
}

/// Each database's id and properties (DescribeDatabase, Milvus 2.4.3+), as milvus-backup records them in
/// `database_backups`.
async fn describe_databases(
    site: &BackupSite,
    dbs: impl Iterator<Item = &String>,
) -> Result<Vec<meta::DatabaseBackupInfo>, MilvusError> {
    let client = MilvusClient::connect(&site.milvus, "default").await?;
    let mut out = Vec::new();
    for db in dbs {
        let d = client
            .describe_database(pb::DescribeDatabaseRequest {
                db_name: db.clone(),
                ..Default::default()
            })
            .await?;
        out.push(meta::DatabaseBackupInfo {
            db_name: db.clone(),
            db_id: d.db_id,
            properties: schema::kv_to_meta(&d.properties),
            ..Default::default()
        });
    }
    Ok(out)
}

/// Flush, list, copy, check, then write the manifest and the meta files, `full_meta.json` last.
async fn back_up(
    job: &Job<'_>,
    version: String,
    namespaces: &BTreeMap<String, Vec<String>>,
) -> Result<CreateSummary, MilvusError> {
    let (site, options, progress, cancel) = (job.site, job.options, job.progress, job.cancel);
    let (name, dir) = (job.name.clone(), job.dir.clone());
    let mut info = BackupInfo {
        id: backup_id(&name),
        name: name.clone(),
        milvus_version: version,
        ..Default::default()
    };
    let mut objects = Vec::new();
    for (db, colls) in namespaces {
        let client = MilvusClient::connect(&site.milvus, db).await?;
        for coll in colls {
            progress.note(&format!("collection {db}.{coll}: describe, flush"));
            let d = job
                .described
                .get(&(db.clone(), coll.clone()))
                .cloned()
                .ok_or_else(|| {
                    MilvusError::BadInput(format!(
                        "collection '{coll}' in database '{db}' was not described"
                    ))
                })?;
            let (c, segs) =
                describe_and_flush(&client, site, (db, coll, d), options, &dir, &info.id).await?;
            objects.extend(segs);
            info.collection_backups.push(c);
        }
    }
    if options.rbac {
        let client = MilvusClient::connect(&site.milvus, "default").await?;
        info.rbac_meta = Some(rbac::read(&client).await?);
    }
    if job.server >= compat::DATABASE_PROPERTIES_SINCE {
        info.database_backups = describe_databases(site, namespaces.keys()).await?;
    }
    info.size = info.collection_backups.iter().map(|c| c.size).sum();
    let segments: usize = info
        .collection_backups
        .iter()
        .flat_map(|c| &c.partition_backups)
        .map(|p| p.segment_backups.len())
        .sum::<usize>()
        + info
            .collection_backups
            .iter()
            .map(|c| c.l0_segments.len())
            .sum::<usize>();
    let bytes: u64 = objects.iter().map(|o: &SourceObject| o.size).sum();
    progress.note(&format!(
        "copying {} binlogs ({:.1} MiB) of {segments} segments",
        objects.len(),
        bytes as f64 / 1048576.0
    ));

    let milvus_root = site.milvus.root_path.trim_matches('/');
    progress.stage(Stage::Copying);
    let (summary, manifest) = transfer::copy_objects(
        (&site.storage, &format!("{milvus_root}/")),
        (&site.backups, &dir),
        objects,
        &options.transfer,
        progress,
        cancel.clone(),
    )
    .await?;
    if summary.interrupted {
        return Err(MilvusError::Interrupted);
    }
    let Some(mut manifest) = manifest else {
        let first = summary
            .failed
            .first()
            .map(|f| format!("{}: {}", f.key, f.reason))
            .unwrap_or_default();
        return Err(MilvusError::Data(format!(
            "{} binlogs could not be copied (first: {first}); run the same command again to resume",
            summary.failed.len()
        )));
    };
    check_landed(site, &dir, &manifest).await?;

    // The manifest lists the meta files too, so a transfer can verify the whole backup; it is written before
    // them, and full_meta.json comes last: without it nothing looks like a finished backup.
    let files = meta::build_meta_files(&info)?;
    for (file, body) in files.in_write_order() {
        manifest.objects.push(transfer::ManifestEntry {
            key: format!("{}/{file}", meta::META_DIR),
            size: body.len() as u64,
            blake3: blake3::hash(body).to_hex().to_string(),
            src_etag: None,
            src_mtime: None,
        });
    }
    let manifest =
        transfer::Manifest::new(format!("milvus {}", site.milvus.address), manifest.objects);
    transfer::write_manifest(&site.backups, &dir, &manifest).await?;
    for (file, body) in files.in_write_order() {
        let key = meta::meta_key(&dir, file);
        site.backups
            .op()
            .write(&key, body.to_vec())
            .await
            .map_err(|e| storage_err(&site.backups, &format!("writing {key}"), e))?;
    }
    Ok(CreateSummary {
        name,
        location: format!("{}:{dir}", site.backups.name()),
        collections: info.collection_backups.len(),
        segments,
        objects: manifest.objects.len() as u64,
        bytes,
        copied: summary.copied,
        found: summary.found,
        found_bytes: summary.found_bytes,
        seconds: job.started.elapsed().as_secs_f64(),
    })
}

/// A finished backup has `full_meta.json` (written last); a backup without mbx's manifest but with
/// `backup_meta.json` is another tool's (old milvus-backup releases wrote no full_meta) and is never touched.
/// Anything else under the name is an interrupted `mbx create`, which a re-run resumes.
async fn backup_exists(site: &BackupSite, dir: &str) -> Result<bool, MilvusError> {
    let exists = |key: String| async move {
        site.backups
            .op()
            .exists(&key)
            .await
            .map_err(|e| storage_err(&site.backups, &format!("checking {key}"), e))
    };
    if site.holds_finished(dir).await? {
        return Ok(true);
    }
    let ours = exists(format!("{dir}{}", transfer::MANIFEST_KEY)).await?;
    Ok(!ours && exists(meta::meta_key(dir, meta::BACKUP_META_FILE)).await?)
}

/// The collections to back up, by database, from `--filter` or `-d`/`-c` (milvus-backup's rules: `db.*` is
/// every collection of `db`, `db.c` one, `c` one in `--database`, `*.*` every database).
async fn resolve_namespaces(
    site: &BackupSite,
    client: &MilvusClient,
    options: &CreateOptions,
) -> Result<BTreeMap<String, Vec<String>>, MilvusError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let all_of = |db: String| async move {
        let c = MilvusClient::connect(&site.milvus, &db).await?;
        show_collections(&c).await.map(|names| (db, names))
    };
    if options.filter.is_empty() {
        let names = if options.collections.is_empty() {
            show_collections(client).await?
        } else {
            options.collections.clone()
        };
        out.insert(options.database.clone(), names);
    } else if !options.collections.is_empty() {
        return Err(MilvusError::BadInput(
            "--filter and --collection cannot be used together".into(),
        ));
    } else {
        for f in &options.filter {
            let bad = |why: &str| MilvusError::BadInput(format!("--filter '{f}': {why}"));
            match f.split_once('.') {
                Some(("*", "*")) | None if f == "*" || f == "*.*" => {
                    let dbs = client
                        .list_databases(pb::ListDatabasesRequest::default())
                        .await?;
                    for db in dbs.db_names {
                        let (db, names) = all_of(db).await?;
                        out.entry(db).or_default().extend(names);
                    }
                }
                Some((db, "*")) if !db.is_empty() => {
                    let (db, names) = all_of(db.to_string()).await?;
                    out.entry(db).or_default().extend(names);
                }
                Some((_, "")) => {
                    return Err(bad(
                        "a database without collections ('db.') is not backed up by mbx; use 'db.*'",
                    ));
                }
                Some((db, coll)) if !db.is_empty() && !coll.contains('*') => {
                    out.entry(db.to_string())
                        .or_default()
                        .push(coll.to_string());
                }
                None if !f.is_empty() && !f.contains('*') => {
                    out.entry(options.database.clone())
                        .or_default()
                        .push(f.clone());
                }
                _ => return Err(bad("use db.coll, db.*, coll or *.*")),
            }
        }
    }
    for names in out.values_mut() {
        names.sort();
        names.dedup();
    }
    out.retain(|_, names| !names.is_empty());
    if out.is_empty() {
        return Err(MilvusError::BadInput(format!(
            "no collections to back up (database '{}'{})",
            options.database,
            if options.filter.is_empty() {
                String::new()
            } else {
                format!(", --filter {}", options.filter.join(","))
            }
        )));
    }
    Ok(out)
}

fn backup_id(name: &str) -> String {
    let h = blake3::hash(format!("{name}{:?}", SystemTime::now()).as_bytes()).to_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

async fn show_collections(client: &MilvusClient) -> Result<Vec<String>, MilvusError> {
    Ok(client
        .show_collections(pb::ShowCollectionsRequest::default())
        .await?
        .collection_names)
}

/// From a collection's description `d` (see [`describe_collections`]): its indexes, load state and
/// partitions, a flush, and its segments' binlogs; the collection's meta, and the objects to copy.
async fn describe_and_flush(
    client: &MilvusClient,
    site: &BackupSite,
    (db, coll, d): (&str, &str, pb::DescribeCollectionResponse),
    options: &CreateOptions,
    dir: &str,
    id: &str,
) -> Result<(CollectionBackupInfo, Vec<SourceObject>), MilvusError> {
    let schema = d.schema.as_ref().map(schema::to_meta);
    let indexes = describe_indexes(client, coll).await?;
    let load_state = load_state(client, coll).await?;
    let parts = client
        .show_partitions(pb::ShowPartitionsRequest {
            collection_name: coll.into(),
            ..Default::default()
        })
        .await?;
    if parts.partition_names.len() != parts.partition_i_ds.len() {
        return Err(MilvusError::Data(format!(
            "ShowPartitions of '{coll}' returned names and ids of different lengths"
        )));
    }
    let seal_time = match options.strategy {
        Strategy::SerialFlush => flush(client, coll, options.flush_timeout).await?,
        Strategy::SkipFlush | Strategy::MetaOnly => SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let segs = client
        .get_persistent_segment_info(pb::GetPersistentSegmentInfoRequest {
            collection_name: coll.into(),
            ..Default::default()
        })
        .await?;
    const FLUSHED: i32 = super::proto::common::SegmentState::Flushed as i32;
    let mut partitions: BTreeMap<i64, PartitionBackupInfo> = parts
        .partition_i_ds
        .iter()
        .zip(&parts.partition_names)
        .map(|(pid, pname)| {
            (
                *pid,
                PartitionBackupInfo {
                    partition_id: *pid,
                    partition_name: pname.clone(),
                    collection_id: d.collection_id,
                    load_state: load_state.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut objects = Vec::new();
    let mut l0_segments = Vec::new();
    let data = options.strategy != Strategy::MetaOnly;
    for s in segs.infos.iter().filter(|s| data && s.state == FLUSHED) {
        let Some((seg, objs)) = segment_binlogs(site, dir, s).await? else {
            continue;
        };
        objects.extend(objs);
        // Deletes that apply to every partition (Milvus 2.4+) live beside the partitions, as milvus-backup
        // records them: in the collection's l0_segments, written to full_meta.json only.
        if seg.partition_id == meta::ALL_PARTITION_ID {
            l0_segments.push(seg);
            continue;
        }
        match partitions.get_mut(&s.partition_id) {
            Some(p) => {
                p.size += seg.size;
                p.segment_backups.push(seg);
            }
            None => {
                return Err(MilvusError::Data(format!(
                    "segment {} of '{coll}' belongs to partition {}, which ShowPartitions does not list",
                    s.segment_id, s.partition_id
                )));
            }
        }
    }
    let partition_backups: Vec<PartitionBackupInfo> = partitions.into_values().collect();
    let info = CollectionBackupInfo {
        id: id.to_string(),
        collection_id: d.collection_id,
        db_name: db.to_string(),
        collection_name: coll.to_string(),
        schema,
        shards_num: d.shards_num,
        consistency_level: meta::ConsistencyLevel(d.consistency_level),
        size: partition_backups.iter().map(|p| p.size).sum::<i64>()
            + l0_segments.iter().map(|s| s.size).sum::<i64>(),
        partition_backups,
        l0_segments,
        has_index: !indexes.is_empty(),
        index_infos: indexes,
        load_state,
        backup_physical_timestamp: u64::try_from(seal_time).unwrap_or(0),
        created_timestamp: d.created_timestamp,
        virtual_channel_names: d.virtual_channel_names,
        physical_channel_names: d.physical_channel_names,
        aliases: d.aliases,
        // A collection's TTL and other settings: a 2.3 schema has no properties of its own.
        properties: schema::kv_to_meta(&d.properties),
        ..Default::default()
    };
    Ok((info, objects))
}

async fn describe_indexes(
    client: &MilvusClient,
    coll: &str,
) -> Result<Vec<meta::IndexInfo>, MilvusError> {
    let r = client
        .describe_index(pb::DescribeIndexRequest {
            collection_name: coll.into(),
            ..Default::default()
        })
        .await?;
    // IndexNotExist (25) or an "index not found" reason: the collection simply has no index.
    #[allow(deprecated)]
    if let Some(s) = &r.status
        && (s.error_code == 25
            || s.reason.contains("index not found")
            || s.reason.contains("not exist"))
    {
        return Ok(Vec::new());
    }
    check(r.status.as_ref(), "DescribeIndex")?;
    Ok(r.index_descriptions
        .iter()
        .map(|i| {
            let params: BTreeMap<String, String> = i
                .params
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect();
            meta::IndexInfo {
                field_name: i.field_name.clone(),
                index_name: i.index_name.clone(),
                index_type: params.get("index_type").cloned().unwrap_or_default(),
                params,
                index_id: i.index_id,
                ..Default::default()
            }
        })
        .collect())
}

async fn load_state(client: &MilvusClient, coll: &str) -> Result<String, MilvusError> {
    let r = client
        .get_loading_progress(pb::GetLoadingProgressRequest {
            collection_name: coll.into(),
            ..Default::default()
        })
        .await?;
    // A collection that is not loaded answers with an error status: that is "NotLoad", not a failure.
    if check(r.status.as_ref(), "GetLoadingProgress").is_err() {
        return Ok("NotLoad".into());
    }
    Ok(match r.progress {
        0 => "NotLoad",
        100 => "Loaded",
        _ => "Loading",
    }
    .into())
}

/// Flushes one collection and waits (bounded) until its segments are persisted; returns the seal time.
async fn flush(client: &MilvusClient, coll: &str, timeout: Duration) -> Result<i64, MilvusError> {
    let r = client
        .flush(pb::FlushRequest {
            collection_names: vec![coll.into()],
            ..Default::default()
        })
        .await?;
    let segment_i_ds = r
        .coll_seg_i_ds
        .get(coll)
        .map(|a| a.data.clone())
        .unwrap_or_default();
    let flush_ts = r.coll_flush_ts.get(coll).copied().unwrap_or(0);
    let deadline = Instant::now() + timeout;
    loop {
        let req = pb::GetFlushStateRequest {
            segment_i_ds: segment_i_ds.clone(),
            flush_ts,
            collection_name: coll.into(),
            ..Default::default()
        };
        let s = client.get_flush_state(req).await?;
        if s.flushed {
            return Ok(r.coll_seal_times.get(coll).copied().unwrap_or(0));
        }
        if Instant::now() > deadline {
            return Err(MilvusError::Data(format!(
                "collection '{coll}' was not flushed within {}s; is Milvus healthy? (raise --flush-timeout)",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Lists one segment's insert and delta logs in Milvus's storage and builds its meta and copy list; `None` for
/// an L0 segment with no delta logs (nothing to restore).
async fn segment_binlogs(
    site: &BackupSite,
    dir: &str,
    s: &pb::PersistentSegmentInfo,
) -> Result<Option<(SegmentBackupInfo, Vec<SourceObject>)>, MilvusError> {
    let root = site.milvus.root_path.trim_matches('/');
    let source = SegmentSource::new(root, s);
    let inserts = list_tree(&site.storage, &source.insert_dir).await?;
    let deltas = list_tree(&site.storage, &source.delta_dir).await?;
    segment_backup(dir, &source, s, &inserts, &deltas)
}

/// Where Milvus keeps one segment's binlogs (`{root}/insert_log/C/P/S/`, `{root}/delta_log/C/P/S/`; P is -1
/// for L0 deletes of every partition), and what kind of segment it is.
struct SegmentSource {
    root: String,
    insert_dir: String,
    delta_dir: String,
    /// Milvus 2.4+ reports delete-only segments with `level = L0`.
    is_l0: bool,
}

impl SegmentSource {
    fn new(root: &str, s: &pb::PersistentSegmentInfo) -> SegmentSource {
        let (insert_dir, delta_dir) =
            meta::source_segment_dirs(root, s.collection_id, s.partition_id, s.segment_id);
        SegmentSource {
            root: root.to_string(),
            insert_dir,
            delta_dir,
            is_l0: s.level == super::proto::common::SegmentLevel::L0 as i32
                || s.partition_id == meta::ALL_PARTITION_ID,
        }
    }
}

/// The meta of one segment and the copies that put its binlogs in milvus-backup's layout, from the listing of
/// its folders (milvus-backup `core/backup/coll_dml_task.go`): inserts to `insert_log/C/P/S/S/F/L`, deletes to
/// `delta_log/C/P/S/S/L`, and all-partition L0 deletes to `delta_log/C/-1/S/L` (no group folder). Storage v2
/// segments keep column-group folders where v1 has field folders; the layout is the same.
fn segment_backup(
    dir: &str,
    source: &SegmentSource,
    s: &pb::PersistentSegmentInfo,
    inserts: &[SourceObject],
    deltas: &[SourceObject],
) -> Result<Option<(SegmentBackupInfo, Vec<SourceObject>)>, MilvusError> {
    let root = &source.root;
    let (c, p, sid) = (s.collection_id, s.partition_id, s.segment_id);
    let mut seg = SegmentBackupInfo {
        segment_id: sid,
        collection_id: c,
        partition_id: p,
        num_of_rows: s.num_rows,
        group_id: if p == meta::ALL_PARTITION_ID { 0 } else { sid },
        is_l0: source.is_l0,
        storage_version: s.storage_version,
        ..Default::default()
    };
    let parse = |rel: &str| rel.parse::<i64>().ok();
    let mut by_field: BTreeMap<i64, Vec<meta::Binlog>> = BTreeMap::new();
    let mut objects = Vec::new();
    for o in inserts.iter().filter(|o| !o.is_dir) {
        let (Some(field), Some(log)) = o
            .rel
            .split_once('/')
            .map(|(f, l)| (parse(f), parse(l)))
            .unwrap_or((None, None))
        else {
            return Err(MilvusError::Data(format!(
                "unexpected key {}: insert logs are {root}/insert_log/C/P/S/FIELD/LOG (is root_path '{root}' right?)",
                o.key
            )));
        };
        by_field.entry(field).or_default().push(meta::Binlog {
            log_path: o.key.clone(),
            log_size: o.size as i64,
            log_id: log,
            ..Default::default()
        });
        let key = meta::insert_log_key(dir, &seg, field, log);
        objects.push(relative(o, dir, &key));
    }
    let counts: BTreeMap<i64, usize> = by_field.iter().map(|(f, v)| (*f, v.len())).collect();
    // Storage v1 writes one file per field per flush; v2's column groups need not line up.
    if s.storage_version < 2
        && counts
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1
    {
        return Err(MilvusError::Data(format!(
            "segment {sid}: fields have different numbers of binlogs {counts:?} (orphan files from a DataNode retry?); refusing an inconsistent backup"
        )));
    }
    if by_field.is_empty() && s.num_rows > 0 && !source.is_l0 {
        return Err(MilvusError::Data(format!(
            "segment {sid} has no insert logs under {}: is root_path '{root}' Milvus's rootPath?",
            source.insert_dir
        )));
    }
    let mut delta_logs = Vec::new();
    for o in deltas.iter().filter(|o| !o.is_dir) {
        let Some(log) = parse(&o.rel) else {
            return Err(MilvusError::Data(format!(
                "unexpected key {} among delta logs",
                o.key
            )));
        };
        delta_logs.push(meta::Binlog {
            log_path: o.key.clone(),
            log_size: o.size as i64,
            log_id: log,
            ..Default::default()
        });
        let key = meta::delta_log_key(dir, &seg, log);
        objects.push(relative(o, dir, &key));
    }
    if source.is_l0 && delta_logs.is_empty() {
        return Ok(None);
    }
    seg.binlogs = by_field
        .into_iter()
        .map(|(field_id, binlogs)| meta::FieldBinlog { field_id, binlogs })
        .collect();
    if !delta_logs.is_empty() {
        seg.deltalogs = vec![meta::FieldBinlog {
            field_id: 0,
            binlogs: delta_logs,
        }];
    }
    seg.size = objects.iter().map(|o| o.size as i64).sum();
    Ok(Some((seg, objects)))
}

/// The copy of source object `o` that lands at backup key `key` (which starts with `dir`).
fn relative(o: &SourceObject, dir: &str, key: &str) -> SourceObject {
    SourceObject {
        rel: key.strip_prefix(dir).unwrap_or(key).to_string(),
        ..o.clone()
    }
}

/// Every binlog the manifest lists is in the backup with its size (as milvus-backup checks), before any
/// meta is written.
async fn check_landed(
    site: &BackupSite,
    dir: &str,
    manifest: &transfer::Manifest,
) -> Result<(), MilvusError> {
    let landed: BTreeMap<String, u64> = list_tree(&site.backups, dir)
        .await?
        .into_iter()
        .map(|o| (o.rel, o.size))
        .collect();
    for e in &manifest.objects {
        match landed.get(&e.key) {
            Some(size) if *size == e.size => {}
            other => {
                return Err(MilvusError::Data(format!(
                    "{}:{dir}{} should hold {} bytes but has {other:?}",
                    site.backups.name(),
                    e.key,
                    e.size
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Golden tests of the meta mbx writes for what Milvus 2.4-2.6 store (no such server runs here): each
    //! follows milvus-backup `core/backup/coll_dml_task.go` (`getSegments`, `insertLogsAttrs`, `deltaLogAttrs`)
    //! and `meta_builder.go`.
    use super::*;
    use crate::milvus::proto::common::SegmentLevel;

    fn listed(root_dir: &str, rel: &str, size: u64) -> SourceObject {
        SourceObject {
            rel: rel.into(),
            key: format!("{root_dir}{rel}"),
            size,
            ..Default::default()
        }
    }

    fn info(
        partition: i64,
        level: SegmentLevel,
        rows: i64,
        storage: i64,
    ) -> pb::PersistentSegmentInfo {
        pb::PersistentSegmentInfo {
            segment_id: 9,
            collection_id: 1,
            partition_id: partition,
            num_rows: rows,
            state: super::super::proto::common::SegmentState::Flushed as i32,
            level: level as i32,
            storage_version: storage,
            ..Default::default()
        }
    }

    fn build(
        s: &pb::PersistentSegmentInfo,
        inserts: &[(&str, u64)],
        deltas: &[(&str, u64)],
    ) -> Option<(String, Vec<String>)> {
        let source = SegmentSource::new("files", s);
        let ins: Vec<_> = inserts
            .iter()
            .map(|(r, n)| listed(&source.insert_dir, r, *n))
            .collect();
        let del: Vec<_> = deltas
            .iter()
            .map(|(r, n)| listed(&source.delta_dir, r, *n))
            .collect();
        let (seg, objects) = segment_backup("backup/b/", &source, s, &ins, &del).unwrap()?;
        let json = String::from_utf8(meta::to_go_json(&seg).unwrap()).unwrap();
        Some((json, objects.into_iter().map(|o| o.rel).collect()))
    }

    #[test]
    fn a_partition_level_l0_segment_is_recorded_as_milvus_backup_does() {
        let (json, keys) = build(&info(5, SegmentLevel::L0, 0, 0), &[], &[("77", 10)]).unwrap();
        assert_eq!(
            json,
            r#"{"segment_id":9,"collection_id":1,"partition_id":5,"deltalogs":[{"binlogs":[{"log_path":"files/delta_log/1/5/9/77","log_size":10,"log_id":77}]}],"size":10,"group_id":9,"is_l0":true}"#
        );
        assert_eq!(keys, ["binlogs/delta_log/1/5/9/9/77"]);
    }

    #[test]
    fn an_all_partition_l0_segment_has_no_group_folder() {
        let (json, keys) = build(&info(-1, SegmentLevel::L0, 0, 0), &[], &[("78", 4)]).unwrap();
        assert_eq!(
            json,
            r#"{"segment_id":9,"collection_id":1,"partition_id":-1,"deltalogs":[{"binlogs":[{"log_path":"files/delta_log/1/-1/9/78","log_size":4,"log_id":78}]}],"size":4,"is_l0":true}"#
        );
        assert_eq!(keys, ["binlogs/delta_log/1/-1/9/78"]);
    }

    #[test]
    fn an_l0_segment_without_deletes_is_left_out_and_an_empty_one_is_not_an_error() {
        assert!(build(&info(5, SegmentLevel::L0, 0, 0), &[], &[]).is_none());
        // A 2.3 segment with rows and no insert logs is still refused: root_path is wrong.
        let source = SegmentSource::new("files", &info(5, SegmentLevel::Legacy, 3, 0));
        let e = segment_backup(
            "backup/b/",
            &source,
            &info(5, SegmentLevel::Legacy, 3, 0),
            &[],
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("root_path"), "{e}");
    }

    #[test]
    fn storage_v2_segments_keep_their_column_groups_and_version() {
        let (json, keys) = build(
            &info(5, SegmentLevel::L1, 100, 2),
            &[("0/501", 30), ("0/502", 30), ("1/503", 50)],
            &[("601", 8)],
        )
        .unwrap();
        assert!(json.contains(r#""storage_version":2"#), "{json}");
        assert!(!json.contains("is_l0"), "{json}");
        assert_eq!(
            keys,
            [
                "binlogs/insert_log/1/5/9/9/0/501",
                "binlogs/insert_log/1/5/9/9/0/502",
                "binlogs/insert_log/1/5/9/9/1/503",
                "binlogs/delta_log/1/5/9/9/601",
            ]
        );
        // The same uneven listing in storage v1 means orphan files: refused.
        let s = info(5, SegmentLevel::L1, 100, 1);
        let source = SegmentSource::new("files", &s);
        let ins: Vec<_> = [("0/501", 30), ("0/502", 30), ("1/503", 50)]
            .iter()
            .map(|(r, n)| listed(&source.insert_dir, r, *n))
            .collect();
        assert!(segment_backup("backup/b/", &source, &s, &ins, &[]).is_err());
    }

    #[test]
    fn all_partition_deletes_are_in_full_meta_only() {
        let (seg, _) = segment_backup(
            "backup/b/",
            &SegmentSource::new("files", &info(-1, SegmentLevel::L0, 0, 0)),
            &info(-1, SegmentLevel::L0, 0, 0),
            &[],
            &[listed("files/delta_log/1/-1/9/", "78", 4)],
        )
        .unwrap()
        .unwrap();
        let backup = BackupInfo {
            name: "b".into(),
            collection_backups: vec![CollectionBackupInfo {
                collection_id: 1,
                partition_backups: vec![PartitionBackupInfo {
                    partition_id: 5,
                    collection_id: 1,
                    ..Default::default()
                }],
                l0_segments: vec![seg],
                ..Default::default()
            }],
            ..Default::default()
        };
        let files = meta::build_meta_files(&backup).unwrap();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        assert!(text(&files.full).contains(r#""l0_segments":[{"segment_id":9"#));
        for other in [&files.collection, &files.segment, &files.partition] {
            assert!(!text(other).contains("l0_segments") && !text(other).contains("-1/9/78"));
        }
    }
}
