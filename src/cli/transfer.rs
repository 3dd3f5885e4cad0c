//! `mbx transfer SRC DST` and `mbx verify REMOTE:PATH`.

use std::process::ExitCode;

use super::{BadInput, Context, RemotePathParser, exit};
use mbx::config::parse_size;
use mbx::remote::{Access, Remote, RemotePath};
use mbx::transfer::{Summary, TransferOptions, VerifyReport, transfer, verify_tree};

/// The largest power of two S3 takes as a part.
const MAX_PART_SIZE: u64 = 4 << 30;

fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s)
}

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Source: REMOTE:PATH (a folder, or one object).
    #[arg(value_parser = RemotePathParser)]
    src: RemotePath,
    /// Destination: REMOTE:PATH. Ending in `/`, it receives the source's last component (like `cp -r`):
    /// `a:backup/my_backup b:backup/` lands at `b:backup/my_backup/`.
    #[arg(value_parser = RemotePathParser)]
    dst: RemotePath,
    #[command(flatten)]
    tuning: Tuning,
    /// Re-read the destination afterwards and check every object against the manifest.
    #[arg(long)]
    verify: bool,
    /// Only list what would be copied.
    #[arg(long)]
    dry_run: bool,
    /// Stop at the first object that fails (default: finish the others, then report).
    #[arg(long)]
    fail_fast: bool,
    /// Always stream through mbx, even when both sides are the same store.
    #[arg(long)]
    no_server_side: bool,
    /// Send every object from the source, even one that a tree beside the destination already holds (by
    /// default such an object, found by its BLAKE3 in that tree's manifest, is copied on the destination's
    /// side and does not cross the link).
    #[arg(long)]
    no_dedup: bool,
    /// On a local (fs) source, copy the file a symbolic link points to when that file is inside the root
    /// (default: skip every link with a warning, as rclone does). Links out of the root are never followed.
    #[arg(long, short = 'L')]
    follow_links: bool,
    /// Copy only shard K of N (K from 0, e.g. `$JOB_COMPLETION_INDEX/8` in a Kubernetes Indexed Job): the
    /// objects whose key hashes to K. Each shard has its own journal and leaves the manifest of its share;
    /// `--shards N --finish` then merges them, or, with `--shard K/N --finish`, the last shard to complete does.
    #[arg(long, value_parser = mbx::transfer::Shard::parse, value_name = "K/N", conflicts_with = "shards")]
    shard: Option<mbx::transfer::Shard>,
    /// With --finish: the number of shards the transfer was split into.
    #[arg(long, value_name = "N", requires = "finish", value_parser = clap::value_parser!(u32).range(1..=i64::from(mbx::transfer::MAX_SHARDS)))]
    shards: Option<u32>,
    /// With --shards N: check that every shard completed and every source object is in one of their manifests,
    /// then write the tree's manifest from theirs (with --verify, then verify the tree). With --shard K/N: once
    /// this shard has completed, do the same if every other shard has too (the last shard to complete merges).
    #[arg(long)]
    finish: bool,
    /// Bandwidth limit per remote, bytes per second (e.g. 10MiB); 0 is no limit (also over a remote's own).
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    bwlimit: Option<u64>,
}

/// Knobs shared by the commands that move or read data.
#[derive(clap::Args, Clone)]
pub(crate) struct Tuning {
    /// Bound on the memory used for data buffers: peak ≈ this plus a small constant, whatever the objects.
    #[arg(long, value_parser = size_arg, default_value = "160MiB", value_name = "SIZE")]
    max_memory: u64,
    /// Objects in flight [default: as many as both remotes' requests in flight, 128 with their defaults, more
    /// on a remote far away (a small object is a GET on one side, then a PUT on the other, so both stay busy);
    /// 128 under a bandwidth limit].
    #[arg(long, value_name = "N")]
    transfers: Option<usize>,
    /// Objects larger than this are multipart uploads with parts of this size (min 5MiB; rounded up to a
    /// power of two, so that each part is a whole BLAKE3 subtree).
    #[arg(long, value_parser = size_arg, default_value = "8MiB", value_name = "SIZE")]
    part_size: u64,
    /// Parts of one object uploading at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    parts: usize,
    /// Retries per object (each request also retries on its own).
    #[arg(long, default_value_t = 3, value_name = "N")]
    retries: usize,
}

impl Tuning {
    pub(crate) fn options(&self) -> Result<TransferOptions, BadInput> {
        if self.part_size < 5 << 20 {
            return Err(BadInput(
                "--part-size must be at least 5MiB (the S3 minimum part size)".into(),
            ));
        }
        if self.part_size > MAX_PART_SIZE {
            return Err(BadInput(
                "--part-size must be at most 4GiB (S3 takes parts of up to 5 GiB, and parts are powers of two)"
                    .into(),
            ));
        }
        if self.transfers == Some(0) || self.parts == 0 {
            return Err(BadInput(
                "--transfers and --parts must be at least 1".into(),
            ));
        }
        let options = TransferOptions {
            part_size: self.part_size,
            parts_in_flight: self.parts,
            transfers: self.transfers,
            memory_limit: self.max_memory,
            object_retries: self.retries,
            ..TransferOptions::default()
        };
        if options.object_footprint(options.part_size + 1) > self.max_memory {
            return Err(BadInput(format!(
                "--max-memory {} MiB cannot hold one large object ({} MiB = part size x (parts + 3)); raise it or lower --part-size/--parts",
                self.max_memory >> 20,
                options.object_footprint(options.part_size + 1) >> 20
            )));
        }
        Ok(options)
    }
}

/// Opens the remote of `path` for `access`, with `--bwlimit` (when given) replacing its own `bwlimit`.
fn open_with_bwlimit(
    config: &mbx::config::RemotesConfig,
    path: &RemotePath,
    bwlimit: Option<u64>,
    access: Access,
) -> anyhow::Result<(Remote, RemotePath)> {
    let (mut remote, within) = config.locate(&path.remote, &path.path)?;
    if let Some(bw) = bwlimit {
        // 0 is no limit, as in rclone.
        remote.settings.bwlimit = (bw > 0).then_some(bw);
    }
    let within = RemotePath {
        remote: path.remote.clone(),
        path: within,
    };
    Ok((Remote::open_for(&remote, access)?, within))
}

pub(crate) async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let (src, src_path) = open_with_bwlimit(&config, &args.src, args.bwlimit, Access::Read)?;
    // A dry run writes nothing, not even mbx's own folders at the destination.
    let dst_access = if args.dry_run {
        Access::Plan
    } else {
        Access::Write
    };
    let (dst, dst_path) = open_with_bwlimit(&config, &args.dst, args.bwlimit, dst_access)?;
    let mut options = args.tuning.options()?;
    let throttled = [&src, &dst]
        .iter()
        .any(|r| r.config().settings.bwlimit.is_some());
    if throttled && options.part_size > u64::from(mbx::remote::MAX_THROTTLED_REQUEST) {
        return Err(BadInput(
            "with a bandwidth limit (--bwlimit or a remote's bwlimit), --part-size must be at most 16MiB".into(),
        )
        .into());
    }
    options.verify = args.verify;
    options.dry_run = args.dry_run;
    options.fail_fast = args.fail_fast;
    options.server_side = !args.no_server_side;
    options.dedup = !args.no_dedup;
    if args.follow_links {
        options.links = mbx::transfer::Links::Follow;
    }
    options.shard = args.shard;
    if args.finish && args.shards.is_none() && args.shard.is_none() {
        return Err(BadInput(
            "--finish needs --shards N (merge the shards now) or --shard K/N (merge once this shard and all \
             others have completed)"
                .into(),
        )
        .into());
    }
    let progress = ctx.progress();
    if let (true, Some(count)) = (args.finish, args.shards) {
        let summary = mbx::transfer::finish_shards(
            (&src, &src_path),
            (&dst, &dst_path),
            count,
            options,
            progress.clone(),
            ctx.cancel.clone(),
        )
        .await?;
        progress.finish();
        print_summary(ctx, &summary);
        return Ok(exit_code(summary.interrupted, summary.ok()));
    }
    let mut summary = transfer(
        &src,
        &src_path,
        &dst,
        &dst_path,
        options.clone(),
        progress.clone(),
        ctx.cancel.clone(),
    )
    .await?;
    if let (true, Some(shard)) = (args.finish, args.shard)
        && summary.ok()
        && !summary.interrupted
        && !args.dry_run
    {
        let merged = mbx::transfer::finish_if_last(
            (&src, &src_path),
            (&dst, &dst_path),
            shard,
            options,
            progress.clone(),
            ctx.cancel.clone(),
        )
        .await?;
        match merged {
            Some(merged) => {
                progress.note(&format!(
                    "shard {shard} completed last: merged the manifests of all {} shards",
                    shard.count
                ));
                summary.manifest = merged.manifest;
            }
            None => progress.note(&format!(
                "shard {shard} completed; the last of the {} shards to complete merges their manifests",
                shard.count
            )),
        }
    }
    progress.finish();
    print_summary(ctx, &summary);
    Ok(exit_code(summary.interrupted, summary.ok()))
}

fn exit_code(interrupted: bool, ok: bool) -> ExitCode {
    if interrupted {
        ExitCode::from(exit::INTERRUPTED)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    }
}

fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1048576.0 / seconds.max(0.001)
}

fn print_summary(ctx: &Context, s: &Summary) {
    if ctx.json {
        let mut v = serde_json::to_value(s).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("event".into(), "summary".into());
        }
        mbx::outln!("{v}");
        return;
    }
    if !s.would_copy.is_empty()
        || (s.copied == 0 && s.failed.is_empty() && s.manifest.is_none() && !s.interrupted)
    {
        for key in &s.would_copy {
            mbx::outln!("would copy {key}");
        }
        mbx::outln!(
            "dry run: {} objects would be copied, {} already at {}{}",
            s.would_copy.len(),
            s.skipped,
            s.destination,
            links_skipped(s)
        );
        return;
    }
    if ctx.quiet && s.ok() {
        return;
    }
    let resumed = if s.resumed_bytes > 0 {
        format!(
            ", {:.1} MiB of it landed in an earlier run",
            s.resumed_bytes as f64 / 1048576.0
        )
    } else {
        String::new()
    };
    let sent = s.sent_bytes;
    eprintln!(
        "{} objects copied ({:.1} MiB{resumed}; {:.1}s, {:.1} MiB/s), {} already there, {} failed{} → {}",
        s.copied,
        s.copied_bytes as f64 / 1048576.0,
        s.seconds,
        mib_per_s(sent, s.seconds),
        s.skipped,
        s.failed.len(),
        links_skipped(s),
        s.destination
    );
    if s.found > 0 {
        eprintln!(
            "  {} of them ({:.1} MiB) were already at the destination in another tree and copied there: \
             {:.1} MiB sent",
            s.found,
            s.found_bytes as f64 / 1048576.0,
            s.sent_bytes as f64 / 1048576.0
        );
    }
    if let Some(other) = &s.replaced_manifest_of {
        eprintln!(
            "  the manifest there was written from {other}, and now describes this source instead"
        );
    }
    for f in &s.failed {
        eprintln!("  failed: {}: {}", f.key, f.reason);
    }
    if s.interrupted {
        eprintln!("interrupted: run the same command again to resume");
    }
    if let Some(v) = &s.verify {
        print_verify(v);
    }
}

fn links_skipped(s: &Summary) -> String {
    match s.skipped_links {
        0 => String::new(),
        n => format!(", {n} symbolic links skipped"),
    }
}

fn print_verify(v: &VerifyReport) {
    for m in &v.repaired {
        eprintln!(
            "  REPAIRED {}: {} (copied again, now verified)",
            m.key, m.reason
        );
    }
    for m in &v.mismatches {
        eprintln!("  MISMATCH {}: {}", m.key, m.reason);
    }
    eprintln!(
        "verify: {} objects checked ({:.1} MiB), {} mismatched{}",
        v.checked,
        v.bytes as f64 / 1048576.0,
        v.mismatches.len(),
        if v.interrupted { ", interrupted" } else { "" }
    );
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The tree to verify: REMOTE:PATH holding `.mbx/manifest.json`.
    #[arg(value_parser = RemotePathParser)]
    path: RemotePath,
    #[command(flatten)]
    tuning: Tuning,
}

pub(crate) async fn verify(ctx: &Context, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let (remote, within) = ctx.open_for(&config, &args.path, Access::Read)?;
    remote.check_read_inside_root(&within.as_dir())?;
    let options = args.tuning.options()?;
    let progress = ctx.progress();
    let report = verify_tree(
        &remote,
        &within.as_dir(),
        &options,
        progress.clone(),
        ctx.cancel.clone(),
    )
    .await?;
    progress.finish();
    if ctx.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("event".into(), "summary".into());
        }
        mbx::outln!("{v}");
    } else if !ctx.quiet || !report.ok() {
        print_verify(&report);
        if !report.mismatches.is_empty() {
            eprintln!(
                "to copy the mismatched objects again, run the transfer that wrote {} again with --verify",
                args.path
            );
        }
    }
    Ok(exit_code(report.interrupted, report.ok()))
}
