//! Pausing Milvus's garbage collection while a backup copies, as milvus-backup does (`core/backup/
//! gc_controller.go`): compaction drops the segments a backup has listed, and GC deletes their files after
//! `dataCoord.gc.dropTolerance` (3 h by default), so a long copy could find them gone.
//!
//! Below Milvus 2.6.8 the pause is cluster-wide (`pause?pause_seconds=N&collection_id=0`, then `resume`);
//! from 2.6.8 it is per collection and answers a ticket, and the resume must name it (a ticket-less resume
//! matches no pause on 2.6.22, milvus-io/milvus#53591). The pause is renewed at half its length while the
//! backup runs. Any failure (Milvus 2.3.5 answers 404: the route is not registered) is a warning that says the
//! risk, never an error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::compat::MilvusVersion;
use crate::config::MilvusSettings;
use crate::transfer::Events;

/// How long one pause lasts; renewed at half of it.
const PAUSE: Duration = Duration::from_secs(3600);
/// Collection-level pauses with tickets.
const TICKETS_SINCE: MilvusVersion = MilvusVersion::new(2, 6, 8);

/// The management endpoint of `settings`: `management_address`, else the gRPC host on port 9091.
pub(crate) fn endpoint(settings: &MilvusSettings) -> String {
    if let Some(a) = &settings.management_address {
        let a = a.trim_end_matches('/');
        return if a.contains("://") {
            a.to_string()
        } else {
            format!("http://{a}")
        };
    }
    let host = settings
        .address
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(&settings.address);
    let scheme = if settings.tls { "https" } else { "http" };
    format!("{scheme}://{host}:9091")
}

/// The requests one pause, renewal and resume make (paths and queries), for a server of `version` and the
/// backed-up collections' ids.
pub(crate) fn pause_paths(version: MilvusVersion, collections: &[i64]) -> Vec<String> {
    let base = "/management/datacoord/garbage_collection/pause";
    if version >= TICKETS_SINCE {
        collections
            .iter()
            .map(|c| format!("{base}?pause_seconds={}&collection_id={c}", PAUSE.as_secs()))
            .collect()
    } else {
        vec![format!(
            "{base}?pause_seconds={}&collection_id=0",
            PAUSE.as_secs()
        )]
    }
}

/// The resume requests: one per ticket, or the cluster-wide resume when the pause had none.
pub(crate) fn resume_paths(tickets: &[String]) -> Vec<String> {
    let base = "/management/datacoord/garbage_collection/resume";
    if tickets.is_empty() {
        vec![base.to_string()]
    } else {
        tickets
            .iter()
            .map(|t| format!("{base}?ticket={t}"))
            .collect()
    }
}

/// A pause in force (or a pause that could not be had, which does nothing).
pub(crate) struct GcPause {
    inner: Option<Active>,
}

struct Active {
    http: reqwest::Client,
    endpoint: String,
    auth: Option<(String, String)>,
    tickets: Arc<Mutex<Vec<String>>>,
    renew: CancellationToken,
}

/// Whether the pause is per collection (and needs the collections' ids).
pub(crate) fn per_collection(version: MilvusVersion) -> bool {
    version >= TICKETS_SINCE
}

impl GcPause {
    /// No pause (`--no-gc-pause`).
    pub(crate) fn off() -> GcPause {
        GcPause { inner: None }
    }

    /// Pauses GC for `collections` on the Milvus of `settings`. Failures are warnings on `progress`.
    pub(crate) async fn start(
        settings: &MilvusSettings,
        version: MilvusVersion,
        collections: &[i64],
        progress: &Events,
    ) -> GcPause {
        if !settings.pause_gc {
            return GcPause { inner: None };
        }
        let endpoint = endpoint(settings);
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(h) => h,
            Err(e) => {
                warn(progress, &endpoint, &e.to_string());
                return GcPause { inner: None };
            }
        };
        let auth = settings
            .user
            .clone()
            .map(|u| (u, settings.password.clone().unwrap_or_default()));
        let paths = pause_paths(version, collections);
        let tickets = match pause_all(&http, &endpoint, &auth, &paths).await {
            Ok(t) => t,
            Err(e) => {
                warn(progress, &endpoint, &e);
                return GcPause { inner: None };
            }
        };
        progress.note(&format!(
            "paused Milvus's garbage collection at {endpoint} for the backup ({})",
            if tickets.is_empty() {
                "cluster-wide".to_string()
            } else {
                format!("{} collection(s)", tickets.len())
            }
        ));
        let active = Active {
            http,
            endpoint,
            auth,
            tickets: Arc::new(Mutex::new(tickets)),
            renew: CancellationToken::new(),
        };
        active.spawn_renewal(paths, progress.clone());
        GcPause {
            inner: Some(active),
        }
    }

    /// Ends the pause (on success, error and Ctrl-C alike). A failure is a warning: the pause expires by
    /// itself within the hour.
    pub(crate) async fn resume(self, progress: &Events) {
        let Some(a) = self.inner else {
            return;
        };
        a.renew.cancel();
        let tickets = a.tickets.lock().map(|t| t.clone()).unwrap_or_default();
        for path in resume_paths(&tickets) {
            if let Err(e) = get(&a.http, &a.endpoint, &a.auth, &path).await {
                progress.note(&format!(
                    "warning: resuming Milvus's garbage collection at {} failed ({e}); it resumes by itself \
                     when the pause expires (within {} minutes)",
                    a.endpoint,
                    PAUSE.as_secs() / 60
                ));
            }
        }
    }
}

impl Active {
    fn spawn_renewal(&self, paths: Vec<String>, progress: Events) {
        let (http, endpoint, auth) = (self.http.clone(), self.endpoint.clone(), self.auth.clone());
        let (tickets, stop) = (self.tickets.clone(), self.renew.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(PAUSE / 2) => {}
                }
                match pause_all(&http, &endpoint, &auth, &paths).await {
                    Ok(new) => {
                        if let Ok(mut t) = tickets.lock() {
                            t.extend(new);
                        }
                    }
                    Err(e) => progress.note(&format!(
                        "warning: renewing the garbage collection pause at {endpoint} failed: {e}"
                    )),
                }
            }
        });
    }
}

fn warn(progress: &Events, endpoint: &str, why: &str) {
    progress.note(&format!(
        "warning: could not pause Milvus's garbage collection at {endpoint} ({why}); the backup goes on. If \
         it copies for longer than Milvus's dataCoord.gc.dropTolerance (3 h by default), compaction may remove \
         binlogs it has listed and it will fail and need a re-run. Set management_address in \
         [remotes.NAME.milvus], or pause_gc = false / --no-gc-pause to skip this"
    ));
}

async fn pause_all(
    http: &reqwest::Client,
    endpoint: &str,
    auth: &Option<(String, String)>,
    paths: &[String],
) -> Result<Vec<String>, String> {
    let mut tickets = Vec::new();
    for path in paths {
        let body = get(http, endpoint, auth, path).await?;
        if let Some(t) = ticket(&body) {
            tickets.push(t);
        }
    }
    Ok(tickets)
}

/// The ticket in a pause's answer (`{"msg":"OK","ticket":"..."}`), if any.
fn ticket(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("ticket")?
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

async fn get(
    http: &reqwest::Client,
    endpoint: &str,
    auth: &Option<(String, String)>,
    path: &str,
) -> Result<Vec<u8>, String> {
    let mut req = http.get(format!("{endpoint}{path}"));
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "{status}: {}",
            text.trim().chars().take(200).collect::<String>()
        ));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(address: &str, management: Option<&str>) -> MilvusSettings {
        MilvusSettings {
            address: address.into(),
            tls: false,
            ca_cert: None,
            server_name: None,
            user: None,
            password: None,
            root_path: "files".into(),
            backup_root: "backup".into(),
            storage_remote: None,
            management_address: management.map(str::to_string),
            pause_gc: true,
        }
    }

    #[test]
    fn the_endpoint_defaults_to_the_grpc_host_on_9091() {
        assert_eq!(
            endpoint(&settings("10.1.2.3:19530", None)),
            "http://10.1.2.3:9091"
        );
        assert_eq!(
            endpoint(&settings("h:19530", Some("127.0.0.1:19540/"))),
            "http://127.0.0.1:19540"
        );
        assert_eq!(
            endpoint(&settings("h:19530", Some("https://m.example:9091"))),
            "https://m.example:9091"
        );
    }

    /// milvus-backup `gc_controller.go`: cluster-wide below 2.6.8, per collection with tickets from it, and
    /// the resume names every ticket.
    #[test]
    fn requests_per_version() {
        assert_eq!(
            pause_paths(MilvusVersion::new(2, 5, 4), &[7, 8]),
            ["/management/datacoord/garbage_collection/pause?pause_seconds=3600&collection_id=0"]
        );
        assert_eq!(
            pause_paths(MilvusVersion::new(2, 6, 8), &[7, 8]),
            [
                "/management/datacoord/garbage_collection/pause?pause_seconds=3600&collection_id=7",
                "/management/datacoord/garbage_collection/pause?pause_seconds=3600&collection_id=8",
            ]
        );
        assert_eq!(
            resume_paths(&[]),
            ["/management/datacoord/garbage_collection/resume"]
        );
        assert_eq!(
            resume_paths(&["t1".into(), "t2".into()]),
            [
                "/management/datacoord/garbage_collection/resume?ticket=t1",
                "/management/datacoord/garbage_collection/resume?ticket=t2",
            ]
        );
        assert_eq!(
            ticket(br#"{"msg":"OK","ticket":"abc"}"#),
            Some("abc".into())
        );
        assert_eq!(ticket(br#"{"msg":"OK"}"#), None);
        assert_eq!(ticket(b"404 page not found"), None);
    }
}
