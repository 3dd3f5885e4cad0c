//! `mbx create`, `mbx restore`, `mbx list`, `mbx get`, `mbx delete`: Milvus backups on a remote.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::transfer::Tuning;
use super::{BadInput, Context, exit};
use mbx::config::{BackupYaml, parse_duration};
use mbx::milvus::{self, BackupSite, CreateOptions, MilvusError, RestoreOptions};
use mbx::remote::Remote;

/// Which remote (and so which Milvus) to work with.
#[derive(clap::Args)]
pub(crate) struct Site {
    /// The remote holding the backups; its [remotes.NAME.milvus] table names the Milvus instance.
    #[arg(long, required_unless_present = "backup_yaml")]
    remote: Option<String>,
    /// Use a milvus-backup backup.yaml (config v1 or v2; see docs/remotes.md) instead of a remote.
    #[arg(long, value_name = "FILE", conflicts_with = "remote")]
    backup_yaml: Option<PathBuf>,
}

impl Site {
    fn open(&self, ctx: &Context) -> anyhow::Result<BackupSite> {
        if let Some(path) = &self.backup_yaml {
            let text = std::fs::read_to_string(path)
                .map_err(|e| BadInput(format!("reading {}: {e}", path.display())))?;
            let (backup, storage) = BackupYaml::parse(&text)
                .and_then(|y| y.into_remotes("backup_yaml"))
                .map_err(BadInput)?;
            let milvus = backup
                .milvus
                .clone()
                .ok_or_else(|| BadInput("backup.yaml has no milvus section".into()))?;
            let backups = Remote::open(&backup)?;
            let storage = match storage {
                Some(s) => Remote::open(&s)?,
                None => backups.clone(),
            };
            return Ok(BackupSite::from_parts(backups, storage, milvus));
        }
        let config = ctx.remotes()?;
        let name = self.remote.as_deref().unwrap_or_default();
        BackupSite::open(&config, name).map_err(milvus_err)
    }
}

fn milvus_err(e: MilvusError) -> anyhow::Error {
    if e.is_bad_input() {
        BadInput(e.to_string()).into()
    } else {
        e.into()
    }
}

fn outcome<T>(r: Result<T, MilvusError>) -> anyhow::Result<Result<T, ExitCode>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(MilvusError::Interrupted) => {
            eprintln!("interrupted: run the same command again to resume");
            Ok(Err(ExitCode::from(exit::INTERRUPTED)))
        }
        Err(e) => Err(milvus_err(e)),
    }
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

fn strategy_arg(s: &str) -> Result<milvus::Strategy, String> {
    s.parse()
}

#[derive(clap::Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    site: Site,
    /// Collection to back up (repeatable or comma-separated); every collection of the database when absent.
    #[arg(long, short = 'c', alias = "colls", value_delimiter = ',')]
    collection: Vec<String>,
    /// The database of --collection.
    #[arg(long, short = 'd', default_value = "default")]
    database: String,
    /// What to back up, as milvus-backup's --filter: db.coll, db.* (a whole database), coll (in --database),
    /// *.* (every database); comma-separated or repeated. Instead of --collection.
    #[arg(long, value_delimiter = ',', conflicts_with = "collection")]
    filter: Vec<String>,
    /// Whole databases to back up (milvus-backup 0.5's --databases): the same as --filter DB.* for each.
    #[arg(long, value_delimiter = ',', conflicts_with = "collection")]
    databases: Vec<String>,
    /// auto or serial_flush (flush each collection first), skip_flush (only what is already persisted: for
    /// busy clusters, the newest rows may be missing), meta_only (schemas, partitions, indexes; no data).
    #[arg(long, default_value = "auto", value_parser = strategy_arg)]
    strategy: milvus::Strategy,
    /// The same as --strategy skip_flush (milvus-backup 0.5's --force).
    #[arg(long, short = 'f', conflicts_with = "strategy")]
    force: bool,
    /// The same as --strategy meta_only.
    #[arg(long, alias = "meta_only", conflicts_with_all = ["strategy", "force"])]
    meta_only: bool,
    /// Do not pause Milvus's garbage collection while copying (by default mbx pauses it, as milvus-backup
    /// does, so that compaction cannot remove binlogs a long backup has listed; a server without the
    /// management endpoint only gets a warning).
    #[arg(long)]
    no_gc_pause: bool,
    /// Back up users, roles, grants and privilege groups too (Milvus 2.4 and newer).
    #[arg(long)]
    rbac: bool,
    /// Backup name (letters, digits, _; default backup_YYYY_MM_DD_HH_MM_SS_<nanos>).
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// How long to wait for Milvus to flush.
    #[arg(long, value_parser = duration_arg, default_value = "10m")]
    flush_timeout: Duration,
    #[command(flatten)]
    tuning: Tuning,
}

pub(crate) async fn create(ctx: &Context, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let site = args.site.open(ctx)?;
    let strategy = if args.force {
        milvus::Strategy::SkipFlush
    } else if args.meta_only {
        milvus::Strategy::MetaOnly
    } else {
        args.strategy
    };
    let mut filter = args.filter;
    filter.extend(args.databases.iter().map(|d| format!("{d}.*")));
    let options = CreateOptions {
        name: args.name,
        database: args.database,
        collections: args.collection,
        filter,
        strategy,
        pause_gc: !args.no_gc_pause && strategy != milvus::Strategy::MetaOnly,
        rbac: args.rbac,
        flush_timeout: args.flush_timeout,
        // A binlog an earlier backup beside this one already holds (same key, size and source ETag) is copied
        // from that backup, on the backup store's side, not read again from Milvus's storage.
        transfer: mbx::transfer::TransferOptions {
            dedup: true,
            ..args.tuning.options()?
        },
    };
    let progress = ctx.progress();
    let summary = match outcome(
        milvus::create_backup(&site, options, progress.clone(), ctx.cancel.clone()).await,
    )? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    progress.finish();
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"event": "summary", "backup": summary})
        );
    } else if !ctx.quiet {
        eprintln!(
            "backup '{}' created at {}: {} collection(s), {} segment(s), {} objects, {:.1} MiB ({} copied now) in {:.1}s",
            summary.name,
            summary.location,
            summary.collections,
            summary.segments,
            summary.objects,
            summary.bytes as f64 / 1048576.0,
            summary.copied,
            summary.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    site: Site,
    /// The backup to restore.
    #[arg(long, short = 'n')]
    name: String,
    /// Append this to every restored collection's name.
    #[arg(long, short = 's')]
    suffix: Option<String>,
    /// Rename: old:new (a collection, in its database), db1.old:db2.new, db1.*:db2.* (a whole database);
    /// comma-separated or repeated.
    #[arg(long, short = 'r', value_delimiter = ',')]
    rename: Vec<String>,
    /// Restore only this collection (repeatable; the name in the backup).
    #[arg(long, short = 'c', alias = "collections", value_delimiter = ',')]
    collection: Vec<String>,
    /// Drop a target collection that already exists.
    #[arg(long, alias = "drop_exist_collection", alias = "drop-exist-collection")]
    drop_exist: bool,
    /// Import into collections that already exist (same field ids), creating none.
    #[arg(long, alias = "skip_create_collection")]
    skip_create_collection: bool,
    /// Create the backed-up indexes too (before the data, as milvus-backup does).
    #[arg(
        long,
        alias = "rebuild_index",
        alias = "restore_index",
        alias = "restore-index"
    )]
    rebuild_index: bool,
    /// With --rebuild-index: create vector indexes as AUTOINDEX (same metric), for another hardware or version.
    #[arg(long, alias = "use_auto_index")]
    use_auto_index: bool,
    /// Drop the target collection's indexes before creating the backed-up ones.
    #[arg(long, alias = "drop_exist_index")]
    drop_exist_index: bool,
    /// Create collections and partitions only, no data.
    #[arg(long, alias = "meta_only")]
    meta_only: bool,
    /// Do not re-read the backup against its manifest before restoring.
    #[arg(long)]
    skip_verify: bool,
    /// Keep the copy staged in Milvus's bucket (when the backup is in another bucket).
    #[arg(long)]
    keep_temp: bool,
    /// Deadline of one import job.
    #[arg(long, value_parser = duration_arg, default_value = "30m")]
    import_timeout: Duration,
    /// Restore into a Milvus older than the one the backup was taken from. RISK: an older server may misread
    /// binlogs a newer one wrote, or lack what the collection uses; mbx still refuses what it knows the target
    /// cannot import (L0 deletes, storage v2, functions, nullable fields...), but not what it does not know.
    #[arg(long)]
    allow_downgrade: bool,
    /// Restore the backup's users, roles, grants and privilege groups that the target lacks (Milvus 2.4+).
    #[arg(long)]
    rbac: bool,
    #[command(flatten)]
    tuning: Tuning,
}

pub(crate) async fn restore(ctx: &Context, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let site = args.site.open(ctx)?;
    let options = RestoreOptions {
        name: args.name,
        suffix: args.suffix,
        renames: milvus::Renames::parse(&args.rename).map_err(milvus_err)?,
        collections: args.collection,
        drop_exist: args.drop_exist,
        skip_create: args.skip_create_collection,
        use_auto_index: args.use_auto_index,
        drop_exist_index: args.drop_exist_index,
        rebuild_index: args.rebuild_index,
        meta_only: args.meta_only,
        skip_verify: args.skip_verify,
        keep_temp: args.keep_temp,
        import_timeout: args.import_timeout,
        allow_downgrade: args.allow_downgrade,
        rbac: args.rbac,
        transfer: args.tuning.options()?,
    };
    let progress = ctx.progress();
    let summary = match outcome(
        milvus::restore_backup(&site, options, progress.clone(), ctx.cancel.clone()).await,
    )? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    progress.finish();
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"event": "summary", "restore": summary})
        );
    } else if !ctx.quiet {
        for c in &summary.collections {
            eprintln!(
                "restored '{}' as '{}': {} import job(s) now, {} done before, {} rows",
                c.source, c.target, c.imported, c.skipped, c.rows
            );
        }
        eprintln!("restore finished in {:.1}s", summary.seconds);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    site: Site,
}

pub(crate) async fn list(ctx: &Context, args: ListArgs) -> anyhow::Result<ExitCode> {
    let site = args.site.open(ctx)?;
    let backups = milvus::list_backups(&site.backups, &site.milvus.backup_root)
        .await
        .map_err(milvus_err)?;
    for b in backups {
        if ctx.json {
            mbx::outln!("{}", serde_json::to_value(&b).unwrap_or_default());
        } else if b.complete {
            mbx::outln!(
                "{}\t{:.1} MiB\t{}\t{}",
                b.name,
                b.size as f64 / 1048576.0,
                b.milvus_version,
                b.collections.join(",")
            );
        } else {
            mbx::outln!(
                "{}\t(incomplete: no meta; an interrupted create, resumed by running it again)",
                b.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub(crate) struct NameArgs {
    #[command(flatten)]
    site: Site,
    /// The backup.
    #[arg(long, short = 'n')]
    name: String,
}

pub(crate) async fn get(ctx: &Context, args: NameArgs) -> anyhow::Result<ExitCode> {
    let site = args.site.open(ctx)?;
    let info = milvus::get_backup(&site.backups, &site.backup_dir(&args.name))
        .await
        .map_err(milvus_err)?;
    if ctx.json {
        mbx::outln!("{}", serde_json::to_string(&info).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    mbx::outln!(
        "backup {} ({}), Milvus {}, {:.1} MiB",
        info.name,
        info.id,
        info.milvus_version,
        info.size as f64 / 1048576.0
    );
    for c in &info.collection_backups {
        mbx::outln!(
            "  collection {}.{} (id {}), {} shard(s), indexes: {}",
            c.db_name,
            c.collection_name,
            c.collection_id,
            c.shards_num,
            c.index_infos
                .iter()
                .map(|i| format!("{}:{}", i.field_name, i.index_type))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for p in &c.partition_backups {
            let rows: i64 = p.segment_backups.iter().map(|s| s.num_of_rows).sum();
            mbx::outln!(
                "    partition {}: {} segment(s), {} rows, {:.1} MiB",
                p.partition_name,
                p.segment_backups.len(),
                rows,
                p.size as f64 / 1048576.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn delete(ctx: &Context, args: NameArgs) -> anyhow::Result<ExitCode> {
    let site = args.site.open(ctx)?;
    mbx::milvus::meta::validate_backup_name(&args.name).map_err(|e| BadInput(e.to_string()))?;
    let dir = site.backup_dir(&args.name);
    let n = milvus::delete_backup(&site.backups, &dir)
        .await
        .map_err(milvus_err)?;
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"event": "deleted", "backup": args.name, "objects": n})
        );
    } else if !ctx.quiet {
        eprintln!(
            "deleted backup '{}' ({} objects) from {}:{dir}",
            args.name,
            n,
            site.backups.name()
        );
    }
    Ok(ExitCode::SUCCESS)
}
