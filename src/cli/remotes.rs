//! `mbx remotes`: the configured remotes, secrets redacted, each with where it came from (the remotes file,
//! rclone's config or mc's); exit 2 when one of the remotes file's has an error.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::{Context, exit};

pub(crate) async fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let own_source = config.source.to_string();
    let mut broken = 0;
    for (name, remote) in config.iter() {
        broken += usize::from(remote.is_err());
        match remote {
            Ok(r) => line(
                ctx,
                name,
                r.kind.name(),
                &r.redacted(),
                &own_source,
                r.milvus.as_ref().map(|m| m.address.as_str()),
            ),
            Err(e) => error_line(ctx, name, e, &own_source),
        }
    }
    // Another tool's remote that mbx cannot use is shown, but it is not an error in mbx's file.
    for (name, origin, remote) in config.foreign() {
        match remote {
            Ok(r) => line(ctx, name, r.kind.name(), &r.redacted(), origin, None),
            Err(e) => error_line(ctx, name, e, origin),
        }
    }
    if broken > 0 {
        if !ctx.json {
            eprintln!(
                "error: {broken} remote(s) in {} cannot be used (see above)",
                config.source
            );
        }
        return Ok(ExitCode::from(exit::BAD_INPUT));
    }
    Ok(ExitCode::SUCCESS)
}

fn line(
    ctx: &Context,
    name: &str,
    kind: &str,
    redacted: &BTreeMap<String, String>,
    source: &str,
    milvus: Option<&str>,
) {
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"name": name, "type": kind, "options": redacted, "milvus": milvus,
                "source": source})
        );
    } else {
        let opts: Vec<String> = redacted.iter().map(|(k, v)| format!("{k}={v}")).collect();
        mbx::outln!("{name}\t{kind}\t{}\t{source}", opts.join(" "));
    }
}

fn error_line(ctx: &Context, name: &str, error: &str, source: &str) {
    if ctx.json {
        mbx::outln!(
            "{}",
            serde_json::json!({"name": name, "error": error, "source": source})
        );
    } else {
        mbx::outln!("{name}\t(error: {error})\t{source}");
    }
}
