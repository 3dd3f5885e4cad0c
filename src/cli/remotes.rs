//! `mbx remotes`: the configured remotes, secrets redacted.

use std::process::ExitCode;

use super::Context;

pub(crate) async fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let config = ctx.remotes()?;
    for (name, remote) in config.iter() {
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
    Ok(ExitCode::SUCCESS)
}
