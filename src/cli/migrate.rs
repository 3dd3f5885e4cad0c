//! `mbx migrate --from a --to b -c coll --suffix _bak`: the seed page as one command. It runs create on A,
//! transfer to B and restore on B as one job; each step is resumable on its own, and a small state file
//! remembers the backup's name, so the same command run again after any interruption goes on where it
//! stopped: a finished backup is not made again, landed objects are not sent again, imported segments are not
//! imported again.
//!
//! With `--shard K/N` (and `--name`), N processes or pods share the migration: shard 0 creates the backup and
//! the others wait for it; each sends its share of the objects (the last to complete merges the manifests, as
//! `transfer --shard K/N --finish`); shard 0 then waits for the merged tree and restores. One creator and one
//! restorer, whatever order the shards end in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use super::transfer::Tuning;
use super::{BadInput, Context, exit};
use mbx::milvus::{self, BackupSite, CreateOptions, MilvusError, RestoreOptions};
use mbx::remote::RemotePath;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The remote whose Milvus is backed up (it needs a [remotes.NAME.milvus] table).
    #[arg(long)]
    from: String,
    /// The remote whose Milvus the backup is restored into.
    #[arg(long)]
    to: String,
    /// Collection to migrate (repeatable or comma-separated); every collection of --database when absent.
    #[arg(long, short = 'c', value_delimiter = ',')]
    collection: Vec<String>,
    /// The database of --collection.
    #[arg(long, short = 'd', default_value = "default")]
    database: String,
    /// What to migrate, as create's --filter (db.coll, db.*, *.*). Instead of --collection.
    #[arg(long, value_delimiter = ',', conflicts_with = "collection")]
    filter: Vec<String>,
    /// Append this to every restored collection's name.
    #[arg(long, short = 's')]
    suffix: Option<String>,
    /// Rename as restore's --rename (old:new, db1.old:db2.new, db1.*:db2.*).
    #[arg(long, short = 'r', value_delimiter = ',')]
    rename: Vec<String>,
    /// The intermediate backup's name (default backup_YYYY_MM_DD_..., remembered across re-runs).
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// Replace target collections that already exist.
    #[arg(long)]
    drop_exist: bool,
    /// Create the backed-up indexes on B.
    #[arg(long)]
    rebuild_index: bool,
    /// Remove the backup from A once B has it restored.
    #[arg(long)]
    remove_source_backup: bool,
    /// Remove the backup from B once it is restored.
    #[arg(long)]
    remove_target_backup: bool,
    /// Do not pause A's garbage collection while the backup copies.
    #[arg(long)]
    no_gc_pause: bool,
    /// Share the migration between N processes or pods (K from 0, e.g. `$JOB_COMPLETION_INDEX/8`); needs
    /// --name. Shard 0 creates and restores, every shard sends its share of the objects.
    #[arg(long, value_parser = mbx::transfer::Shard::parse, value_name = "K/N", requires = "name")]
    shard: Option<mbx::transfer::Shard>,
    /// With --shard: how long a shard waits for another's step (shard 0's backup, or the other shards'
    /// shares) before it gives up.
    #[arg(long, value_parser = mbx::config::parse_duration, default_value = "12h", value_name = "DURATION")]
    shard_wait: Duration,
    #[command(flatten)]
    tuning: Tuning,
}

/// What a migration remembers between runs.
#[derive(serde::Serialize, serde::Deserialize)]
struct MigrationState {
    name: String,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let open = |name: &str| BackupSite::open(&config, name).map_err(bad);
    let (from, to) = (open(&args.from)?, open(&args.to)?);
    let mut transfer_options = args.tuning.options()?;
    transfer_options.shard = args.shard;
    let creates = args.shard.is_none_or(|s| s.index == 0);
    let state = state_file(&transfer_options.state_dir, &args);
    let name = backup_name(&state, args.name.as_deref())?;
    let progress = ctx.progress();
    let note = |step: &str| progress.note(&format!("migrate '{name}': {step}"));

    // 1. create on A, unless a finished backup of that name is there.
    let a_dir = from.backup_dir(&name);
    if from.holds_finished(&a_dir).await? {
        note(&format!("1/3 create: done before ({}:{a_dir})", args.from));
    } else if !creates {
        note(&format!(
            "1/3 create: waiting for shard 0 to create it ({}:{a_dir})",
            args.from
        ));
        let made = wait_for(args.shard_wait, &ctx.cancel, || from.holds_finished(&a_dir)).await?;
        if let Some(code) = made {
            return Ok(code);
        }
    } else {
        note(&format!("1/3 create on {}", args.from));
        let options = CreateOptions {
            name: Some(name.clone()),
            database: args.database.clone(),
            collections: args.collection.clone(),
            filter: args.filter.clone(),
            strategy: milvus::Strategy::SerialFlush,
            pause_gc: !args.no_gc_pause,
            rbac: false,
            flush_timeout: Duration::from_secs(600),
            transfer: transfer_options.clone(),
        };
        let created =
            milvus::create_backup(&from, options, progress.clone(), ctx.cancel.clone()).await;
        if let Some(code) = stopped(created)? {
            return Ok(code);
        }
    }

    // 2. transfer A → B (a re-run sends only what has not landed).
    note(&format!("2/3 transfer to {}", args.to));
    let b_dir = to.backup_dir(&name);
    let src = RemotePath {
        remote: args.from.clone(),
        path: a_dir.trim_end_matches('/').to_string(),
    };
    let dst = RemotePath {
        remote: args.to.clone(),
        path: b_dir.trim_end_matches('/').to_string(),
    };
    let summary = mbx::transfer::transfer(
        &from.backups,
        &src,
        &to.backups,
        &dst,
        transfer_options.clone(),
        progress.clone(),
        ctx.cancel.clone(),
    )
    .await?;
    if summary.interrupted {
        eprintln!("interrupted: run the same command again to resume");
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    if !summary.ok() {
        let first = summary
            .failed
            .first()
            .map(|f| format!("{}: {}", f.key, f.reason))
            .unwrap_or_default();
        eprintln!(
            "migrate '{name}': {} object(s) could not be transferred (first: {first}); run the same command again",
            summary.failed.len()
        );
        return Ok(ExitCode::from(exit::FAILED));
    }
    if let Some(shard) = args.shard {
        let merged = mbx::transfer::finish_if_last(
            (&from.backups, &src),
            (&to.backups, &dst),
            shard,
            transfer_options.clone(),
            progress.clone(),
            ctx.cancel.clone(),
        )
        .await?;
        if merged.is_some() {
            note(&format!(
                "2/3 transfer: shard {shard} completed last and merged the shards"
            ));
        }
        if !creates {
            note(&format!(
                "shard {shard} sent its share; shard 0 restores on {}",
                args.to
            ));
            let _ = std::fs::remove_file(&state);
            progress.finish();
            return Ok(ExitCode::SUCCESS);
        }
        note(&format!(
            "2/3 transfer: waiting for every shard's share ({}:{b_dir})",
            args.to
        ));
        let merged = wait_for(args.shard_wait, &ctx.cancel, || async {
            Ok::<_, anyhow::Error>(
                mbx::transfer::shards_merged(&to.backups, &dst, shard.count).await,
            )
        })
        .await?;
        if let Some(code) = merged {
            return Ok(code);
        }
        transfer_options.shard = None;
    }

    // 3. restore on B (its own journal skips what an earlier run imported).
    note(&format!("3/3 restore on {}", args.to));
    let options = RestoreOptions {
        name: name.clone(),
        suffix: args.suffix.clone(),
        renames: milvus::Renames::parse(&args.rename).map_err(bad)?,
        drop_exist: args.drop_exist,
        rebuild_index: args.rebuild_index,
        import_timeout: Duration::from_secs(1800),
        transfer: transfer_options,
        ..Default::default()
    };
    let restored = milvus::restore_backup(&to, options, progress.clone(), ctx.cancel.clone()).await;
    if let Some(code) = stopped(restored)? {
        return Ok(code);
    }
    progress.finish();
    if args.remove_source_backup {
        milvus::delete_backup(&from.backups, &a_dir)
            .await
            .map_err(bad)?;
    }
    if args.remove_target_backup {
        milvus::delete_backup(&to.backups, &b_dir)
            .await
            .map_err(bad)?;
    }
    let _ = std::fs::remove_file(&state);
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"event": "summary", "migrate": {"name": name, "from": args.from, "to": args.to}})
        );
    } else if !ctx.quiet {
        eprintln!("migrated '{name}' from {} to {}", args.from, args.to);
    }
    Ok(ExitCode::SUCCESS)
}

fn bad(e: MilvusError) -> anyhow::Error {
    if e.is_bad_input() {
        BadInput(e.to_string()).into()
    } else {
        e.into()
    }
}

/// `None` when the step finished; the exit code when it was interrupted.
fn stopped<T>(r: Result<T, MilvusError>) -> anyhow::Result<Option<ExitCode>> {
    match r {
        Ok(_) => Ok(None),
        Err(MilvusError::Interrupted) => {
            eprintln!("interrupted: run the same command again to resume");
            Ok(Some(ExitCode::from(exit::INTERRUPTED)))
        }
        Err(e) => Err(bad(e)),
    }
}

/// Polls `done` every 2 s (one HEAD, or a few) until it says yes (`None`), for at most `limit`; the exit code when Ctrl-C stops the
/// wait. Past `limit`, an error says what was waited for.
async fn wait_for<F, Fut, E>(
    limit: Duration,
    cancel: &tokio_util::sync::CancellationToken,
    done: F,
) -> anyhow::Result<Option<ExitCode>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
    E: Into<anyhow::Error>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if done().await.map_err(Into::into)? {
            return Ok(None);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "gave up after --shard-wait {}s: the other shards' step is not done; run this shard again once it is",
                limit.as_secs()
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2).min(limit)) => {}
            _ = cancel.cancelled() => {
                eprintln!("interrupted: run the same command again to resume");
                return Ok(Some(ExitCode::from(exit::INTERRUPTED)));
            }
        }
    }
}

/// The state file of this migration: named after what it moves, so the same command finds it again.
fn state_file(state_dir: &Path, args: &Args) -> PathBuf {
    let mut identity = format!(
        "{}\n{}\n{}\n{:?}\n{:?}\n{:?}\n{:?}",
        args.from, args.to, args.database, args.collection, args.filter, args.suffix, args.rename
    );
    if let Some(shard) = args.shard {
        identity.push_str(&format!("\nshard {shard}"));
    }
    state_dir.join("migrations").join(format!(
        "{}.json",
        &blake3::hash(identity.as_bytes()).to_hex()[..24]
    ))
}

/// The backup's name: the one an earlier run of this migration chose, else `--name`, else a new default; kept
/// in the state file (0600) before anything is done.
fn backup_name(state: &Path, given: Option<&str>) -> anyhow::Result<String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let earlier = std::fs::read(state)
        .ok()
        .and_then(|b| serde_json::from_slice::<MigrationState>(&b).ok())
        .map(|s| s.name);
    let name = match (earlier, given) {
        (Some(e), Some(g)) if e != g => {
            return Err(BadInput(format!(
                "an unfinished run of this migration uses backup '{e}', not '{g}': run it again without --name \
                 (or with --name {e}) to finish it, or remove {} to start over",
                state.display()
            ))
            .into());
        }
        (Some(e), _) => e,
        (None, Some(g)) => g.to_string(),
        (None, None) => milvus::meta::default_backup_name(SystemTime::now()),
    };
    milvus::meta::validate_backup_name(&name).map_err(|e| BadInput(e.to_string()))?;
    if let Some(dir) = state.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let body = serde_json::to_vec(&MigrationState { name: name.clone() })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(state)?;
    std::io::Write::write_all(&mut f, &body)?;
    Ok(name)
}
