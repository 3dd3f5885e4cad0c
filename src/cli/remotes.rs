//! `mbx remotes`: the configured remotes, secrets redacted; exit 2 when one of them has an error.

use std::process::ExitCode;

use super::{Context, exit};

pub(crate) async fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    let mut broken = 0;
    for (name, remote) in config.iter() {
        broken += usize::from(remote.is_err());
        match remote {
            Ok(r) => {
                if ctx.json {
                    mbx::outln!(
                        "{}",
                        serde_json::json!({"name": name, "type": r.kind.name(), "options": r.redacted(),
                            "milvus": r.milvus.as_ref().map(|m| m.address.clone())})
                    );
                } else {
                    let opts: Vec<String> = r
                        .redacted()
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    mbx::outln!("{name}\t{}\t{}", r.kind, opts.join(" "));
                }
            }
            Err(e) if ctx.json => mbx::outln!("{}", serde_json::json!({"name": name, "error": e})),
            Err(e) => mbx::outln!("{name}\t(error: {e})"),
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
