//! Verification: re-read every object of a tree and check it against the tree's manifest.

use std::sync::Arc;

use futures::stream::StreamExt;
use tokio_util::sync::CancellationToken;

use super::copy::{MemoryBudget, hash_object};
use super::events::{Events, Outcome, Reporter, Stage};
use super::listing::{Links, list_stream};
use super::manifest::{ManifestReader, manifest_error};
use super::plan::Sorted;
use super::{TransferError, TransferOptions};
use crate::remote::Remote;

/// One object that is not what the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// The key relative to the tree root.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Objects checked.
    pub checked: u64,
    /// Bytes re-read.
    pub bytes: u64,
    /// Objects missing, of the wrong size, or with the wrong hash.
    pub mismatches: Vec<Mismatch>,
    /// The run was interrupted before every object was checked.
    pub interrupted: bool,
    /// `transfer --verify` only: objects that failed verification, were copied again and then passed, with
    /// what was wrong the first time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<Mismatch>,
}

impl VerifyReport {
    /// True when every object matched.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty() && !self.interrupted
    }
}

/// Verifies the tree at `root` on `remote` against its manifest (`root/.mbx/manifest.json`).
pub async fn verify_tree(
    remote: &Remote,
    root: &str,
    options: &TransferOptions,
    reporter: Arc<dyn Reporter>,
    cancel: CancellationToken,
) -> Result<VerifyReport, TransferError> {
    let events = Events::new(reporter);
    events.stage(Stage::Verifying);
    verify_tree_with(remote, root, options, &events, cancel).await
}

/// [`verify_tree`] as a stage of a longer command.
pub(crate) async fn verify_tree_with(
    remote: &Remote,
    root: &str,
    options: &TransferOptions,
    progress: &Events,
    cancel: CancellationToken,
) -> Result<VerifyReport, TransferError> {
    let manifest = ManifestReader::open(remote, root).await?.ok_or_else(|| {
        let tree = root.trim_end_matches('/');
        TransferError::NoManifest(format!("{}:{tree}", remote.name()))
    })?;
    verify_against(remote, root, manifest, options, progress, cancel).await
}

/// Verifies the objects `manifest` lists (a tree's own, or the part of it a repair copied again) under
/// `root`: the manifest and the tree's listing are merged as they stream, in key order, and each object
/// listed with the right size is read back and hashed, many at once.
pub(crate) async fn verify_against(
    remote: &Remote,
    root: &str,
    manifest: ManifestReader,
    options: &TransferOptions,
    progress: &Events,
    cancel: CancellationToken,
) -> Result<VerifyReport, TransferError> {
    let manifest_key = crate::remote::join_key(root, super::MANIFEST_KEY);
    let listing = list_stream(remote, root, Links::Skip)
        .objects
        .map(|o| o.map(|o| (o.rel, o.size)));
    let listed = Sorted::new(Box::pin(listing), |p: &(String, u64)| p.0.as_str());
    let pairs = futures::stream::unfold(Some((manifest, listed)), |state| {
        let key = manifest_key.clone();
        async move {
            let (mut manifest, mut listed) = state?;
            let entry = match manifest.next().await {
                Ok(Some(e)) => e,
                Ok(None) => return None,
                Err(e) => return Some((Err(manifest_error(remote, &key, e)), None)),
            };
            match listed.take(&entry.key, |_| {}).await {
                Ok(size) => {
                    let size = size.map(|p| p.1);
                    Some((Ok((entry, size)), Some((manifest, listed))))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    let budget = MemoryBudget::new(options.memory_limit);
    let mut report = VerifyReport::default();
    let results = pairs
        .map(|pair| {
            let budget = budget.clone();
            let progress = progress.clone();
            let cancel = cancel.clone();
            async move {
                let (entry, listed_size) = pair?;
                progress.planned(1, entry.size);
                let key = crate::remote::join_key(root, &entry.key);
                let reason = match listed_size {
                    // Folder markers: not every store lists them (a local folder is no object); ask directly.
                    _ if entry.key.ends_with('/') => match remote.op().stat(&key).await {
                        Ok(_) => None,
                        Err(e) => Some(format!("folder marker missing: {e}")),
                    },
                    None => Some("missing at the destination".to_string()),
                    Some(s) if s != entry.size => {
                        Some(format!("size {s} bytes, manifest says {}", entry.size))
                    }
                    Some(_) => {
                        let _mem = budget.reserve(options.object_footprint(entry.size)).await;
                        match hash_object(
                            remote,
                            &key,
                            entry.size,
                            options,
                            &cancel,
                            Some(&progress),
                        )
                        .await
                        {
                            Ok(h) if h.to_hex().as_str() == entry.blake3 => None,
                            Ok(h) => Some(format!(
                                "blake3 {}, manifest says {}",
                                h.to_hex(),
                                entry.blake3
                            )),
                            Err(e) if e.cancelled => return Ok((entry, None, true)),
                            Err(e) => Some(format!("cannot read: {e}")),
                        }
                    }
                };
                Ok::<_, TransferError>((entry, reason, false))
            }
        })
        .buffer_unordered(
            options
                .transfers
                .unwrap_or_else(|| 2 * remote.policy().request_limit())
                .max(1),
        );
    futures::pin_mut!(results);
    while let Some(result) = results.next().await {
        let (entry, reason, cancelled) = result?;
        if cancelled {
            report.interrupted = true;
            continue;
        }
        report.checked += 1;
        report.bytes += entry.size;
        match reason {
            None => progress.settled(&entry.key, entry.size, Outcome::Verified),
            Some(reason) => {
                progress.settled(
                    &entry.key,
                    entry.size,
                    Outcome::Mismatch { reason: &reason },
                );
                report.mismatches.push(Mismatch {
                    key: entry.key.clone(),
                    reason,
                });
            }
        }
    }
    report.mismatches.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(report)
}

/// Verifies one object at `key` against the single entry of `entries` (a one-object transfer has no
/// manifest file; the entry comes from the copy itself).
pub(crate) async fn verify_object(
    remote: &Remote,
    key: &str,
    entries: &[super::ManifestEntry],
    options: &TransferOptions,
    progress: &Events,
    cancel: CancellationToken,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    for entry in entries {
        progress.planned(1, entry.size);
        let reason =
            match hash_object(remote, key, entry.size, options, &cancel, Some(progress)).await {
                Ok(h) if h.to_hex().as_str() == entry.blake3 => None,
                Ok(h) => Some(format!("blake3 {}, expected {}", h.to_hex(), entry.blake3)),
                Err(e) if e.cancelled => {
                    report.interrupted = true;
                    continue;
                }
                Err(e) => Some(format!("cannot read: {e}")),
            };
        report.checked += 1;
        report.bytes += entry.size;
        if let Some(reason) = reason {
            report.mismatches.push(Mismatch {
                key: key.to_string(),
                reason,
            });
        }
    }
    report
}
