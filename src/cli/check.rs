//! `mbx check NAME`: probe a remote with every operation mbx needs and say which work. For a remote with a
//! `[remotes.NAME.milvus]` table, also the Milvus server (its version and what mbx does there), Milvus's
//! binlogs under `root_path`, and that the backup root takes writes.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::TryStreamExt;

use super::{Context, exit};
use mbx::config::{MilvusSettings, RemoteKind};
use mbx::milvus::compat::{self, LINES, MilvusVersion, Support};
use mbx::milvus::{BackupSite, MilvusClient};
use mbx::remote::{Remote, RemotePath};

/// How long the Milvus probe may take before it counts as failed.
const MILVUS_DEADLINE: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The remote to probe (optionally REMOTE:PATH to probe under a prefix).
    remote: String,
}

/// How one step went, short of failing.
enum Pass {
    /// Worked.
    Ok(String),
    /// Worked, with something the user should look at.
    Warn(String),
    /// Not run, for the reason given.
    Skip(String),
}

/// The steps' lines (or JSON events), and whether any failed.
struct Report {
    json: bool,
    failures: usize,
}

impl Report {
    fn step(&mut self, name: &str, started: Instant, result: Result<Pass, String>) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, detail) = match result {
            Ok(Pass::Ok(d)) => ("ok", d),
            Ok(Pass::Warn(d)) => ("warn", d),
            Ok(Pass::Skip(d)) => ("skip", d),
            Err(d) => {
                self.failures += 1;
                ("FAIL", d)
            }
        };
        let ok = status != "FAIL";
        if self.json {
            mbx::outln!(
                "{}",
                serde_json::json!({
                    "step": name, "ok": ok, "status": status.to_ascii_lowercase(), "ms": ms, "detail": detail
                })
            );
        } else {
            mbx::outln!("{name:<12} {status:<4} {ms:>8.1} ms  {detail}");
        }
    }
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
    let (remote, within) = ctx.open(&config, &path)?;
    let has_milvus = remote.config().milvus.is_some();
    // Opened before any probe runs, so a broken storage_remote is bad input (exit 2), not a failed step.
    let site = if has_milvus {
        Some(BackupSite::open(&config, &path.remote).map_err(|e| super::BadInput(e.to_string()))?)
    } else {
        None
    };
    let nonce =
        blake3::hash(format!("{:?}{}", Instant::now(), std::process::id()).as_bytes()).to_hex();
    let probe_name = format!(".mbx-check-{}", &nonce[..16]);
    let mut report = Report {
        json: ctx.json,
        failures: 0,
    };
    storage_steps(&mut report, &remote, &within.as_dir(), &probe_name).await;
    if let Some(site) = site {
        milvus_steps(&mut report, &site, &probe_name).await;
    }
    Ok(if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}

/// Write, stat, read, list and delete one probe object under `dir`, then start and abort a resumable upload.
async fn storage_steps(report: &mut Report, remote: &Remote, dir: &str, probe_name: &str) {
    let op = remote.op();
    let key = format!("{dir}{probe_name}");
    let body = format!("mbx check {probe_name}").into_bytes();
    let t = Instant::now();
    let wrote = op.write(&key, body.clone()).await;
    report.step(
        "write",
        t,
        wrote
            .map(|_| Pass::Ok(key.clone()))
            .map_err(|e| e.to_string()),
    );
    let t = Instant::now();
    let stat = op.stat(&key).await;
    report.step(
        "stat",
        t,
        stat.map(|m| Pass::Ok(format!("{} bytes", m.content_length())))
            .map_err(|e| e.to_string()),
    );
    let t = Instant::now();
    let read = op.read(&key).await;
    report.step(
        "read",
        t,
        match read {
            Ok(b) if b.to_vec() == body => Ok(Pass::Ok("content matches".into())),
            Ok(_) => Err("content differs from what was written".into()),
            Err(e) => Err(e.to_string()),
        },
    );
    let t = Instant::now();
    let listed = async {
        let entries: Vec<_> = op.lister(dir).await?.try_collect().await?;
        Ok::<_, opendal::Error>(entries.iter().any(|e| e.path() == key))
    }
    .await;
    report.step(
        "list",
        t,
        match listed {
            Ok(true) => Ok(Pass::Ok("probe listed".into())),
            Ok(false) => Err("probe not listed".into()),
            Err(e) => Err(e.to_string()),
        },
    );
    let t = Instant::now();
    let deleted = op.delete(&key).await;
    report.step(
        "delete",
        t,
        deleted
            .map(|_| Pass::Ok("probe removed".into()))
            .map_err(|e| e.to_string()),
    );
    let t = Instant::now();
    let multipart = resumable_upload(remote, &format!("{key}.multipart")).await;
    report.step("multipart", t, multipart);
}

/// Starts and aborts one resumable upload, the way a large object's transfer begins one.
async fn resumable_upload(remote: &Remote, key: &str) -> Result<Pass, String> {
    let Some(uploads) = remote.uploads() else {
        return Ok(Pass::Skip(format!(
            "{} remotes have no resumable upload in mbx (or it could not be set up: see -v); large objects \
             restart whole after an interruption",
            remote.config().kind.name()
        )));
    };
    let id = uploads
        .begin(key, &HashMap::new())
        .await
        .map_err(|e| format!("starting a {uploads:?} upload: {}", e.message))?;
    uploads.abort(key, &id).await.map_err(|e| {
        format!(
            "aborting the {uploads:?} upload just started: {}",
            e.message
        )
    })?;
    if remote.config().kind == RemoteKind::Azblob {
        // An Azure block upload starts with its first block; there is nothing on the server to start or abort.
        return Ok(Pass::Ok(
            "azure blocks: begun and aborted (Azure holds nothing until the first block is staged)"
                .into(),
        ));
    }
    Ok(Pass::Ok(format!("{uploads:?} upload started and aborted")))
}

/// The Milvus server, its binlogs, and the backup root.
async fn milvus_steps(report: &mut Report, site: &BackupSite, probe_name: &str) {
    let t = Instant::now();
    let server = milvus_server(&site.milvus).await;
    report.step("milvus", t, server);

    let t = Instant::now();
    let binlogs = binlogs(&site.storage, &site.milvus.root_path).await;
    report.step("binlogs", t, binlogs);

    let t = Instant::now();
    let root = dir_of(&site.milvus.backup_root);
    let key = format!("{root}{probe_name}");
    let op = site.backups.op();
    let wrote = async {
        op.write(&key, probe_name.as_bytes().to_vec()).await?;
        op.delete(&key).await
    }
    .await;
    report.step(
        "backup-root",
        t,
        wrote
            .map(|_| Pass::Ok(format!("wrote and removed {}:{key}", site.backups.name())))
            .map_err(|e| format!("{}:{root} does not take writes: {e}", site.backups.name())),
    );
}

/// Connects, asks the version, and says what mbx does with a server of that line.
async fn milvus_server(settings: &MilvusSettings) -> Result<Pass, String> {
    let version = async {
        let client = MilvusClient::connect(settings, "default").await?;
        client.version().await
    };
    let raw = match tokio::time::timeout(MILVUS_DEADLINE, version).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => {
            return Err(format!(
                "Milvus at {} did not answer GetVersion within {}s",
                settings.address,
                MILVUS_DEADLINE.as_secs()
            ));
        }
    };
    let version = compat::server_version(&raw, &settings.address).map_err(|r| r.0)?;
    let create = compat::check_create(version, &settings.address).map_err(|r| r.0)?;
    let restore = line_support(version, |l| l.restore);
    let detail = format!(
        "Milvus {version} ({raw}) at {}: create {}, restore {}",
        settings.address,
        describe(create),
        describe(restore)
    );
    Ok(if restore == Support::Refused {
        Pass::Warn(detail)
    } else {
        Pass::Ok(detail)
    })
}

fn line_support(v: MilvusVersion, of: impl Fn(&compat::Line) -> Support) -> Support {
    LINES
        .iter()
        .find(|l| l.line == (v.major, v.minor))
        .map(of)
        .unwrap_or(Support::Refused)
}

fn describe(s: Support) -> &'static str {
    match s {
        Support::Tested => "tested on this line",
        Support::Reference => "supported (built from the reference, not run live on this line)",
        Support::Refused => "refused on this line",
    }
}

/// Milvus's binlogs are under `root_path/insert_log/`; an empty root is a fresh Milvus (or a wrong root_path).
async fn binlogs(storage: &Remote, root_path: &str) -> Result<Pass, String> {
    let root = dir_of(root_path);
    let entries: Vec<_> = async { storage.op().lister(&root).await?.try_collect().await }
        .await
        .map_err(|e: opendal::Error| format!("listing {}:{root}: {e}", storage.name()))?;
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e.path().strip_prefix(root.as_str()).unwrap_or(e.path()))
        .filter(|n| !n.is_empty())
        .collect();
    if names.contains(&"insert_log/") {
        return Ok(Pass::Ok(format!(
            "{}:{root}insert_log/ holds Milvus's binlogs",
            storage.name()
        )));
    }
    if names.is_empty() {
        return Ok(Pass::Warn(format!(
            "no binlogs yet under {}:{root} (a Milvus that has flushed nothing, or root_path is wrong)",
            storage.name()
        )));
    }
    let mut shown: Vec<&str> = names.iter().take(5).copied().collect();
    if names.len() > 5 {
        shown.push("…");
    }
    Err(format!(
        "{}:{root} holds {} but no insert_log/: set root_path in [remotes.NAME.milvus] to Milvus's minio.rootPath",
        storage.name(),
        shown.join(", ")
    ))
}

/// `path` as a folder key: empty for the root, else ending in `/`.
fn dir_of(path: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}
