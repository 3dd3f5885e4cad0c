//! Cleaning up after abandoned transfers: the unfinished uploads their journals name (aborted on the
//! destination) and the journals themselves; or, for one remote, every unfinished upload the server lists.
//!
//! Never what a live run is using: a journal locked by a running mbx is left alone, and so is every upload
//! it names, whatever `--older-than` says.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::journal::{self, JournalContents};
use crate::config::RemotesConfig;
use crate::remote::Remote;

/// One unfinished upload that cleanup found.
#[derive(Debug, Clone, Serialize)]
pub struct CleanedUpload {
    /// The remote it is on.
    pub remote: String,
    /// Its key (empty for `fs` partial files, which are named by upload id only).
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// `aborted`, `would abort` (dry run), `kept (too recent)`, or why it could not be aborted.
    pub outcome: String,
}

/// What a cleanup did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupReport {
    /// Uploads found and what became of each.
    pub uploads: Vec<CleanedUpload>,
    /// Journals removed (or that would be, in a dry run).
    pub journals_removed: Vec<PathBuf>,
    /// Journals kept: too recent, in use, or naming a remote that could not be opened.
    pub journals_kept: Vec<(PathBuf, String)>,
    /// Temporary files that killed writers left (on `fs`), removed.
    pub stale_files_removed: usize,
}

impl CleanupReport {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.uploads.iter().all(|u| {
            matches!(
                u.outcome.as_str(),
                "aborted" | "would abort" | "kept (too recent)" | "kept (in use by a running mbx)"
            )
        })
    }
}

/// Which journals a cleanup may touch: all, or only those of transfers into one remote under a prefix.
#[derive(Debug, Clone, Copy)]
pub struct CleanupScope<'a> {
    /// The destination remote's name.
    pub remote: &'a str,
    /// The key prefix on it (`""` for the whole remote).
    pub prefix: &'a str,
}

impl CleanupScope<'_> {
    fn covers(&self, j: &JournalContents) -> bool {
        let Some(h) = &j.header else {
            return false;
        };
        let prefix = self.prefix.trim_start_matches('/');
        let under = match &h.dst_root {
            Some(root) => root.starts_with(prefix),
            // Journals of older versions do not name their root: then every upload they name must be under it.
            None => {
                !j.unfinished.is_empty()
                    && j.unfinished.iter().all(|u| u.dst_key.starts_with(prefix))
            }
        };
        h.dst_remote == self.remote && under
    }
}

/// Aborts the unfinished uploads of every journal under `state_dir` not written for `older_than` (within
/// `scope`, when given), and removes those journals: the transfers they belong to are abandoned, and a
/// re-run would start them over. A journal that a live run holds is kept.
pub async fn cleanup_journals(
    remotes: &RemotesConfig,
    state_dir: &Path,
    older_than: Duration,
    dry_run: bool,
    scope: Option<CleanupScope<'_>>,
) -> std::io::Result<CleanupReport> {
    let mut report = CleanupReport::default();
    let now = SystemTime::now();
    for j in journal::list_journals(state_dir)? {
        if scope.is_some_and(|s| !s.covers(&j)) {
            continue;
        }
        // Held until this journal is done with: no run can start on it while its uploads are aborted.
        let _claim = match journal::claim(&j.path)? {
            journal::Claim::Gone => continue,
            journal::Claim::Held(run) => {
                report
                    .journals_kept
                    .push((j.path.clone(), in_use(run.as_ref())));
                continue;
            }
            claim @ journal::Claim::Ours { .. } => claim,
        };
        let age = j
            .modified
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < older_than {
            report
                .journals_kept
                .push((j.path.clone(), format!("written {}s ago", age.as_secs())));
            continue;
        }
        match abort_journal_uploads(remotes, &j, dry_run, &mut report).await {
            Ok(()) => {
                if !dry_run {
                    journal::remove(&j.path)?;
                }
                report.journals_removed.push(j.path);
            }
            Err(why) => report.journals_kept.push((j.path, why)),
        }
    }
    Ok(report)
}

async fn abort_journal_uploads(
    remotes: &RemotesConfig,
    j: &JournalContents,
    dry_run: bool,
    report: &mut CleanupReport,
) -> Result<(), String> {
    if j.unfinished.is_empty() {
        return Ok(());
    }
    let Some(header) = &j.header else {
        return Err("it does not name its destination (written by an older mbx)".into());
    };
    // A remote of rclone or mc takes its bucket from the path: the journal names it.
    let (config, _) = remotes
        .locate(
            &header.dst_remote,
            header.dst_bucket.as_deref().unwrap_or_default(),
        )
        .map_err(|e| format!("its destination: {e}"))?;
    if config.location() != header.dst_location {
        return Err(format!(
            "remote '{}' now points elsewhere ({}), not at {}",
            header.dst_remote,
            config.location(),
            header.dst_location
        ));
    }
    let remote = Remote::open(&config).map_err(|e| e.to_string())?;
    let Some(uploads) = remote.uploads() else {
        return Ok(());
    };
    let mut failed = false;
    for u in &j.unfinished {
        let outcome = if dry_run {
            "would abort".to_string()
        } else {
            match uploads.abort(&u.dst_key, &u.upload_id).await {
                Ok(()) => "aborted".to_string(),
                Err(e) => {
                    failed = true;
                    e.message
                }
            }
        };
        report.uploads.push(CleanedUpload {
            remote: header.dst_remote.clone(),
            key: u.dst_key.clone(),
            upload_id: u.upload_id.clone(),
            outcome,
        });
    }
    if failed {
        return Err("some uploads could not be aborted; run cleanup again".into());
    }
    Ok(())
}

fn in_use(run: Option<&journal::RunRecord>) -> String {
    match run {
        Some(r) => format!(
            "in use by a running mbx (process {}, started {})",
            r.pid, r.started
        ),
        None => "in use by a running mbx".into(),
    }
}

/// The journals under `state_dir` that a live run holds.
fn live_journals(state_dir: &Path) -> std::io::Result<Vec<JournalContents>> {
    Ok(journal::list_journals(state_dir)?
        .into_iter()
        .filter(|j| j.held_by.is_some())
        .collect())
}

/// Aborts every unfinished upload that `remote`'s server lists under `prefix` and that started more than
/// `older_than` ago, whoever started it (like `rclone cleanup`), except those of live runs with journals
/// under `state_dir`. `None` when the remote cannot list them.
pub async fn cleanup_remote(
    remote: &Remote,
    prefix: &str,
    older_than: Duration,
    dry_run: bool,
    state_dir: &Path,
) -> Result<Option<CleanupReport>, String> {
    let live = live_journals(state_dir)
        .map_err(|e| format!("reading the journals in {}: {e}", state_dir.display()))?;
    let live_here = live.iter().any(|j| {
        j.header
            .as_ref()
            .is_none_or(|h| h.dst_location == remote.config().location())
    });
    let live: HashSet<String> = live
        .into_iter()
        .flat_map(|j| j.unfinished.into_iter().map(|u| u.upload_id))
        .collect();
    let Some(uploads) = remote.uploads() else {
        return Ok(None);
    };
    let Some(found) = uploads
        .list_incomplete(prefix)
        .await
        .map_err(|e| e.message)?
    else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    let mut report = CleanupReport::default();
    // Temporary files of killed writers (fs): only while no run of ours writes to this remote.
    if !live_here && !dry_run {
        let before = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        report.stale_files_removed = uploads
            .remove_stale_files(before)
            .await
            .map_err(|e| e.message)?;
    }
    for u in found {
        let started = chrono::DateTime::parse_from_rfc3339(&u.initiated)
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok();
        let age = started
            .and_then(|t| (now - t).to_std().ok())
            .unwrap_or(Duration::MAX);
        let outcome = if live.contains(&u.upload_id) {
            "kept (in use by a running mbx)".to_string()
        } else if age < older_than {
            "kept (too recent)".to_string()
        } else if dry_run {
            "would abort".to_string()
        } else {
            match uploads.abort(&u.key, &u.upload_id).await {
                Ok(()) => "aborted".to_string(),
                Err(e) => e.message,
            }
        };
        report.uploads.push(CleanedUpload {
            remote: remote.name().to_string(),
            key: u.key,
            upload_id: u.upload_id,
            outcome,
        });
    }
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::journal::{JournalHeader, UploadRecord};

    fn journal(remote: &str, root: Option<&str>, uploads: &[&str]) -> JournalContents {
        JournalContents {
            path: PathBuf::from("j.jsonl"),
            held_by: None,
            header: Some(JournalHeader {
                dst_remote: remote.into(),
                dst_location: "fs:/x".into(),
                dst_root: root.map(str::to_string),
                dst_bucket: None,
            }),
            unfinished: uploads
                .iter()
                .map(|k| UploadRecord {
                    key: k.to_string(),
                    dst_key: k.to_string(),
                    upload_id: "ab".into(),
                    part_size: 1 << 23,
                    size: 1 << 24,
                    src_etag: None,
                    src_mtime: None,
                })
                .collect(),
            modified: None,
        }
    }

    #[test]
    fn a_scope_covers_only_transfers_into_its_remote_under_its_prefix() {
        let scope = |remote, prefix| CleanupScope { remote, prefix };
        let c4 = journal("fb", Some("c4/"), &["c4/big"]);
        assert!(scope("fb", "").covers(&c4));
        assert!(scope("fb", "c4").covers(&c4));
        assert!(!scope("fb", "unrelated/prefix").covers(&c4));
        assert!(!scope("fa", "").covers(&c4));
        // A transfer into the remote's root, with nothing unfinished: only the whole remote covers it.
        let at_root = journal("fb", Some(""), &[]);
        assert!(scope("fb", "").covers(&at_root));
        assert!(!scope("fb", "c4").covers(&at_root));
        // Written by an older mbx (no root): judged by the uploads it names.
        let old = journal("fb", None, &["c4/big"]);
        assert!(scope("fb", "c4/").covers(&old));
        assert!(!scope("fb", "other/").covers(&old));
        assert!(!scope("fb", "").covers(&journal("fb", None, &[])));
    }
}
