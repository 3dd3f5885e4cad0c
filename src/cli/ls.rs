//! `mbx ls REMOTE:PATH [-r]`.

use std::process::ExitCode;

use futures::TryStreamExt;

use super::{Context, RemotePathParser, exit};
use mbx::config::RemoteKind;
use mbx::remote::{Access, RemotePath};
use mbx::transfer::{Links, list_local};
use opendal::Metadata;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// What to list.
    #[arg(value_parser = RemotePathParser)]
    path: RemotePath,
    /// List everything below, not just one level.
    #[arg(long, short)]
    recursive: bool,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let (remote, within) = ctx.open_for(&config, &args.path, Access::Read)?;
    let dir = within.as_dir();
    remote.check_read_inside_root(&dir)?;
    if remote.config().kind == RemoteKind::Fs {
        // Walked without reading through symbolic links (OpenDAL's fs lister follows them).
        let (entries, skipped) = list_local(&remote, &dir, Links::Skip, args.recursive).await?;
        for s in skipped {
            if !ctx.quiet {
                eprintln!("warning: skipped {}{}: {}", dir, s.rel, s.reason);
            }
        }
        for (key, meta) in entries {
            if !print_entry(ctx, &dir, &key, &meta) {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut lister = remote
        .op()
        .lister_with(&dir)
        .recursive(args.recursive)
        .await
        .map_err(|e| anyhow::anyhow!("listing {}: {e}", args.path))?;
    loop {
        // A long listing stops at Ctrl-C or SIGTERM, as a transfer does.
        let next = tokio::select! {
            next = lister.try_next() => next,
            () = ctx.cancel.cancelled() => return Ok(ExitCode::from(exit::INTERRUPTED)),
        };
        let Some(entry) = next.map_err(|e| anyhow::anyhow!("listing {}: {e}", args.path))? else {
            break;
        };
        if !print_entry(ctx, &dir, entry.path(), entry.metadata()) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one entry of the listing of `dir`; false when stdout has closed (`mbx ls | head`), to stop quietly
/// as ls does.
fn print_entry(ctx: &Context, dir: &str, key: &str, m: &Metadata) -> bool {
    // The folder itself (`/` for a remote's root on some services) is not one of its entries.
    if key == dir || key == "/" || is_mbx_own(dir, key) {
        return true;
    }
    let mtime = m.last_modified().map(|t| t.to_string()).unwrap_or_default();
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"key": key, "size": m.content_length(), "dir": m.is_dir(),
                "etag": m.etag(), "mtime": mtime})
        );
    } else {
        mbx::outln!("{:>14} {:<25} {}", m.content_length(), mtime, key);
    }
    !mbx::stdout::closed()
}

/// True for mbx's own folder (`.mbx/`, the manifest and temporary files) below the listed folder `dir`: not
/// part of the data, so not listed (name `.mbx/` itself to see it).
fn is_mbx_own(dir: &str, key: &str) -> bool {
    key.strip_prefix(dir)
        .is_some_and(|rel| rel.split('/').any(|c| c == ".mbx"))
}

#[cfg(test)]
mod tests {
    use super::is_mbx_own;

    #[test]
    fn mbx_own_folder_is_hidden_below_the_listed_folder_only() {
        assert!(is_mbx_own("", ".mbx/"));
        assert!(is_mbx_own("", "tree/.mbx/manifest.json"));
        assert!(is_mbx_own("tree/", "tree/.mbx/"));
        assert!(!is_mbx_own("tree/.mbx/", "tree/.mbx/manifest.json"));
        assert!(!is_mbx_own("", "tree/x.mbx"));
    }
}
