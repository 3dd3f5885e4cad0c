//! `mbx check NAME`: probe a remote with every operation mbx needs and say which work.

use std::process::ExitCode;
use std::time::Instant;

use futures::TryStreamExt;

use super::{Context, exit};
use mbx::remote::RemotePath;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The remote to probe (optionally REMOTE:PATH to probe under a prefix).
    remote: String,
}

pub(crate) async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let path: RemotePath = if args.remote.contains(':') {
        args.remote.parse().map_err(super::BadInput)?
    } else {
        RemotePath {
            remote: args.remote.clone(),
            path: String::new(),
        }
    };
    let remote = ctx.open(&config, &path)?;
    let op = remote.op();
    let nonce =
        blake3::hash(format!("{:?}{}", Instant::now(), std::process::id()).as_bytes()).to_hex();
    let key = format!("{}.mbx-check-{}", path.as_dir(), &nonce[..16]);
    let body = format!("mbx check {nonce}").into_bytes();
    let mut failures = 0;
    let mut step = |name: &str, started: Instant, result: Result<String, String>| {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let ok = result.is_ok();
        if !ok {
            failures += 1;
        }
        let detail = result.unwrap_or_else(|e| e);
        if ctx.json {
            mbx::outln!(
                "{}",
                serde_json::json!({"step": name, "ok": ok, "ms": ms, "detail": detail})
            );
        } else {
            mbx::outln!(
                "{:<8} {:<4} {:>8.1} ms  {detail}",
                name,
                if ok { "ok" } else { "FAIL" },
                ms
            );
        }
    };
    let t = Instant::now();
    let wrote = op.write(&key, body.clone()).await;
    step(
        "write",
        t,
        wrote
            .as_ref()
            .map(|_| key.clone())
            .map_err(|e| e.to_string()),
    );
    let t = Instant::now();
    let stat = op.stat(&key).await;
    step(
        "stat",
        t,
        stat.map(|m| format!("{} bytes", m.content_length()))
            .map_err(|e| e.to_string()),
    );
    let t = Instant::now();
    let read = op.read(&key).await;
    step(
        "read",
        t,
        match read {
            Ok(b) if b.to_vec() == body => Ok("content matches".into()),
            Ok(_) => Err("content differs from what was written".into()),
            Err(e) => Err(e.to_string()),
        },
    );
    let t = Instant::now();
    let listed = async {
        let entries: Vec<_> = op.lister(&path.as_dir()).await?.try_collect().await?;
        Ok::<_, opendal::Error>(entries.iter().any(|e| e.path() == key))
    }
    .await;
    step(
        "list",
        t,
        match listed {
            Ok(true) => Ok("probe listed".into()),
            Ok(false) => Err("probe not listed".into()),
            Err(e) => Err(e.to_string()),
        },
    );
    let t = Instant::now();
    let deleted = op.delete(&key).await;
    step(
        "delete",
        t,
        deleted
            .map(|_| "probe removed".into())
            .map_err(|e| e.to_string()),
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}
