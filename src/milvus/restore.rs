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
use super::compat::{self, MilvusVersion};
use super::meta::{self, BackupInfo, CollectionBackupInfo, ImportDirs};
use super::proto::common::KeyValuePair;
use super::proto::milvus as pb;
use super::{BackupSite, MilvusError, catalog, rbac, schema, storage_err};
use crate::transfer::{self, Events, Reporter, SourceObject, TransferOptions, list_tree};

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The backup's name.
    pub name: String,
    /// Appended to every restored collection's name.
    pub suffix: Option<String>,
    /// Renames (applied instead of the suffix): collections, collections across databases, databases.
    pub renames: Renames,
    /// Only these collections (names in the backup); all when empty.
    pub collections: Vec<String>,
    /// Drop a target collection that already exists (otherwise that is an error).
    pub drop_exist: bool,
    /// Import into collections that already exist (created by the user); none is created.
    pub skip_create: bool,
    /// With `rebuild_index`: vector indexes as `AUTOINDEX` with the backed-up metric.
    pub use_auto_index: bool,
    /// Drop the target's existing indexes first (with `skip_create`, or a resumed restore).
    pub drop_exist_index: bool,
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
    /// Restore into a Milvus older than the backup's source (what the target cannot import is still refused).
    pub allow_downgrade: bool,
    /// Restore the backup's users, roles, grants and privilege groups that the target lacks (Milvus 2.4+).
    pub rbac: bool,
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

/// Restores backup `options.name` from `site` into `site`'s Milvus. Everything that decides whether the
/// backup can be restored faithfully (the target's version, what the backup holds) is checked before anything
/// is created.
pub async fn restore_backup(
    site: &BackupSite,
    options: RestoreOptions,
    reporter: Arc<dyn Reporter>,
    cancel: CancellationToken,
) -> Result<RestoreSummary, MilvusError> {
    let started = Instant::now();
    let progress = Events::new(reporter);
    meta::validate_backup_name(&options.name)?;
    let dir = site.backup_dir(&options.name);
    let info = catalog::get_backup(&site.backups, &dir).await?;
    if !info.format.is_empty() && info.format != "binlog" {
        return Err(MilvusError::BadInput(format!(
            "backup '{}' has format '{}' (Milvus 3.0 snapshots are restored by Milvus itself); mbx restores \
             binlog backups. Nothing was created",
            options.name, info.format
        )));
    }
    let plan = plan_targets(&info, &options)?;
    // Every import job is planned from the meta before anything is created: a backup whose jobs cannot be
    // planned (mixed group ids or storage versions in one folder) is refused whole.
    let jobs = plan
        .iter()
        .map(|(coll, _)| plan_imports(&dir, coll))
        .collect::<Result<Vec<_>, _>>()?;
    let version = check_target(site, &dir, &info, &plan, &options).await?;
    if options.skip_create {
        check_targets_exist(site, &plan).await?;
    }
    let rbac_meta = match (&info.rbac_meta, options.rbac) {
        (_, false) => None,
        (Some(m), true) => {
            rbac::check(version, &site.milvus.address, "restore")?;
            Some(m)
        }
        (None, true) => {
            return Err(MilvusError::BadInput(format!(
                "backup '{}' holds no users or roles (it was made without --rbac); restore it without --rbac. \
                 Nothing was created",
                options.name
            )));
        }
    };
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
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => MilvusError::BadInput(e.to_string()),
        _ => MilvusError::Data(format!(
            "restore journal in {}: {e}",
            options.transfer.state_dir.display()
        )),
    })?;
    if let Some(m) = rbac_meta {
        let client = MilvusClient::connect(&site.milvus, "default").await?;
        let sent = rbac::restore(&client, m).await?;
        progress.note(&format!(
            "restored {} user(s), {} role(s), {} grant(s), {} privilege group(s) the target lacked",
            sent.users.len(),
            sent.roles.len(),
            sent.grants.len(),
            sent.privilege_groups.len()
        ));
    }
    let run = Run {
        site,
        dir: &dir,
        options: &options,
        journal: &journal,
        progress: &progress,
        cancel: &cancel,
        version,
    };
    let mut summary = RestoreSummary::default();
    for ((coll, target), jobs) in plan.into_iter().zip(&jobs) {
        let request = create_database_request(&target.db, &info, db_of(coll), version);
        ensure_database(site, request).await?;
        let client = MilvusClient::connect(&site.milvus, &target.db).await?;
        let done = restore_collection(&run, &client, coll, &target, jobs)
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

/// One restore in progress: what every step reads.
struct Run<'a> {
    site: &'a BackupSite,
    dir: &'a str,
    options: &'a RestoreOptions,
    journal: &'a RestoreJournal,
    progress: &'a Events,
    cancel: &'a CancellationToken,
    /// The target Milvus's release.
    version: MilvusVersion,
}

/// Asks the target its version and checks, against mbx's version table, that every collection to restore can
/// be restored there faithfully; the refusal names the version and the feature. Nothing is created before.
async fn check_target(
    site: &BackupSite,
    dir: &str,
    info: &BackupInfo,
    plan: &[(&CollectionBackupInfo, Target)],
    options: &RestoreOptions,
) -> Result<MilvusVersion, MilvusError> {
    let client = MilvusClient::connect(&site.milvus, "default").await?;
    let raw = client.version().await?;
    let refused = |r: compat::Refusal| MilvusError::BadInput(r.0);
    let version = compat::server_version(&raw, client.address()).map_err(refused)?;
    let colls: Vec<&CollectionBackupInfo> = plan.iter().map(|(c, _)| *c).collect();
    let gate = compat::RestoreGate {
        allow_downgrade: options.allow_downgrade,
    };
    compat::check_restore(info, &colls, version, client.address(), gate).map_err(refused)?;
    // A 2.4+ backup records its all-partition L0 deletes in full_meta.json only: the level files alone would
    // restore without them.
    let source = MilvusVersion::parse(&info.milvus_version);
    if source.is_some_and(|v| v >= MilvusVersion::new(2, 4, 0)) {
        let key = meta::meta_key(dir, meta::FULL_META_FILE);
        let has_full = site
            .backups
            .op()
            .exists(&key)
            .await
            .map_err(|e| storage_err(&site.backups, &format!("checking {key}"), e))?;
        if !has_full {
            return Err(MilvusError::BadInput(format!(
                "backup '{}' (Milvus {}) has no {key}: a backup of Milvus 2.4 or newer records its \
                 all-partition deletes (L0 segments) only there, and restoring from the other meta files could \
                 bring deleted rows back. Nothing was created",
                options.name, info.milvus_version
            )));
        }
    }
    Ok(version)
}

fn db_of(c: &CollectionBackupInfo) -> &str {
    if c.db_name.is_empty() {
        "default"
    } else {
        &c.db_name
    }
}

/// With `--skip-create-collection`, every target database and collection must be there before anything is
/// done (a missing one would otherwise be created, or half the collections imported).
async fn check_targets_exist(
    site: &BackupSite,
    plan: &[(&CollectionBackupInfo, Target)],
) -> Result<(), MilvusError> {
    let client = MilvusClient::connect(&site.milvus, "default").await?;
    let dbs = client
        .list_databases(pb::ListDatabasesRequest::default())
        .await?
        .db_names;
    for (_, target) in plan {
        let there = dbs.contains(&target.db)
            && has_collection(
                &MilvusClient::connect(&site.milvus, &target.db).await?,
                &target.name,
            )
            .await?;
        if !there {
            return Err(MilvusError::BadInput(format!(
                "collection '{target}' does not exist in Milvus at {}: --skip-create-collection imports into \
                 collections that are already there. Nothing was created",
                site.milvus.address
            )));
        }
    }
    Ok(())
}

/// How `--rename` maps backed-up collections to targets, as milvus-backup's `-r` does: `c1:c2` (a collection,
/// in whichever database it is; it stays in that database), `db1.c1:db2.c2` (across databases) and
/// `db1.*:db2.*` (every collection of a database into another).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renames {
    collections: BTreeMap<String, String>,
    qualified: BTreeMap<(String, String), (String, String)>,
    databases: BTreeMap<String, String>,
}

impl Renames {
    /// Parses `--rename` values; the error names the one that is malformed.
    pub fn parse(pairs: &[String]) -> Result<Renames, MilvusError> {
        let mut r = Renames::default();
        for pair in pairs {
            let bad = || {
                MilvusError::BadInput(format!(
                    "--rename '{pair}' is not old:new, db.old:db2.new or db.*:db2.*"
                ))
            };
            let (old, new) = pair.split_once(':').ok_or_else(bad)?;
            match (old.split_once('.'), new.split_once('.')) {
                (None, None) if !old.is_empty() && !new.is_empty() => {
                    r.collections.insert(old.into(), new.into());
                }
                (Some((d1, "*")), Some((d2, "*"))) if !d1.is_empty() && !d2.is_empty() => {
                    r.databases.insert(d1.into(), d2.into());
                }
                (Some((d1, c1)), Some((d2, c2)))
                    if [d1, c1, d2, c2].iter().all(|x| !x.is_empty() && *x != "*") =>
                {
                    r.qualified
                        .insert((d1.into(), c1.into()), (d2.into(), c2.into()));
                }
                _ => return Err(bad()),
            }
        }
        Ok(r)
    }

    /// No rename given.
    pub fn is_empty(&self) -> bool {
        self.collections.is_empty() && self.qualified.is_empty() && self.databases.is_empty()
    }

    /// The target of collection `coll` of database `db`, if a rename names it.
    fn target(&self, db: &str, coll: &str) -> Option<Target> {
        if let Some((d, c)) = self.qualified.get(&(db.to_string(), coll.to_string())) {
            return Some(Target::new(d, c));
        }
        if let Some(c) = self.collections.get(coll) {
            return Some(Target::new(db, c));
        }
        self.databases.get(db).map(|d| Target::new(d, coll))
    }

    /// Every rename whose source is not in the backup, as `db.coll` or `db.*` or `coll`.
    fn unmatched(&self, info: &BackupInfo) -> Vec<String> {
        let has = |db: &str, c: &str| {
            info.collection_backups
                .iter()
                .any(|b| db_of(b) == db && b.collection_name == c)
        };
        let mut out: Vec<String> = self
            .collections
            .keys()
            .filter(|c| {
                !info
                    .collection_backups
                    .iter()
                    .any(|b| &b.collection_name == *c)
            })
            .cloned()
            .collect();
        out.extend(
            self.qualified
                .keys()
                .filter(|(d, c)| !has(d, c))
                .map(|(d, c)| format!("{d}.{c}")),
        );
        out.extend(
            self.databases
                .keys()
                .filter(|d| {
                    !info
                        .collection_backups
                        .iter()
                        .any(|b| db_of(b) == d.as_str())
                })
                .map(|d| format!("{d}.*")),
        );
        out
    }
}

/// Where one collection is restored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    db: String,
    name: String,
}

impl Target {
    fn new(db: &str, name: &str) -> Target {
        Target {
            db: db.to_string(),
            name: name.to_string(),
        }
    }

    /// The name the restore journal knows it by.
    fn key(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.db == "default" {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.db, self.name)
        }
    }
}

/// Which collections to restore, under which names.
fn plan_targets<'a>(
    info: &'a BackupInfo,
    options: &RestoreOptions,
) -> Result<Vec<(&'a CollectionBackupInfo, Target)>, MilvusError> {
    if options.suffix.is_some() && !options.renames.is_empty() {
        return Err(MilvusError::BadInput(
            "--suffix and --rename cannot be used together (as in milvus-backup)".into(),
        ));
    }
    if options.skip_create && options.drop_exist {
        return Err(MilvusError::BadInput(
            "--skip-create-collection and --drop-exist cannot be used together (as in milvus-backup)".into(),
        ));
    }
    let mut all: Vec<String> = info
        .collection_backups
        .iter()
        .map(|c| format!("{}.{}", db_of(c), c.collection_name))
        .collect();
    all.sort_unstable();
    let missing = options
        .collections
        .iter()
        .filter(|w| {
            !info
                .collection_backups
                .iter()
                .any(|c| &c.collection_name == *w)
        })
        .cloned()
        .chain(options.renames.unmatched(info));
    if let Some(wanted) = missing.into_iter().next() {
        return Err(MilvusError::BadInput(format!(
            "'{wanted}' is not in backup '{}' (it has: {})",
            options.name,
            all.join(", ")
        )));
    }
    let plan: Vec<(&CollectionBackupInfo, Target)> = info
        .collection_backups
        .iter()
        .filter(|c| {
            options.collections.is_empty() || options.collections.contains(&c.collection_name)
        })
        .map(|c| {
            let target = match (
                &options.suffix,
                options.renames.target(db_of(c), &c.collection_name),
            ) {
                (_, Some(t)) => t,
                (Some(sfx), None) => Target::new(db_of(c), &format!("{}{sfx}", c.collection_name)),
                (None, None) => Target::new(db_of(c), &c.collection_name),
            };
            (c, target)
        })
        .collect();
    let mut seen = HashSet::new();
    if let Some((_, dup)) = plan.iter().find(|(_, t)| !seen.insert(t.key())) {
        return Err(MilvusError::BadInput(format!(
            "two backed-up collections would both be restored as '{dup}'; rename one of them"
        )));
    }
    Ok(plan)
}

/// Re-reads the backup against its manifest, if it has one: a corrupt or missing object is named before
/// Milvus is touched.
async fn verify_backup(
    site: &BackupSite,
    dir: &str,
    options: &RestoreOptions,
    progress: &Events,
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
    progress.stage(transfer::Stage::Verifying);
    let report = transfer::verify_tree_with(
        &site.backups,
        dir,
        &options.transfer,
        progress,
        cancel.clone(),
    )
    .await?;
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

async fn restore_collection(
    run: &Run<'_>,
    client: &MilvusClient,
    coll: &CollectionBackupInfo,
    target: &Target,
    jobs: &[PlannedImport],
) -> Result<RestoredCollection, MilvusError> {
    let (site, options, journal) = (run.site, run.options, run.journal);
    let (name, jkey) = (target.name.as_str(), target.key());
    let mut out = RestoredCollection {
        source: coll.collection_name.clone(),
        target: target.to_string(),
        ..Default::default()
    };
    let exists = has_collection(client, name).await?;
    let resuming = exists && journal.created(&jkey);
    if options.skip_create {
        if !exists {
            return Err(MilvusError::BadInput(format!(
                "collection '{target}' does not exist in Milvus at {}: --skip-create-collection imports into a \
                 collection that is already there",
                site.milvus.address
            )));
        }
        check_field_ids(client, coll, name).await?;
    } else {
        if exists && !resuming {
            if !options.drop_exist {
                return Err(MilvusError::BadInput(format!(
                    "collection '{target}' already exists in Milvus at {}; pass --drop-exist to replace it, \
                     --skip-create-collection to import into it, or choose another --suffix/--rename",
                    site.milvus.address
                )));
            }
            client
                .drop_collection(pb::DropCollectionRequest {
                    collection_name: name.into(),
                    ..Default::default()
                })
                .await?;
        }
        if !resuming {
            create_collection(client, coll, name).await?;
            journal.record(&JournalLine::Created {
                collection: jkey.clone(),
            });
        }
    }
    for p in &coll.partition_backups {
        ensure_partition(client, name, &p.partition_name).await?;
    }
    if options.drop_exist_index {
        drop_indexes(client, name).await?;
    }
    if options.rebuild_index {
        create_indexes(client, coll, name, options.use_auto_index).await?;
    }
    if options.meta_only {
        return Ok(out);
    }
    let stage = stage_binlogs(run, coll, &jkey).await?;
    for job in jobs {
        if run.cancel.is_cancelled() {
            return Err(MilvusError::Interrupted);
        }
        let key = job.journal_key();
        if journal.imported(&jkey, key) {
            out.skipped += 1;
            continue;
        }
        let files = import_files(run, &stage, job).await?;
        // A job an interrupted run started (and recorded) is waited for, not submitted again, unless Milvus
        // says it failed: submitting while it may still run would import its rows twice.
        let rows = match journal.started(&jkey, key) {
            Some(tasks) => match wait_tasks(client, job, tasks, options).await? {
                TaskOutcome::Completed(rows) => rows,
                TaskOutcome::Failed(reason) => {
                    run.progress.note(&format!(
                        "the import of {key} that an earlier run started failed ({reason}); submitting it again"
                    ));
                    run_import(run, client, target, job, &files).await?
                }
            },
            None => run_import(run, client, target, job, &files).await?,
        };
        check_rows(run, job, &files, rows).await?;
        journal.record(&JournalLine::Imported {
            collection: jkey.clone(),
            dir: key.to_string(),
        });
        run.progress.note(&format!(
            "imported {} into {target}/{} from {key}",
            match job.kind {
                ImportKind::Rows => format!("{rows} rows"),
                ImportKind::Deletes => "deletes".to_string(),
            },
            if job.partition.is_empty() {
                "(all partitions)"
            } else {
                &job.partition
            },
        ));
        out.imported += 1;
        out.rows += rows;
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

/// What one import job brings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImportKind {
    /// A segment's rows, with its own delta logs applied (`backup=true`).
    Rows,
    /// An L0 segment's deletes, applied to the rows already imported (`l0_import=true`).
    Deletes,
}

/// One import job, planned from the meta alone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedImport {
    kind: ImportKind,
    /// The target partition; empty for all-partition L0 deletes.
    partition: String,
    /// Backup keys of the folders (for `Deletes`, only `delta_dir` is used).
    dirs: ImportDirs,
    /// Milvus storage format of the segments (0 and 1 are v1).
    storage_version: i64,
    /// Rows the meta records for the job's segments.
    expected_rows: i64,
}

impl PlannedImport {
    /// The folder that names this job in the restore journal.
    fn journal_key(&self) -> &str {
        match self.kind {
            ImportKind::Rows => &self.dirs.insert_dir,
            ImportKind::Deletes => &self.dirs.delta_dir,
        }
    }
}

/// The import jobs of a collection, in the order milvus-backup runs them (`core/restore/coll_task.go`): per
/// partition its segments first, then its L0 deletes (which only apply to rows already there); the
/// all-partition L0 deletes last.
fn plan_imports(dir: &str, coll: &CollectionBackupInfo) -> Result<Vec<PlannedImport>, MilvusError> {
    let cid = coll.collection_id;
    let mut jobs = Vec::new();
    let deletes = |s: &meta::SegmentBackupInfo, partition: &str| PlannedImport {
        kind: ImportKind::Deletes,
        partition: partition.to_string(),
        dirs: ImportDirs {
            insert_dir: String::new(),
            delta_dir: meta::l0_import_dir(dir, s),
        },
        storage_version: s.storage_version,
        expected_rows: 0,
    };
    let has_deletes =
        |s: &meta::SegmentBackupInfo| s.deltalogs.iter().any(|f| !f.binlogs.is_empty());
    for p in &coll.partition_backups {
        for d in meta::partition_import_dirs(dir, cid, p)? {
            let segs: Vec<&meta::SegmentBackupInfo> = p
                .segment_backups
                .iter()
                .filter(|s| {
                    !s.is_l0 && meta::import_dirs(dir, cid, p.partition_id, s.group_id) == d
                })
                .collect();
            let versions: std::collections::BTreeSet<i64> =
                segs.iter().map(|s| s.storage_version.max(1)).collect();
            if versions.len() > 1 {
                return Err(MilvusError::Data(format!(
                    "{} holds segments of storage versions {versions:?}; one import job reads one format",
                    d.insert_dir
                )));
            }
            jobs.push(PlannedImport {
                kind: ImportKind::Rows,
                partition: p.partition_name.clone(),
                storage_version: segs.iter().map(|s| s.storage_version).max().unwrap_or(0),
                expected_rows: segs.iter().map(|s| s.num_of_rows).sum(),
                dirs: d,
            });
        }
        jobs.extend(
            p.segment_backups
                .iter()
                .filter(|s| s.is_l0 && has_deletes(s))
                .map(|s| deletes(s, &p.partition_name)),
        );
    }
    jobs.extend(
        coll.l0_segments
            .iter()
            .filter(|s| has_deletes(s))
            .map(|s| deletes(s, "")),
    );
    Ok(jobs)
}

/// The CreateDatabase request for target database `db`, restored from backed-up database `source`: with the
/// source's properties (2.4.3+; the source cluster's encryption keys `cipher.*` stay behind). milvus-backup
/// creates it without them (`core/restore/database_task.go`); mbx carries them, as it does a collection's.
fn create_database_request(
    db: &str,
    info: &BackupInfo,
    source: &str,
    version: MilvusVersion,
) -> pb::CreateDatabaseRequest {
    let properties = if version >= compat::DATABASE_PROPERTIES_SINCE {
        info.database_backups
            .iter()
            .filter(|d| d.db_name == source)
            .flat_map(|d| &d.properties)
            .filter(|p| !p.key.starts_with("cipher."))
            .map(|p| KeyValuePair {
                key: p.key.clone(),
                value: p.value.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    pb::CreateDatabaseRequest {
        db_name: db.into(),
        properties,
        ..Default::default()
    }
}

/// Creates the target database when it is missing.
async fn ensure_database(
    site: &BackupSite,
    request: pb::CreateDatabaseRequest,
) -> Result<(), MilvusError> {
    if request.db_name == "default" {
        return Ok(());
    }
    let client = MilvusClient::connect(&site.milvus, "default").await?;
    let r = client
        .list_databases(pb::ListDatabasesRequest::default())
        .await?;
    if r.db_names.contains(&request.db_name) {
        return Ok(());
    }
    client.create_database(request).await?;
    Ok(())
}

async fn has_collection(client: &MilvusClient, name: &str) -> Result<bool, MilvusError> {
    let r = client
        .has_collection(pb::HasCollectionRequest {
            collection_name: name.into(),
            ..Default::default()
        })
        .await?;
    Ok(r.value)
}

/// CreateCollection, then AddCollectionField for the fields a dynamic collection got after it was created, then
/// a check that Milvus gave every field the backed-up id.
async fn create_collection(
    client: &MilvusClient,
    coll: &CollectionBackupInfo,
    target: &str,
) -> Result<(), MilvusError> {
    let (create, added) = create_requests(coll, target)?;
    client.create_collection(create).await?;
    for add in added {
        client.add_collection_field(add).await?;
    }
    check_field_ids(client, coll, target).await
}

/// Binlogs name their fields by id: the target collection must have the backed-up ids, or the import is garbage.
async fn check_field_ids(
    client: &MilvusClient,
    coll: &CollectionBackupInfo,
    target: &str,
) -> Result<(), MilvusError> {
    let d = client
        .describe_collection(pb::DescribeCollectionRequest {
            collection_name: target.into(),
            ..Default::default()
        })
        .await?;
    check(d.status.as_ref(), "DescribeCollection")?;
    let mut got: Vec<(i64, String)> = d
        .schema
        .map(|s| {
            s.fields
                .into_iter()
                .filter(|f| f.field_id >= schema::FIRST_USER_FIELD_ID && !f.is_dynamic)
                .map(|f| (f.field_id, f.name))
                .collect()
        })
        .unwrap_or_default();
    let mut want: Vec<(i64, String)> = coll
        .schema
        .iter()
        .flat_map(|s| &s.fields)
        .filter(|f| !f.is_dynamic)
        .map(|f| (f.field_id, f.name.clone()))
        .collect();
    got.sort();
    want.sort();
    if got != want {
        return Err(MilvusError::Data(format!(
            "collection '{target}' in Milvus has field ids {got:?}, the backup has {want:?}: its binlogs \
             cannot be imported there"
        )));
    }
    Ok(())
}

/// The CreateCollection request for a backed-up collection, and one AddCollectionField request per field it got
/// after creation (milvus-backup `core/restore/coll_ddl_task.go`: same field ids, `$meta` left to Milvus,
/// functions, struct array fields and properties sent; fields after `$meta` added afterwards).
fn create_requests(
    coll: &CollectionBackupInfo,
    target: &str,
) -> Result<
    (
        pb::CreateCollectionRequest,
        Vec<pb::AddCollectionFieldRequest>,
    ),
    MilvusError,
> {
    let Some(backup_schema) = &coll.schema else {
        return Err(MilvusError::Data(format!(
            "collection '{}' has no schema in the backup",
            coll.collection_name
        )));
    };
    let later = schema::added_fields(backup_schema);
    let create = pb::CreateCollectionRequest {
        collection_name: target.into(),
        schema: schema::to_pb(backup_schema, target, &later).encode_to_vec(),
        shards_num: coll.shards_num.max(1),
        consistency_level: coll.consistency_level.0,
        properties: create_properties(coll),
        num_partitions: num_partitions(coll),
        ..Default::default()
    };
    let added = backup_schema
        .fields
        .iter()
        .filter(|f| later.contains(&f.field_id))
        .map(|f| pb::AddCollectionFieldRequest {
            collection_name: target.into(),
            schema: schema::field_to_pb(f).encode_to_vec(),
            ..Default::default()
        })
        .collect();
    Ok((create, added))
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
        .has_partition(pb::HasPartitionRequest {
            collection_name: coll.into(),
            partition_name: partition.into(),
            ..Default::default()
        })
        .await?;
    if r.value {
        return Ok(());
    }
    client
        .create_partition(pb::CreatePartitionRequest {
            collection_name: coll.into(),
            partition_name: partition.into(),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Creates the backed-up indexes, vector fields first, as milvus-backup does.
async fn create_indexes(
    client: &MilvusClient,
    coll: &CollectionBackupInfo,
    target: &str,
    auto_index: bool,
) -> Result<(), MilvusError> {
    for req in index_requests(coll, target, auto_index) {
        let (index, field) = (req.index_name.clone(), req.field_name.clone());
        let s = client.create_index(req).await?;
        check(Some(&s), "CreateIndex")
            .map_err(|e| MilvusError::Data(format!("index '{index}' on '{field}': {e}")))?;
    }
    Ok(())
}

/// The CreateIndex requests of a backed-up collection (milvus-backup `core/restore/coll_ddl_task.go`): vector
/// fields first; with `auto_index`, vector indexes as `AUTOINDEX` with their metric; `marisa-trie` is
/// `Trie` in newer releases.
fn index_requests(
    coll: &CollectionBackupInfo,
    target: &str,
    auto_index: bool,
) -> Vec<pb::CreateIndexRequest> {
    let is_vector = |field: &str| {
        coll.schema
            .iter()
            .flat_map(|s| &s.fields)
            .any(|f| f.name == field && (100..200).contains(&f.data_type.0))
    };
    let mut infos: Vec<&meta::IndexInfo> = coll.index_infos.iter().collect();
    infos.sort_by_key(|i| !is_vector(&i.field_name));
    infos
        .into_iter()
        .map(|idx| {
            let mut params = idx.params.clone();
            if auto_index && is_vector(&idx.field_name) {
                params.retain(|k, _| k == "metric_type");
                params.insert("index_type".into(), "AUTOINDEX".into());
            }
            if let Some(t) = params.get_mut("index_type")
                && t == "marisa-trie"
            {
                *t = "Trie".into();
            }
            pb::CreateIndexRequest {
                collection_name: target.into(),
                field_name: idx.field_name.clone(),
                index_name: idx.index_name.clone(),
                extra_params: params
                    .into_iter()
                    .map(|(key, value)| KeyValuePair { key, value })
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

/// Drops every index of the target collection (`--drop-exist-index`).
async fn drop_indexes(client: &MilvusClient, target: &str) -> Result<(), MilvusError> {
    let r = client
        .describe_index(pb::DescribeIndexRequest {
            collection_name: target.into(),
            ..Default::default()
        })
        .await?;
    if check(r.status.as_ref(), "DescribeIndex").is_err() {
        return Ok(()); // no index
    }
    for i in r.index_descriptions {
        client
            .drop_index(pb::DropIndexRequest {
                collection_name: target.into(),
                field_name: i.field_name,
                index_name: i.index_name,
                ..Default::default()
            })
            .await?;
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
    run: &Run<'_>,
    coll: &CollectionBackupInfo,
    target: &str,
) -> Result<Stage, MilvusError> {
    let (site, dir, options, progress, cancel) =
        (run.site, run.dir, run.options, run.progress, run.cancel);
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
    for sub in meta::collection_binlog_dirs(coll.collection_id) {
        for mut o in list_tree(&site.backups, &format!("{dir}{sub}")).await? {
            o.rel = format!("{sub}{}", o.rel);
            objects.push(o);
        }
    }
    progress.note(&format!(
        "staging {} binlogs of '{}' into {}:{prefix} (Milvus imports only from its own bucket)",
        objects.len(),
        coll.collection_name,
        site.storage.name()
    ));
    progress.stage(transfer::Stage::Staging);
    let (summary, manifest) = transfer::copy_objects(
        (&site.backups, dir),
        (&site.storage, &prefix),
        objects,
        &options.transfer,
        progress,
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

/// The paths one import job hands Milvus, as Milvus sees them.
struct ImportFiles {
    /// The insert folder (empty for deletes).
    insert: String,
    /// The delta folder, when it holds anything.
    delta: Option<String>,
    /// The storage remote's key of the insert folder (Milvus's key less the remote's root), to look at it.
    insert_rel: String,
}

/// Where Milvus reads a job's folders, and whether its delta folder holds anything (an empty one is not sent,
/// as milvus-backup does).
async fn import_files(
    run: &Run<'_>,
    stage: &Stage,
    job: &PlannedImport,
) -> Result<ImportFiles, MilvusError> {
    let bucket = run.site.bucket_prefix();
    let rel = |k: &str| k.strip_prefix(&bucket).unwrap_or(k).to_string();
    let insert = match job.kind {
        ImportKind::Rows => stage.import_path(&job.dirs.insert_dir),
        ImportKind::Deletes => String::new(),
    };
    let delta_key = stage.import_path(&job.dirs.delta_dir);
    let has_delta = !list_tree(&run.site.storage, &rel(&delta_key))
        .await?
        .is_empty();
    Ok(ImportFiles {
        insert_rel: rel(&insert),
        insert,
        delta: has_delta.then_some(delta_key),
    })
}

/// The Import request for one job on a Milvus of `version`, as milvus-backup's gRPC path builds it
/// (`internal/client/milvus/grpc.go: BulkInsert`, options from `core/restore/coll_task.go`):
/// - rows: `files = [insert dir, delta dir or ""]`, `backup=true`;
/// - L0 deletes: `files = [delta dir]`, `l0_import=true`, into the partition, or `""` for all partitions;
/// - from 2.4 on, `skip_disk_quota_check=true` first and `storage_version=N` when the segments are not v1.
///
/// Milvus 2.3 gets exactly `backup=true` (its importutil knows no other option).
fn import_request(
    target: &str,
    job: &PlannedImport,
    files: &ImportFiles,
    version: MilvusVersion,
) -> pb::ImportRequest {
    let kv = |k: &str, v: String| KeyValuePair {
        key: k.into(),
        value: v,
    };
    let modern = version >= MilvusVersion::new(2, 4, 0);
    let mut options = Vec::new();
    if modern {
        options.push(kv("skip_disk_quota_check", "true".into()));
    }
    options.push(match job.kind {
        ImportKind::Rows => kv("backup", "true".into()),
        ImportKind::Deletes => kv("l0_import", "true".into()),
    });
    if modern && job.storage_version > 0 {
        options.push(kv("storage_version", job.storage_version.to_string()));
    }
    let files = match job.kind {
        ImportKind::Rows => vec![
            files.insert.clone(),
            files.delta.clone().unwrap_or_default(),
        ],
        ImportKind::Deletes => files.delta.iter().cloned().collect(),
    };
    pb::ImportRequest {
        collection_name: target.into(),
        partition_name: job.partition.clone(),
        files,
        options,
        ..Default::default()
    }
}

/// Submits the import, records its task ids before waiting (so a killed run's job is waited for on resume,
/// not imported twice), and waits for it.
async fn run_import(
    run: &Run<'_>,
    client: &MilvusClient,
    target: &Target,
    job: &PlannedImport,
    files: &ImportFiles,
) -> Result<i64, MilvusError> {
    let req = import_request(&target.name, job, files, run.version);
    let shown = req.files.clone();
    let r = client.import(req).await?;
    check(r.status.as_ref(), "Import").map_err(|e| {
        MilvusError::Data(format!(
            "partition '{}', files {shown:?}: {e}",
            job.partition
        ))
    })?;
    run.journal.record(&JournalLine::Started {
        collection: target.key(),
        dir: job.journal_key().to_string(),
        tasks: r.tasks.clone(),
    });
    match wait_tasks(client, job, r.tasks, run.options).await? {
        TaskOutcome::Completed(rows) => Ok(rows),
        TaskOutcome::Failed(reason) => Err(MilvusError::Data(format!(
            "partition '{}', folder {}: {reason}",
            job.partition,
            job.journal_key()
        ))),
    }
}

/// How the tasks of one import ended, as Milvus tells it.
enum TaskOutcome {
    /// Every task completed; rows imported.
    Completed(i64),
    /// A task failed (its reason); nothing of the job can be trusted to be in, so it may be submitted again.
    Failed(String),
}

/// Waits for an import's tasks. An error here (Milvus unreachable past the retries, a task Milvus no longer
/// knows, the deadline) says nothing about whether the job ran, so it is an error, never a reason to submit the
/// job again.
async fn wait_tasks(
    client: &MilvusClient,
    job: &PlannedImport,
    tasks: Vec<i64>,
    options: &RestoreOptions,
) -> Result<TaskOutcome, MilvusError> {
    let mut rows = 0;
    for task in tasks {
        match wait_import(client, task, options.import_timeout)
            .await
            .map_err(|e| {
                MilvusError::Data(format!(
                    "waiting for import task {task} of {}: {e}; the job may still be running in Milvus, so \
                     it is not submitted again: run the same command again to go on waiting (or restore \
                     with --drop-exist if Milvus has lost the task)",
                    job.journal_key()
                ))
            })? {
            TaskOutcome::Completed(n) => rows += n,
            failed => return Ok(failed),
        }
    }
    Ok(TaskOutcome::Completed(rows))
}

/// The rows an import reports against the backup's meta: more is an error, and none for a segment that had
/// rows means Milvus read nothing, unless its files are where Milvus reads them and its delta logs deleted every
/// row.
async fn check_rows(
    run: &Run<'_>,
    job: &PlannedImport,
    files: &ImportFiles,
    rows: i64,
) -> Result<(), MilvusError> {
    if job.kind == ImportKind::Deletes {
        return Ok(());
    }
    let dir = &job.dirs.insert_dir;
    if rows > job.expected_rows {
        return Err(MilvusError::Data(format!(
            "Milvus imported {rows} rows from {dir}, more than the {} backed up",
            job.expected_rows
        )));
    }
    if job.expected_rows == 0 || rows > 0 {
        return Ok(());
    }
    let visible = !list_tree(&run.site.storage, &files.insert_rel)
        .await?
        .is_empty();
    if visible && files.delta.is_some() {
        run.progress.note(&format!(
            "{dir}: 0 of {} rows imported; its delta logs delete every one of them",
            job.expected_rows
        ));
        return Ok(());
    }
    // Milvus 2.3 says "completed" with 0 rows for a path it cannot see.
    Err(MilvusError::Data(format!(
        "Milvus imported 0 rows from {dir} (expected up to {}): it cannot see that path in its bucket; \
         is the remote's bucket Milvus's own bucket (or set milvus.storage_remote)?",
        job.expected_rows
    )))
}

async fn wait_import(
    client: &MilvusClient,
    task: i64,
    timeout: Duration,
) -> Result<TaskOutcome, MilvusError> {
    use super::proto::common::ImportState;
    const FAILED: i32 = ImportState::ImportFailed as i32;
    const COMPLETED: i32 = ImportState::ImportCompleted as i32;
    const FAILED_AND_CLEANED: i32 = ImportState::ImportFailedAndCleaned as i32;
    let deadline = Instant::now() + timeout;
    loop {
        let s = client
            .get_import_state(pb::GetImportStateRequest { task })
            .await?;
        match s.state {
            COMPLETED => return Ok(TaskOutcome::Completed(s.row_count)),
            FAILED | FAILED_AND_CLEANED => {
                let reason = s
                    .infos
                    .iter()
                    .find(|kv| kv.key == "failed_reason")
                    .map(|kv| kv.value.clone())
                    .unwrap_or_default();
                return Ok(TaskOutcome::Failed(format!(
                    "import task {task} failed: {reason}"
                )));
            }
            _ if Instant::now() > deadline => {
                return Err(MilvusError::Data(format!(
                    "import task {task} not done after {}s (raise --import-timeout)",
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
    /// Opens (creating it, `0600` in a `0700` folder: it names the backup and the Milvus) and locks the journal
    /// of one restore; a second run of the same restore finds it locked and gets `WouldBlock`.
    fn open(state_dir: &std::path::Path, identity: &str) -> std::io::Result<RestoreJournal> {
        let dir = state_dir.join("restores");
        crate::transfer::private_dir(&dir)?;
        let path = dir.join(format!(
            "{}.jsonl",
            &blake3::hash(identity.as_bytes()).to_hex()[..24]
        ));
        let Some(file) = crate::transfer::lock_exclusive(&path)? else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "another mbx is running this same restore (it holds {}); wait for it, or stop it, \
                     then run again",
                    path.display()
                ),
            ));
        };
        let (mut created, mut imported) = (HashSet::new(), HashSet::new());
        let mut started = std::collections::HashMap::new();
        for line in std::io::BufReader::new(&file).lines().map_while(Result::ok) {
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

    fn seg(
        id: i64,
        partition: i64,
        is_l0: bool,
        rows: i64,
        storage: i64,
    ) -> meta::SegmentBackupInfo {
        meta::SegmentBackupInfo {
            segment_id: id,
            collection_id: 1,
            partition_id: partition,
            num_of_rows: rows,
            group_id: if partition == -1 { 0 } else { id },
            is_l0,
            storage_version: storage,
            deltalogs: vec![meta::FieldBinlog {
                field_id: 0,
                binlogs: vec![meta::Binlog {
                    log_id: 70 + id,
                    log_size: 4,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        }
    }

    fn two_partitions_with_deletes() -> CollectionBackupInfo {
        CollectionBackupInfo {
            collection_id: 1,
            collection_name: "c".into(),
            partition_backups: vec![
                meta::PartitionBackupInfo {
                    partition_id: 10,
                    partition_name: "p1".into(),
                    segment_backups: vec![seg(2, 10, true, 0, 0), seg(1, 10, false, 5, 0)],
                    ..Default::default()
                },
                meta::PartitionBackupInfo {
                    partition_id: 20,
                    partition_name: "p2".into(),
                    segment_backups: vec![seg(3, 20, false, 7, 0)],
                    ..Default::default()
                },
            ],
            l0_segments: vec![seg(4, -1, true, 0, 0)],
            ..Default::default()
        }
    }

    /// milvus-backup `core/restore/coll_task.go`: per partition the segments, then its L0 deletes; the
    /// all-partition deletes after every partition, into partition "".
    #[test]
    fn l0_deletes_are_imported_after_the_rows_they_delete() {
        let jobs = plan_imports("backup/b/", &two_partitions_with_deletes()).unwrap();
        let got: Vec<(ImportKind, &str, &str, i64)> = jobs
            .iter()
            .map(|j| {
                (
                    j.kind,
                    j.partition.as_str(),
                    j.journal_key(),
                    j.expected_rows,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    ImportKind::Rows,
                    "p1",
                    "backup/b/binlogs/insert_log/1/10/1/",
                    5
                ),
                (
                    ImportKind::Deletes,
                    "p1",
                    "backup/b/binlogs/delta_log/1/10/2/",
                    0
                ),
                (
                    ImportKind::Rows,
                    "p2",
                    "backup/b/binlogs/insert_log/1/20/3/",
                    7
                ),
                (
                    ImportKind::Deletes,
                    "",
                    "backup/b/binlogs/delta_log/1/-1/4/",
                    0
                ),
            ]
        );
    }

    fn request(
        job: &PlannedImport,
        delta: bool,
        version: &str,
    ) -> (Vec<String>, String, Vec<String>) {
        let files = ImportFiles {
            insert: job.dirs.insert_dir.clone(),
            delta: delta.then(|| job.dirs.delta_dir.clone()),
            insert_rel: String::new(),
        };
        let r = import_request("t", job, &files, MilvusVersion::parse(version).unwrap());
        assert_eq!(r.collection_name, "t");
        (
            r.files,
            r.partition_name,
            r.options
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect(),
        )
    }

    /// The exact Import requests per version, after milvus-backup's gRPC path
    /// (`internal/client/milvus/grpc.go: GrpcBulkInsertInput.opts`, `BulkInsert`).
    #[test]
    fn import_requests_per_milvus_version() {
        let jobs = plan_imports("backup/b/", &two_partitions_with_deletes()).unwrap();
        let (rows, l0, all) = (&jobs[0], &jobs[1], &jobs[3]);
        let ins = "backup/b/binlogs/insert_log/1/10/1/".to_string();
        let del = "backup/b/binlogs/delta_log/1/10/1/".to_string();
        // 2.3 (importutil, tested live): exactly what mbx has always sent.
        assert_eq!(
            request(rows, true, "v2.3.5-lite"),
            (
                vec![ins.clone(), del.clone()],
                "p1".into(),
                vec!["backup=true".into()]
            )
        );
        assert_eq!(
            request(rows, false, "v2.3.5"),
            (
                vec![ins.clone(), String::new()],
                "p1".into(),
                vec!["backup=true".into()]
            )
        );
        // 2.4+: the disk quota is not checked for a restore.
        assert_eq!(
            request(rows, true, "2.4.23").2,
            ["skip_disk_quota_check=true", "backup=true"]
        );
        assert_eq!(
            request(l0, true, "2.4.23"),
            (
                vec!["backup/b/binlogs/delta_log/1/10/2/".to_string()],
                "p1".into(),
                vec!["skip_disk_quota_check=true".into(), "l0_import=true".into()]
            )
        );
        assert_eq!(
            request(all, true, "2.5.4"),
            (
                vec!["backup/b/binlogs/delta_log/1/-1/4/".to_string()],
                String::new(),
                vec!["skip_disk_quota_check=true".into(), "l0_import=true".into()]
            )
        );
        // 2.6, storage v2: the format is named, or Milvus reads the files as v1.
        let mut v2 = two_partitions_with_deletes();
        v2.partition_backups[0].segment_backups[1].storage_version = 2;
        let jobs = plan_imports("backup/b/", &v2).unwrap();
        assert_eq!(
            request(&jobs[0], false, "2.6.3").2,
            [
                "skip_disk_quota_check=true",
                "backup=true",
                "storage_version=2"
            ]
        );
    }

    #[test]
    fn one_import_job_never_mixes_storage_versions() {
        let mut c = two_partitions_with_deletes();
        let p = &mut c.partition_backups[0];
        // An old backup (group 0): one job per partition.
        p.segment_backups = vec![seg(1, 10, false, 5, 1), seg(5, 10, false, 5, 2)];
        for s in &mut p.segment_backups {
            s.group_id = 0;
        }
        let e = plan_imports("backup/b/", &c).unwrap_err();
        assert!(e.to_string().contains("storage versions"), "{e}");
    }

    fn field(id: i64, name: &str, data_type: meta::DataType) -> meta::FieldSchema {
        meta::FieldSchema {
            field_id: id,
            name: name.into(),
            data_type,
            ..Default::default()
        }
    }

    /// A 2.5/2.6 schema goes to CreateCollection whole (milvus-backup `coll_ddl_task.go`): BM25 function and its
    /// output, nullable with a default, clustering key (which milvus-backup drops), schema properties; the field
    /// added after `$meta` goes through AddCollectionField with its id.
    #[test]
    fn create_requests_carry_the_whole_schema() {
        use super::super::proto::schema as spb;
        let mut text = field(101, "text", meta::DataType::VARCHAR);
        text.type_params = vec![kv("max_length", "256"), kv("enable_analyzer", "true")];
        let mut sparse = field(102, "sparse", meta::DataType::SPARSE_FLOAT_VECTOR);
        sparse.is_function_output = true;
        let mut score = field(103, "score", meta::DataType::INT64);
        score.nullable = true;
        score.is_clustering_key = true;
        score.default_value_base64 = "GAc=".into(); // ValueField{long_data: 7}
        let mut pk = field(100, "id", meta::DataType::INT64);
        pk.is_primary_key = true;
        // $meta took 104; 105 was added later.
        let mut added = field(105, "late", meta::DataType::VARCHAR);
        added.nullable = true;
        let coll = CollectionBackupInfo {
            collection_name: "docs".into(),
            shards_num: 2,
            schema: Some(meta::CollectionSchema {
                name: "docs".into(),
                enable_dynamic_field: true,
                fields: vec![pk, text, sparse, score, added],
                properties: vec![kv("mmap.enabled", "true")],
                functions: vec![meta::FunctionSchema {
                    name: "bm25".into(),
                    function_type: meta::FunctionType::BM25,
                    input_field_names: vec!["text".into()],
                    output_field_names: vec!["sparse".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let (create, adds) = create_requests(&coll, "docs_bak").unwrap();
        let schema = spb::CollectionSchema::decode(create.schema.as_slice()).unwrap();
        assert_eq!(schema.name, "docs_bak");
        let ids: Vec<i64> = schema.fields.iter().map(|f| f.field_id).collect();
        assert_eq!(ids, [100, 101, 102, 103]);
        assert!(schema.enable_dynamic_field);
        assert_eq!(schema.functions.len(), 1);
        assert_eq!(schema.functions[0].r#type, spb::FunctionType::Bm25 as i32);
        assert_eq!(schema.functions[0].output_field_names, ["sparse"]);
        assert!(schema.fields[2].is_function_output);
        let s = &schema.fields[3];
        assert!(s.nullable && s.is_clustering_key);
        assert!(matches!(
            s.default_value.as_ref().and_then(|v| v.data.clone()),
            Some(spb::value_field::Data::LongData(7))
        ));
        assert_eq!(schema.properties[0].key, "mmap.enabled");
        assert_eq!(create.properties[0].key, "mmap.enabled");
        assert_eq!(create.shards_num, 2);
        assert_eq!(adds.len(), 1);
        assert_eq!(adds[0].collection_name, "docs_bak");
        let late = spb::FieldSchema::decode(adds[0].schema.as_slice()).unwrap();
        assert_eq!(
            (late.field_id, late.name.as_str(), late.nullable),
            (105, "late", true)
        );
    }

    #[test]
    fn one_restore_at_a_time_and_its_journal_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let state = tempfile::tempdir().unwrap();
        let first = RestoreJournal::open(state.path(), "a\nbackup/b/\nmilvus").unwrap();
        first.record(&JournalLine::Created {
            collection: "default.c".into(),
        });
        let e = RestoreJournal::open(state.path(), "a\nbackup/b/\nmilvus")
            .err()
            .unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        assert!(e.to_string().contains("same restore"), "{e}");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&first.path), 0o600);
        assert_eq!(mode(&state.path().join("restores")), 0o700);
        let path = first.path.clone();
        drop(first);
        let again = RestoreJournal::open(state.path(), "a\nbackup/b/\nmilvus").unwrap();
        assert!(again.created("default.c"));
        assert_eq!(again.path, path);
    }

    /// A database's properties (DescribeDatabase, 2.4.3+) come back when mbx creates it, less `cipher.*`;
    /// an older target is sent none (and `compat` refuses a backup that has some).
    #[test]
    fn database_properties_are_restored_where_milvus_keeps_them() {
        let info = BackupInfo {
            database_backups: vec![meta::DatabaseBackupInfo {
                db_name: "sales".into(),
                db_id: 3,
                properties: vec![
                    kv("database.replica.number", "2"),
                    kv("cipher.key", "secret"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let r = create_database_request("sales_copy", &info, "sales", MilvusVersion::new(2, 4, 3));
        assert_eq!(r.db_name, "sales_copy");
        let got: Vec<(String, String)> =
            r.properties.into_iter().map(|p| (p.key, p.value)).collect();
        assert_eq!(
            got,
            [("database.replica.number".to_string(), "2".to_string())]
        );
        let old = create_database_request("sales", &info, "sales", MilvusVersion::new(2, 3, 5));
        assert!(old.properties.is_empty());
        let other = create_database_request("x", &info, "other", MilvusVersion::new(2, 6, 3));
        assert!(other.properties.is_empty());
        let coll = CollectionBackupInfo {
            db_name: "sales".into(),
            ..Default::default()
        };
        let gate = compat::RestoreGate {
            allow_downgrade: true,
        };
        let e = compat::check_restore(&info, &[&coll], MilvusVersion::new(2, 3, 5), "t", gate)
            .unwrap_err();
        assert!(
            e.0.contains("database.replica.number") && e.0.contains("2.4.3"),
            "{e}"
        );
    }
}
