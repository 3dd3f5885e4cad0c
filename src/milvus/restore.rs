//! `mbx restore`: read a backup's meta, check the backup against its manifest, create the collection with
//! the same schema and field ids, then import every segment with Milvus's backup-mode `Import`, staging the
//! binlogs into Milvus's own bucket first when the backup lives elsewhere. A local journal lets a re-run
//! skip what was already imported.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use tokio_util::sync::CancellationToken;

use super::client::{MilvusClient, check};
use super::meta::{self, BackupInfo, CollectionBackupInfo, ImportDirs};
use super::proto::common::KeyValuePair;
use super::proto::milvus as pb;
use super::{BackupSite, MilvusError, catalog, schema, storage_err};
use crate::transfer::{self, Progress, ProgressMode, SourceObject, TransferOptions, list_tree};

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The backup's name.
    pub name: String,
    /// Appended to every restored collection's name.
    pub suffix: Option<String>,
    /// `old:new` renames (applied instead of the suffix for those collections).
    pub renames: BTreeMap<String, String>,
    /// Only these collections (names in the backup); all when empty.
    pub collections: Vec<String>,
    /// Drop a target collection that already exists (otherwise that is an error).
    pub drop_exist: bool,
    /// Create the backed-up indexes (before the data, as milvus-backup does).
    pub rebuild_index: bool,
    /// Create collections and partitions only.
    pub meta_only: bool,
    /// Do not re-read the backup against its manifest first.
    pub skip_verify: bool,
    /// Keep the staged copy in Milvus's bucket.
    pub keep_temp: bool,
    /// Deadline for one import job.
    pub import_timeout: Duration,
    /// Copy tuning (staging and verification), and where journals live.
    pub transfer: TransferOptions,
}

/// What a restore did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreSummary {
    /// Per target collection: segments imported in this run, skipped (already imported), rows.
    pub collections: Vec<RestoredCollection>,
    /// Seconds.
    pub seconds: f64,
}

/// One restored collection.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoredCollection {
    /// Name in the backup.
    pub source: String,
    /// Name in Milvus.
    pub target: String,
    /// Import jobs run now.
    pub imported: usize,
    /// Import jobs a previous run finished.
    pub skipped: usize,
    /// Rows Milvus reported for the imports run now.
    pub rows: i64,
}

/// Restores backup `options.name` from `site` into `site`'s Milvus.
pub async fn restore_backup(
    site: &BackupSite,
    options: RestoreOptions,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<RestoreSummary, MilvusError> {
    let started = Instant::now();
    meta::validate_backup_name(&options.name)?;
    let dir = site.backup_dir(&options.name);
    let info = catalog::get_backup(&site.backups, &dir).await?;
    if !info.format.is_empty() && info.format != "binlog" {
        return Err(MilvusError::BadInput(format!(
            "backup '{}' has format '{}'; mbx restores binlog backups",
            options.name, info.format
        )));
    }
    let plan = plan_targets(&info, &options)?;
    if !options.skip_verify && !options.meta_only {
        verify_backup(site, &dir, &options, &progress, &cancel).await?;
    }
    let journal = RestoreJournal::open(
        &options.transfer.state_dir,
        &format!(
            "{}\n{dir}\n{}",
            site.backups.config().location(),
            site.milvus.address
        ),
    )
    .map_err(|e| {
        MilvusError::Data(format!(
            "restore journal in {}: {e}",
            options.transfer.state_dir.display()
        ))
    })?;
    let mut summary = RestoreSummary::default();
    for (coll, target) in plan {
        ensure_database(site, db_of(coll)).await?;
        let client = MilvusClient::connect(&site.milvus, db_of(coll)).await?;
        let done = restore_collection(
            site, &client, &dir, coll, &target, &options, &journal, &progress, &cancel,
        )
        .await
        .map_err(|e| {
            let context = format!("restoring '{}' into '{target}'", coll.collection_name);
            match e {
                MilvusError::Interrupted => e,
                e if e.is_bad_input() => MilvusError::BadInput(format!("{context}: {e}")),
                other => MilvusError::Data(format!("{context}: {other}")),
            }
        })?;
        summary.collections.push(done);
    }
    journal.finish();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn db_of(c: &CollectionBackupInfo) -> &str {
    if c.db_name.is_empty() {
        "default"
    } else {
        &c.db_name
    }
}

/// Which collections to restore, under which names.
fn plan_targets<'a>(
    info: &'a BackupInfo,
    options: &RestoreOptions,
) -> Result<Vec<(&'a CollectionBackupInfo, String)>, MilvusError> {
    if options.suffix.is_some() && !options.renames.is_empty() {
        return Err(MilvusError::BadInput(
            "--suffix and --rename cannot be used together (as in milvus-backup)".into(),
        ));
    }
    let names: HashSet<&str> = info
        .collection_backups
        .iter()
        .map(|c| c.collection_name.as_str())
        .collect();
    for wanted in options.collections.iter().chain(options.renames.keys()) {
        if !names.contains(wanted.as_str()) {
            let mut all: Vec<&str> = names.iter().copied().collect();
            all.sort_unstable();
            return Err(MilvusError::BadInput(format!(
                "collection '{wanted}' is not in backup '{}' (it has: {})",
                options.name,
                all.join(", ")
            )));
        }
    }
    Ok(info
        .collection_backups
        .iter()
        .filter(|c| {
            options.collections.is_empty() || options.collections.contains(&c.collection_name)
        })
        .map(|c| {
            let target = match (&options.suffix, options.renames.get(&c.collection_name)) {
                (_, Some(new)) => new.clone(),
                (Some(sfx), None) => format!("{}{sfx}", c.collection_name),
                (None, None) => c.collection_name.clone(),
            };
            (c, target)
        })
        .collect())
}

/// Re-reads the backup against its manifest, if it has one: a corrupt or missing object is named before
/// Milvus is touched.
async fn verify_backup(
    site: &BackupSite,
    dir: &str,
    options: &RestoreOptions,
    progress: &Arc<Progress>,
    cancel: &CancellationToken,
) -> Result<(), MilvusError> {
    let manifest_key = format!("{dir}{}", transfer::MANIFEST_KEY);
    if !site
        .backups
        .op()
        .exists(&manifest_key)
        .await
        .map_err(|e| storage_err(&site.backups, "checking the manifest", e))?
    {
        progress.note(&format!("no manifest at {manifest_key} (a milvus-backup backup?): checking sizes during import only"));
        return Ok(());
    }
    let mode = if progress.is_json() {
        ProgressMode::Json
    } else {
        ProgressMode::Auto
    };
    let verifier = Arc::new(Progress::new(mode, "verified"));
    let report = transfer::verify_tree(
        &site.backups,
        dir,
        None,
        &options.transfer,
        verifier.clone(),
        cancel.clone(),
    )
    .await?;
    verifier.finish();
    if report.interrupted {
        return Err(MilvusError::Interrupted);
    }
    if let Some(first) = report.mismatches.first() {
        return Err(MilvusError::Data(format!(
            "backup '{}' does not match its manifest: {} object(s), first {}: {} (nothing was restored)",
            options.name,
            report.mismatches.len(),
            first.key,
            first.reason
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn restore_collection(
    site: &BackupSite,
    client: &MilvusClient,
    dir: &str,
    coll: &CollectionBackupInfo,
    target: &str,
    options: &RestoreOptions,
    journal: &RestoreJournal,
    progress: &Arc<Progress>,
    cancel: &CancellationToken,
) -> Result<RestoredCollection, MilvusError> {
    let mut out = RestoredCollection {
        source: coll.collection_name.clone(),
        target: target.to_string(),
        ..Default::default()
    };
    let exists = has_collection(client, target).await?;
    let resuming = exists && journal.created(target);
    if exists && !resuming {
        if !options.drop_exist {
            return Err(MilvusError::BadInput(format!(
                "collection '{target}' already exists in Milvus at {}; pass --drop-exist to replace it, or choose another --suffix/--rename",
                site.milvus.address
            )));
        }
        client
            .call("DropCollection", |mut s| async move {
                s.drop_collection(pb::DropCollectionRequest {
                    collection_name: target.into(),
                    ..Default::default()
                })
                .await
            })
            .await?;
    }
    if !resuming {
        create_collection(client, coll, target).await?;
        journal.record(&JournalLine::Created {
            collection: target.to_string(),
        });
    }
    for p in &coll.partition_backups {
        ensure_partition(client, target, &p.partition_name).await?;
    }
    if options.rebuild_index {
        create_indexes(client, coll, target).await?;
    }
    if options.meta_only {
        return Ok(out);
    }
    let stage = stage_binlogs(site, dir, coll, target, options, progress, cancel).await?;
    for p in &coll.partition_backups {
        let dirs = meta::partition_import_dirs(dir, coll.collection_id, p)?;
        for d in dirs {
            if cancel.is_cancelled() {
                return Err(MilvusError::Interrupted);
            }
            if journal.imported(target, &d.insert_dir) {
                out.skipped += 1;
                continue;
            }
            let expected: i64 = p
                .segment_backups
                .iter()
                .filter(|s| {
                    meta::import_dirs(dir, coll.collection_id, p.partition_id, s.group_id) == d
                })
                .map(|s| s.num_of_rows)
                .sum();
            let job = ImportJob {
                target,
                partition: &p.partition_name,
                dirs: &d,
                expected_rows: expected,
            };
            // A job an interrupted run started (and recorded) is waited for, not submitted again.
            let rows = match journal.started(target, &d.insert_dir) {
                Some(tasks) => match wait_tasks(client, &job, tasks, options).await {
                    Ok(rows) => rows,
                    Err(_) => run_import(site, client, &job, &stage, journal, options).await?,
                },
                None => run_import(site, client, &job, &stage, journal, options).await?,
            };
            journal.record(&JournalLine::Imported {
                collection: target.to_string(),
                dir: d.insert_dir.clone(),
            });
            progress.note(&format!(
                "imported {rows} rows into {target}/{} from {}",
                p.partition_name, d.insert_dir
            ));
            out.imported += 1;
            out.rows += rows;
        }
    }
    if let Some(prefix) = stage.prefix.as_deref().filter(|_| !options.keep_temp) {
        site.storage
            .op()
            .delete_with(prefix)
            .recursive(true)
            .await
            .map_err(|e| {
                storage_err(&site.storage, &format!("removing staged copy {prefix}"), e)
            })?;
    }
    Ok(out)
}

/// Creates the backed-up database on the target when it is missing (its properties are not restored, as in
/// milvus-backup).
async fn ensure_database(site: &BackupSite, db: &str) -> Result<(), MilvusError> {
    if db == "default" {
        return Ok(());
    }
    let client = MilvusClient::connect(&site.milvus, "default").await?;
    let r = client
        .call("ListDatabases", |mut s| async move {
            s.list_databases(pb::ListDatabasesRequest::default()).await
        })
        .await?;
    if r.db_names.iter().any(|d| d == db) {
        return Ok(());
    }
    let s = client
        .call_raw("CreateDatabase", |mut s| async move {
            s.create_database(pb::CreateDatabaseRequest {
                db_name: db.into(),
                ..Default::default()
            })
            .await
        })
        .await?;
    check(Some(&s), "CreateDatabase")
}

async fn has_collection(client: &MilvusClient, name: &str) -> Result<bool, MilvusError> {
    let r = client
        .call("HasCollection", |mut s| async move {
            s.has_collection(pb::HasCollectionRequest {
                collection_name: name.into(),
                ..Default::default()
            })
            .await
        })
        .await?;
    Ok(r.value)
}

async fn create_collection(
    client: &MilvusClient,
    coll: &CollectionBackupInfo,
    target: &str,
) -> Result<(), MilvusError> {
    let Some(backup_schema) = &coll.schema else {
        return Err(MilvusError::Data(format!(
            "collection '{}' has no schema in the backup",
            coll.collection_name
        )));
    };
    let schema = schema::to_pb(backup_schema, target);
    let want: Vec<(i64, String)> = schema
        .fields
        .iter()
        .map(|f| (f.field_id, f.name.clone()))
        .collect();
    client
        .call("CreateCollection", |mut s| async move {
            s.create_collection(pb::CreateCollectionRequest {
                collection_name: target.into(),
                schema: schema.encode_to_vec(),
                shards_num: coll.shards_num.max(1),
                consistency_level: coll.consistency_level.0,
                properties: create_properties(coll),
                num_partitions: num_partitions(coll),
                ..Default::default()
            })
            .await
        })
        .await?;
    // Binlogs name their fields by id: the new collection must have the same ids, or the import is garbage.
    let d = client
        .call("DescribeCollection", |mut s| async move {
            s.describe_collection(pb::DescribeCollectionRequest {
                collection_name: target.into(),
                ..Default::default()
            })
            .await
        })
        .await?;
    let got: Vec<(i64, String)> = d
        .schema
        .map(|s| {
            s.fields
                .into_iter()
                .filter(|f| f.field_id >= 100 && !f.is_dynamic)
                .map(|f| (f.field_id, f.name))
                .collect()
        })
        .unwrap_or_default();
    if got != want {
        return Err(MilvusError::Data(format!(
            "Milvus gave the new collection field ids {got:?}, the backup has {want:?}"
        )));
    }
    Ok(())
}

/// The properties to create a collection with: its schema's (what milvus-backup restores), then the
/// collection's own from DescribeCollection (which milvus-backup records but does not restore, and which are the
/// only ones a 2.3 source has: its TTL, for one). The source cluster's encryption keys (`cipher.*`) stay behind.
fn create_properties(coll: &CollectionBackupInfo) -> Vec<KeyValuePair> {
    let schema_props = coll.schema.iter().flat_map(|s| &s.properties);
    let mut out: Vec<meta::KeyValuePair> = Vec::new();
    for p in schema_props.chain(&coll.properties) {
        if !p.key.starts_with("cipher.") && !out.iter().any(|o| o.key == p.key) {
            out.push(p.clone());
        }
    }
    schema::kv_to_pb(&out)
}

/// With a partition key, Milvus hashes each row's key over the collection's partitions: the new collection must
/// have as many as the backed-up one (which are all in the backup), or a filter on the key looks in the wrong
/// partition. Without one, 0 lets Milvus decide.
fn num_partitions(coll: &CollectionBackupInfo) -> i64 {
    let keyed = coll
        .schema
        .iter()
        .flat_map(|s| &s.fields)
        .any(|f| f.is_partition_key);
    if keyed {
        coll.partition_backups.len() as i64
    } else {
        0
    }
}

async fn ensure_partition(
    client: &MilvusClient,
    coll: &str,
    partition: &str,
) -> Result<(), MilvusError> {
    let r = client
        .call("HasPartition", |mut s| async move {
            s.has_partition(pb::HasPartitionRequest {
                collection_name: coll.into(),
                partition_name: partition.into(),
                ..Default::default()
            })
            .await
        })
        .await?;
    if r.value {
        return Ok(());
    }
    let s = client
        .call_raw("CreatePartition", |mut s| async move {
            s.create_partition(pb::CreatePartitionRequest {
                collection_name: coll.into(),
                partition_name: partition.into(),
                ..Default::default()
            })
            .await
        })
        .await?;
    check(Some(&s), "CreatePartition")
}

async fn create_indexes(
    client: &MilvusClient,
    coll: &CollectionBackupInfo,
    target: &str,
) -> Result<(), MilvusError> {
    for idx in &coll.index_infos {
        let s = client
            .call_raw("CreateIndex", |mut s| async move {
                s.create_index(pb::CreateIndexRequest {
                    collection_name: target.into(),
                    field_name: idx.field_name.clone(),
                    index_name: idx.index_name.clone(),
                    extra_params: idx
                        .params
                        .iter()
                        .map(|(k, v)| KeyValuePair {
                            key: k.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                    ..Default::default()
                })
                .await
            })
            .await?;
        check(Some(&s), "CreateIndex").map_err(|e| {
            MilvusError::Data(format!(
                "index '{}' on '{}': {e}",
                idx.index_name, idx.field_name
            ))
        })?;
    }
    Ok(())
}

/// Where Milvus will read a collection's binlogs.
struct Stage {
    /// The staged copy's prefix in Milvus's bucket (removed at the end), when one was needed.
    prefix: Option<String>,
    /// Maps a backup key (starting with the backup dir) to the key Milvus must be given.
    backup_dir: String,
    import_root: String,
}

impl Stage {
    fn import_path(&self, backup_key: &str) -> String {
        format!(
            "{}{}",
            self.import_root,
            backup_key
                .strip_prefix(&self.backup_dir)
                .unwrap_or(backup_key)
        )
    }
}

/// Milvus imports only from its own bucket: when the backup is elsewhere, copy this collection's binlogs
/// there (resumably, through the transfer engine) under a prefix named after the backup and target.
async fn stage_binlogs(
    site: &BackupSite,
    dir: &str,
    coll: &CollectionBackupInfo,
    target: &str,
    options: &RestoreOptions,
    progress: &Arc<Progress>,
    cancel: &CancellationToken,
) -> Result<Stage, MilvusError> {
    let bucket = site.bucket_prefix();
    if site.backups.same_store(&site.storage) {
        return Ok(Stage {
            prefix: None,
            backup_dir: dir.to_string(),
            import_root: format!("{bucket}{dir}"),
        });
    }
    let tag = blake3::hash(format!("{}{dir}{target}", site.backups.config().location()).as_bytes())
        .to_hex();
    let prefix = format!("mbx-restore-{}/", &tag[..12]);
    let mut objects: Vec<SourceObject> = Vec::new();
    for kind in ["insert_log", "delta_log"] {
        let sub = format!("{dir}binlogs/{kind}/{}/", coll.collection_id);
        for mut o in list_tree(&site.backups, &sub).await? {
            o.rel = format!("binlogs/{kind}/{}/{}", coll.collection_id, o.rel);
            objects.push(o);
        }
    }
    progress.note(&format!(
        "staging {} binlogs of '{}' into {}:{prefix} (Milvus imports only from its own bucket)",
        objects.len(),
        coll.collection_name,
        site.storage.name()
    ));
    let (summary, manifest) = transfer::copy_objects(
        (&site.backups, dir),
        (&site.storage, &prefix),
        objects,
        &options.transfer,
        progress.clone(),
        cancel.clone(),
    )
    .await?;
    if summary.interrupted {
        return Err(MilvusError::Interrupted);
    }
    if manifest.is_none() {
        let first = summary
            .failed
            .first()
            .map(|f| format!("{}: {}", f.key, f.reason))
            .unwrap_or_default();
        return Err(MilvusError::Data(format!(
            "staging failed for {} objects (first: {first})",
            summary.failed.len()
        )));
    }
    Ok(Stage {
        import_root: format!("{bucket}{prefix}"),
        prefix: Some(prefix),
        backup_dir: dir.to_string(),
    })
}

/// One import job: a segment dir (or a partition's, in old backups) into a partition.
struct ImportJob<'a> {
    target: &'a str,
    partition: &'a str,
    dirs: &'a ImportDirs,
    expected_rows: i64,
}

/// Submits the import, records its task ids before waiting (so a killed run's job is waited for on resume,
/// not imported twice), and waits for it.
async fn run_import(
    site: &BackupSite,
    client: &MilvusClient,
    job: &ImportJob<'_>,
    stage: &Stage,
    journal: &RestoreJournal,
    options: &RestoreOptions,
) -> Result<i64, MilvusError> {
    let insert = stage.import_path(&job.dirs.insert_dir);
    let delta_key = stage.import_path(&job.dirs.delta_dir);
    // Milvus reads `bucket/<key>`; the storage remote's root is part of that key, so strip it to list.
    let bucket = site.bucket_prefix();
    let delta_rel = delta_key
        .strip_prefix(&bucket)
        .unwrap_or(&delta_key)
        .to_string();
    let has_delta = !list_tree(&site.storage, &delta_rel).await?.is_empty();
    let files = vec![insert, if has_delta { delta_key } else { String::new() }];
    let req = pb::ImportRequest {
        collection_name: job.target.into(),
        partition_name: job.partition.into(),
        files: files.clone(),
        options: vec![KeyValuePair {
            key: "backup".into(),
            value: "true".into(),
        }],
        ..Default::default()
    };
    let r = client
        .call_raw("Import", |mut s| async move { s.import(req).await })
        .await?;
    check(r.status.as_ref(), "Import").map_err(|e| {
        MilvusError::Data(format!(
            "partition '{}', files {files:?}: {e}",
            job.partition
        ))
    })?;
    journal.record(&JournalLine::Started {
        collection: job.target.to_string(),
        dir: job.dirs.insert_dir.clone(),
        tasks: r.tasks.clone(),
    });
    wait_tasks(client, job, r.tasks, options).await
}

/// Waits for an import's tasks and checks the rows they report.
async fn wait_tasks(
    client: &MilvusClient,
    job: &ImportJob<'_>,
    tasks: Vec<i64>,
    options: &RestoreOptions,
) -> Result<i64, MilvusError> {
    let mut rows = 0;
    for task in tasks {
        rows += wait_import(client, task, options.import_timeout)
            .await
            .map_err(|e| {
                MilvusError::Data(format!(
                    "partition '{}', segment dir {}: {e}",
                    job.partition, job.dirs.insert_dir
                ))
            })?;
    }
    let dir = &job.dirs.insert_dir;
    // Milvus 2.3 says "completed" with 0 rows for a path it cannot see.
    if job.expected_rows > 0 && rows == 0 {
        return Err(MilvusError::Data(format!(
            "Milvus imported 0 rows from {dir} (expected up to {}): it cannot see that path in its bucket; \
             is the remote's bucket Milvus's own bucket (or set milvus.storage_remote)?",
            job.expected_rows
        )));
    }
    if rows > job.expected_rows {
        return Err(MilvusError::Data(format!(
            "Milvus imported {rows} rows from {dir}, more than the {} backed up",
            job.expected_rows
        )));
    }
    Ok(rows)
}

async fn wait_import(
    client: &MilvusClient,
    task: i64,
    timeout: Duration,
) -> Result<i64, MilvusError> {
    use super::proto::common::ImportState;
    const FAILED: i32 = ImportState::ImportFailed as i32;
    const COMPLETED: i32 = ImportState::ImportCompleted as i32;
    const FAILED_AND_CLEANED: i32 = ImportState::ImportFailedAndCleaned as i32;
    let deadline = Instant::now() + timeout;
    loop {
        let s = client
            .call("GetImportState", |mut s| async move {
                s.get_import_state(pb::GetImportStateRequest { task }).await
            })
            .await?;
        match s.state {
            COMPLETED => return Ok(s.row_count),
            FAILED | FAILED_AND_CLEANED => {
                let reason = s
                    .infos
                    .iter()
                    .find(|kv| kv.key == "failed_reason")
                    .map(|kv| kv.value.clone())
                    .unwrap_or_default();
                return Err(MilvusError::Data(format!(
                    "import task {task} failed: {reason}"
                )));
            }
            _ if Instant::now() > deadline => {
                return Err(MilvusError::Data(format!(
                    "import task {task} not done after {}s",
                    timeout.as_secs()
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum JournalLine {
    Created {
        collection: String,
    },
    Started {
        collection: String,
        dir: String,
        tasks: Vec<i64>,
    },
    Imported {
        collection: String,
        dir: String,
    },
}

/// What earlier runs of the same restore finished: collections created, import dirs imported.
struct RestoreJournal {
    path: PathBuf,
    file: std::sync::Mutex<std::fs::File>,
    created: HashSet<String>,
    imported: HashSet<(String, String)>,
    started: std::collections::HashMap<(String, String), Vec<i64>>,
}

impl RestoreJournal {
    fn open(state_dir: &std::path::Path, identity: &str) -> std::io::Result<RestoreJournal> {
        let dir = state_dir.join("restores");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            "{}.jsonl",
            &blake3::hash(identity.as_bytes()).to_hex()[..24]
        ));
        let (mut created, mut imported) = (HashSet::new(), HashSet::new());
        let mut started = std::collections::HashMap::new();
        if let Ok(f) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(JournalLine::Created { collection }) => {
                        created.insert(collection);
                    }
                    Ok(JournalLine::Imported { collection, dir }) => {
                        imported.insert((collection, dir));
                    }
                    Ok(JournalLine::Started {
                        collection,
                        dir,
                        tasks,
                    }) => {
                        started.insert((collection, dir), tasks);
                    }
                    Err(_) => {}
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(RestoreJournal {
            path,
            file: std::sync::Mutex::new(file),
            created,
            imported,
            started,
        })
    }

    fn created(&self, collection: &str) -> bool {
        self.created.contains(collection)
    }

    fn imported(&self, collection: &str, dir: &str) -> bool {
        self.imported
            .contains(&(collection.to_string(), dir.to_string()))
    }

    /// The task ids of an import an earlier run submitted for `dir` but did not see finish.
    fn started(&self, collection: &str, dir: &str) -> Option<Vec<i64>> {
        self.started
            .get(&(collection.to_string(), dir.to_string()))
            .cloned()
    }

    fn record(&self, line: &JournalLine) {
        // Losing a journal line costs a repeated step on resume, never data: report, do not fail.
        let Ok(mut bytes) = serde_json::to_vec(line) else {
            return;
        };
        bytes.insert(0, b'\n');
        if let Ok(mut f) = self.file.lock()
            && let Err(e) = f.write_all(&bytes)
        {
            tracing::warn!("restore journal {}: {e}", self.path.display());
        }
    }

    fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> meta::KeyValuePair {
        meta::KeyValuePair {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn properties_come_from_schema_then_collection_without_cipher_keys() {
        let coll = CollectionBackupInfo {
            schema: Some(meta::CollectionSchema {
                properties: vec![
                    kv("mmap.enabled", "true"),
                    kv("collection.ttl.seconds", "60"),
                ],
                ..Default::default()
            }),
            properties: vec![
                kv("collection.ttl.seconds", "864000"),
                kv("cipher.key", "secret"),
                kv("collection.autocompaction.enabled", "false"),
            ],
            ..Default::default()
        };
        let got: Vec<(String, String)> = create_properties(&coll)
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect();
        assert_eq!(
            got,
            [
                ("mmap.enabled".to_string(), "true".to_string()),
                ("collection.ttl.seconds".to_string(), "60".to_string()),
                (
                    "collection.autocompaction.enabled".to_string(),
                    "false".to_string()
                ),
            ]
        );
    }

    #[test]
    fn partition_count_only_with_a_partition_key() {
        let field = |key: bool| meta::FieldSchema {
            is_partition_key: key,
            ..Default::default()
        };
        let mut coll = CollectionBackupInfo {
            schema: Some(meta::CollectionSchema {
                fields: vec![field(false), field(false)],
                ..Default::default()
            }),
            partition_backups: vec![Default::default(); 16],
            ..Default::default()
        };
        assert_eq!(num_partitions(&coll), 0);
        if let Some(s) = coll.schema.as_mut() {
            s.fields[1] = field(true);
        }
        assert_eq!(num_partitions(&coll), 16);
    }
}
