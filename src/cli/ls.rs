//! `mbx ls REMOTE:PATH [-r]`.

use std::process::ExitCode;

use futures::TryStreamExt;

use super::{Context, remote_path};
use mbx::remote::RemotePath;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// What to list.
    #[arg(value_parser = remote_path)]
    path: RemotePath,
    /// List everything below, not just one level.
    #[arg(long, short)]
    recursive: bool,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let remote = ctx.open(&config, &args.path)?;
    let dir = args.path.as_dir();
    let mut lister = remote
        .op()
        .lister_with(&dir)
        .recursive(args.recursive)
        .await
        .map_err(|e| anyhow::anyhow!("listing {}: {e}", args.path))?;
    while let Some(entry) = lister
        .try_next()
        .await
        .map_err(|e| anyhow::anyhow!("listing {}: {e}", args.path))?
    {
        // The folder itself (`/` for a remote's root on some services) is not one of its entries.
        if entry.path() == dir || entry.path() == "/" {
            continue;
        }
        let m = entry.metadata();
        let mtime = m.last_modified().map(|t| t.to_string()).unwrap_or_default();
        if ctx.json {
            mbx::outln!(
                "{}",
                serde_json::json!({"key": entry.path(), "size": m.content_length(), "dir": m.is_dir(),
                    "etag": m.etag(), "mtime": mtime})
            );
        } else {
            mbx::outln!("{:>14} {:<25} {}", m.content_length(), mtime, entry.path());
        }
        // `mbx ls | head` closes the pipe early: stop quietly then, as ls does.
        if mbx::stdout::closed() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
