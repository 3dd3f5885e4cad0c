//! `mbx cleanup [REMOTE:PREFIX]`: abort what abandoned transfers left behind.

use std::process::ExitCode;
use std::time::Duration;

use super::{Context, RemotePathParser, exit};
use mbx::remote::RemotePath;
use mbx::transfer::{
    CleanupReport, CleanupScope, cleanup_journals, cleanup_remote, default_state_dir,
};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Also ask this remote's server for every unfinished upload under PREFIX (S3 multipart uploads, `fs`
    /// partial files), whoever started it. Without it, only the uploads named in mbx's journals.
    #[arg(value_parser = RemotePathParser)]
    remote: Option<RemotePath>,
    /// Leave alone what was started or written less than this long ago (e.g. 30m, 24h, 0s).
    #[arg(long, default_value = "24h", value_parser = mbx::config::parse_duration)]
    older_than: Duration,
    /// Only list what would be aborted.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let state_dir = default_state_dir();
    // With REMOTE:PREFIX, only the journals of transfers into it.
    let scope = args.remote.as_ref().map(|p| CleanupScope {
        remote: &p.remote,
        prefix: &p.path,
    });
    let mut report = cleanup_journals(&config, &state_dir, args.older_than, args.dry_run, scope)
        .await
        .map_err(|e| anyhow::anyhow!("reading the journals in {}: {e}", state_dir.display()))?;
    if let Some(path) = &args.remote {
        let (remote, within) = ctx.open(&config, path)?;
        match cleanup_remote(
            &remote,
            &within.path,
            args.older_than,
            args.dry_run,
            &state_dir,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            Some(found) => {
                // A journal's upload is also on the server's list (in a dry run, still there).
                let known: std::collections::HashSet<String> =
                    report.uploads.iter().map(|u| u.upload_id.clone()).collect();
                report.uploads.extend(
                    found
                        .uploads
                        .into_iter()
                        .filter(|u| !known.contains(&u.upload_id)),
                );
                report.stale_files_removed += found.stale_files_removed;
            }
            None => eprintln!(
                "note: remote '{}' cannot list unfinished uploads ({}); only journals were cleaned",
                remote.name(),
                remote.config().kind
            ),
        }
    }
    print(ctx, &report, args.dry_run);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}

fn print(ctx: &Context, report: &CleanupReport, dry_run: bool) {
    if ctx.json {
        mbx::outln!("{}", serde_json::to_string(report).unwrap_or_default());
        return;
    }
    for u in &report.uploads {
        let key = if u.key.is_empty() {
            "(partial file)"
        } else {
            &u.key
        };
        mbx::outln!("{}\t{}:{key}\t{}", u.outcome, u.remote, u.upload_id);
    }
    for (path, why) in &report.journals_kept {
        if !ctx.quiet {
            eprintln!("kept journal {}: {why}", path.display());
        }
    }
    if !ctx.quiet {
        let verb = if dry_run { "would remove" } else { "removed" };
        eprintln!(
            "{} unfinished uploads found; {verb} {} journals; removed {} stale temporary files",
            report.uploads.len(),
            report.journals_removed.len(),
            report.stale_files_removed
        );
    }
}
