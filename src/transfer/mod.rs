//! The transfer engine: plan (list and diff) → copy (stream, hash, multipart) → manifest → verify, with a
//! journal so that an interrupted run resumes without re-sending what already landed.

mod cleanup;
mod copy;
mod dedup;
mod events;
mod journal;
mod listing;
mod manifest;
mod plan;
mod read_gate;
mod resume;
mod run;
mod shard;
mod tree_hash;
mod verify;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::remote::{Remote, RemotePath, join_key};
use listing::Listing;
pub use listing::{Links, SkippedLink, SourceObject, list_local, list_tree};
use run::{Executed, Landed, Run};
pub use shard::{MAX_SHARDS, Shard};

pub use cleanup::{CleanedUpload, CleanupReport, CleanupScope, cleanup_journals, cleanup_remote};
pub(crate) use events::Events;
pub use events::{Event, Outcome, Reporter, Stage};
pub use journal::default_state_dir;
pub(crate) use journal::{lock_exclusive, private_dir};
pub use manifest::{MANIFEST_KEY, META_BLAKE3, Manifest, ManifestEntry, ManifestError};
pub(crate) use verify::verify_tree_with;
pub use verify::{Mismatch, VerifyReport, verify_tree};

/// A transfer could not run at all (as opposed to single objects failing).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Listing, stat or reading metadata failed.
    #[error("remote '{remote}': {message}")]
    Remote {
        /// The remote.
        remote: String,
        /// What failed.
        message: String,
    },
    /// A key or path that cannot be used on that remote.
    #[error("{0}")]
    BadKey(String),
    /// The source path names nothing.
    #[error("nothing at {0}: no object and no folder with that name")]
    NothingToCopy(String),
    /// The destination is the source, or inside it, on the same store.
    #[error(
        "the destination {dst} is the source {src} or inside it: each run would copy the copies it made \
         before; choose a destination outside the source"
    )]
    Overlap {
        /// The source, `remote:path`.
        src: String,
        /// The destination, `remote:path`.
        dst: String,
    },
    /// Verification needs a manifest.
    #[error(
        "no manifest at {0}/{MANIFEST_KEY}: only trees written by mbx (transfer or create) can be verified"
    )]
    NoManifest(String),
    /// A manifest that is not one (truncated, overwritten): it vouches for nothing.
    #[error(
        "the manifest {at} is damaged ({why}), so it vouches for nothing. Run the transfer that wrote this \
         tree again with --verify: it checks every object against its source, copies what differs, and writes \
         the manifest again"
    )]
    DamagedManifest {
        /// Where it is, `remote:key`.
        at: String,
        /// What is wrong with it.
        why: String,
    },
    /// Another run of the same transfer is running (it holds the journal); nothing was done.
    #[error("{0}")]
    Busy(String),
    /// Not every shard has completed (or another run merged them already); nothing was written.
    #[error("{0}")]
    ShardsPending(String),
    /// Source objects are in no shard's manifest (the source changed since the shards ran); nothing was
    /// written.
    #[error("{0}")]
    Incomplete(String),
    /// The local journal could not be used.
    #[error("journal {path} (set MBX_STATE_DIR to a writable folder)")]
    Journal {
        /// The journal's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl TransferError {
    /// True when the user's input is at fault (a path or key), not a server.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            TransferError::BadKey(_)
                | TransferError::NothingToCopy(_)
                | TransferError::Overlap { .. }
                | TransferError::NoManifest(_)
                | TransferError::Busy(_)
        )
    }
}

/// How a transfer runs. Peak buffer memory is at most `memory_limit` whatever the object sizes: an object
/// reserves its footprint ([`TransferOptions::object_footprint`]) before it starts.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Objects up to this size go in one request; larger ones are multipart uploads of parts this big.
    pub part_size: u64,
    /// Parts of one object uploading at once.
    pub parts_in_flight: usize,
    /// Ranged reads of one object prefetched at once.
    pub read_ahead: usize,
    /// Objects in flight at once; `None`: as many as the two remotes may have requests in flight together
    /// (128 with their defaults: a small object is a GET on one side, then a PUT on the other, so both stay
    /// busy), following them as they grow on a remote far away.
    pub transfers: Option<usize>,
    /// Bound on the bytes buffered by all objects in flight.
    pub memory_limit: u64,
    /// Attempts per object after the first, on retryable errors (each request is also retried by the
    /// remote's own retry layer).
    pub object_retries: usize,
    /// Copy server-side when both sides are the same store.
    pub server_side: bool,
    /// Only list what would be copied.
    pub dry_run: bool,
    /// Stop at the first object that fails.
    pub fail_fast: bool,
    /// Re-read the destination afterwards and check it against the manifest.
    pub verify: bool,
    /// Where journals live.
    pub state_dir: PathBuf,
    /// What a symbolic link in a local (`fs`) source tree is.
    pub links: Links,
    /// Copy an object the destination already holds in a tree beside this one (same BLAKE3, from the source's
    /// manifest) on the destination's side, instead of sending it.
    pub dedup: bool,
    /// Copy only this share of the objects, and write its manifest as the shard's.
    pub shard: Option<Shard>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            part_size: 8 << 20,
            parts_in_flight: 4,
            read_ahead: 2,
            transfers: None,
            memory_limit: 160 << 20,
            object_retries: 3,
            server_side: true,
            dry_run: false,
            fail_fast: false,
            verify: false,
            state_dir: default_state_dir(),
            links: Links::Skip,
            dedup: false,
            shard: None,
        }
    }
}

/// S3 and GCS allow at most this many parts.
const MAX_PARTS: u64 = 10_000;

impl TransferOptions {
    /// The part size used for an object of `size` bytes: the configured one rounded up to a power of two,
    /// raised so that the object fits in [`MAX_PARTS`] parts.
    pub fn part_size_for(&self, size: u64) -> u64 {
        // A power of two, so that each part is a whole BLAKE3 subtree (see `tree_hash`).
        tree_hash::aligned_part_size(self.part_size.max(size.div_ceil(MAX_PARTS)))
    }

    /// Bytes an object of `size` may hold in memory while it is copied: the whole object when it goes in
    /// one request, otherwise one part for each upload in flight, each prefetched read and the part being
    /// filled.
    pub fn object_footprint(&self, size: u64) -> u64 {
        if size <= self.part_size {
            size
        } else {
            self.part_size_for(size).saturating_mul(
                self.parts_in_flight
                    .saturating_add(self.read_ahead)
                    .saturating_add(1) as u64,
            )
        }
    }
}

/// The outcome of one transfer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Objects copied in this run.
    pub copied: u64,
    /// Bytes of the objects copied in this run.
    pub copied_bytes: u64,
    /// Of `copied_bytes`, the bytes whose parts had landed in an earlier, interrupted run and were not
    /// sent again.
    pub resumed_bytes: u64,
    /// Of `copied`, the objects found in another tree at the destination and copied there instead of sent.
    pub found: u64,
    /// Their bytes.
    pub found_bytes: u64,
    /// Bytes that crossed from the source to the destination: `copied_bytes` less `found_bytes` and
    /// `resumed_bytes`; none when both are one store (its server copies).
    pub sent_bytes: u64,
    /// Objects already at the destination.
    pub skipped: u64,
    /// Bytes already at the destination.
    pub skipped_bytes: u64,
    /// Objects that failed, with the reason.
    pub failed: Vec<Mismatch>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Stopped by Ctrl-C (or `--fail-fast`) before the end.
    pub interrupted: bool,
    /// Where the destination tree is (`remote:path`).
    pub destination: String,
    /// The manifest written, if the transfer completed.
    pub manifest: Option<String>,
    /// The verification, if asked for.
    pub verify: Option<VerifyReport>,
    /// With `--dry-run`: the keys that would be copied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_copy: Vec<String>,
    /// Symbolic links (and special files) of a local source that were not copied.
    pub skipped_links: u64,
    /// The source named by the destination's earlier manifest, when this run replaced a manifest written
    /// from another source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_manifest_of: Option<String>,
}

impl Summary {
    /// True when everything was copied (and verified, if asked).
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && !self.interrupted
            && self.verify.as_ref().is_none_or(VerifyReport::ok)
    }
}

/// Copies the tree (or object) at `src_path` on `src` to `dst_path` on `dst`.
///
/// A destination path ending in `/` (or empty) receives the source's last component, like `cp -r`:
/// `a:backup/my_backup` → `b:backup/` lands at `b:backup/my_backup/`. Otherwise the destination path is the
/// new name. Objects already present with the same size and the same source version are skipped; the run
/// ends by writing `<destination>/.mbx/manifest.json`.
pub async fn transfer(
    src: &Remote,
    src_path: &RemotePath,
    dst: &Remote,
    dst_path: &RemotePath,
    options: TransferOptions,
    reporter: Arc<dyn Reporter>,
    cancel: CancellationToken,
) -> Result<Summary, TransferError> {
    let started = Instant::now();
    let progress = Events::new(reporter);
    progress.stage(Stage::Copying);
    let (ends, mut listing) = plan::resolve(src, src_path, dst, dst_path, options.links).await?;
    if let Some(shard) = options.shard {
        if !ends.is_tree() {
            return Err(TransferError::BadKey(format!(
                "--shard: {src_path} is one object; shards split a tree"
            )));
        }
        listing = shard::only(shard, listing);
    }
    let run = Run::open(
        (src, dst),
        &ends,
        &options,
        progress.clone(),
        cancel.clone(),
    )?;
    let Executed {
        mut summary,
        landed,
    } = run.execute(listing).await?;
    let Some(landed) = landed else {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    };
    run.finish().await?;
    if let Landed::Tree {
        manifest,
        changed,
        replaces,
    } = &landed
    {
        summary.manifest = Some(if *changed {
            if let Some(other) = replaces {
                progress.note(&format!(
                    "warning: {}:{} was written from {other}; it now describes {} (the objects from \
                     {other} stay, but are no longer in the manifest)",
                    dst.name(),
                    join_key(ends.dst_root(), MANIFEST_KEY),
                    manifest_source(src, &ends),
                ));
            }
            manifest.upload_to(dst, run.manifest_key()).await?
        } else {
            format!("{}:{}", dst.name(), run.manifest_key())
        });
        summary.replaced_manifest_of = replaces.clone().filter(|_| *changed);
    }
    if options.verify {
        progress.stage(Stage::Verifying);
        let mut report = match &landed {
            Landed::Object(entry) => {
                verify::verify_object(
                    dst,
                    ends.dst_root(),
                    std::slice::from_ref(entry),
                    &options,
                    &progress,
                    cancel.clone(),
                )
                .await
            }
            Landed::Tree { .. } => {
                verify::verify_tree_with(dst, ends.dst_root(), &options, &progress, cancel.clone())
                    .await?
            }
        };
        if !report.mismatches.is_empty() && !report.interrupted && ends.is_tree() {
            let again = repair(
                (src, dst, &ends),
                &mut report,
                &options,
                &progress,
                cancel.clone(),
            )
            .await?;
            // The objects copied again had counted as already there.
            summary.skipped = summary.skipped.saturating_sub(again.copied);
            summary.skipped_bytes = summary.skipped_bytes.saturating_sub(again.copied_bytes);
            summary.copied += again.copied;
            summary.copied_bytes += again.copied_bytes;
            summary.failed.extend(again.failed);
            summary.interrupted |= again.interrupted;
        }
        summary.verify = Some(report);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Merges the manifests that `count` shard runs of this transfer (`--shard K/count`) left into the destination
/// tree's manifest, once every shard has completed and every source object is in one of them; then verifies the
/// tree when asked.
pub async fn finish_shards(
    (src, src_path): (&Remote, &RemotePath),
    (dst, dst_path): (&Remote, &RemotePath),
    count: u32,
    options: TransferOptions,
    reporter: Arc<dyn Reporter>,
    cancel: CancellationToken,
) -> Result<Summary, TransferError> {
    let started = Instant::now();
    let progress = Events::new(reporter);
    let (ends, _) = plan::resolve(src, src_path, dst, dst_path, options.links).await?;
    let mut summary = shard::finish((src, dst), &ends, count, &options, &progress).await?;
    summary.seconds = started.elapsed().as_secs_f64();
    if options.verify {
        progress.stage(Stage::Verifying);
        let report =
            verify::verify_tree_with(dst, ends.dst_root(), &options, &progress, cancel).await?;
        summary.verify = Some(report);
    }
    Ok(summary)
}

/// For shard `shard`, which has just completed: when every other shard has too, merges their manifests as
/// [`finish_shards`] does (the last shard to finish merges; each shard verified its own share, so the merge
/// reads nothing back). `None` while a shard has not completed, or when another shard that finished at the same
/// time merged them first.
pub async fn finish_if_last(
    (src, src_path): (&Remote, &RemotePath),
    (dst, dst_path): (&Remote, &RemotePath),
    shard: Shard,
    mut options: TransferOptions,
    reporter: Arc<dyn Reporter>,
    cancel: CancellationToken,
) -> Result<Option<Summary>, TransferError> {
    options.verify = false;
    options.shard = None;
    let merged = finish_shards(
        (src, src_path),
        (dst, dst_path),
        shard.count,
        options.clone(),
        reporter,
        cancel,
    )
    .await;
    match merged {
        Ok(summary) => Ok(Some(summary)),
        Err(TransferError::ShardsPending(_)) => Ok(None),
        Err(e) => {
            // Two last shards merge at once: the one that finishes first removes the shard manifests the other
            // is reading. Its tree manifest, with none of theirs left, tells that apart from a failure.
            let (ends, _) = plan::resolve(src, src_path, dst, dst_path, options.links).await?;
            match shard::merged_by_another(dst, ends.dst_root(), shard.count).await {
                true => Ok(None),
                false => Err(e),
            }
        }
    }
}

/// Whether the shards of the transfer into `dst_path` were merged: its tree's manifest is there and no shard's
/// (for `migrate --shard`, whose shard 0 restores once every share has landed).
pub async fn shards_merged(dst: &Remote, dst_path: &RemotePath, count: u32) -> bool {
    shard::merged_by_another(dst, dst_path.path.trim_end_matches('/'), count).await
}

/// What a manifest names as its tree's source.
fn manifest_source(src: &Remote, ends: &plan::Endpoints) -> String {
    format!("{}:{}", src.name(), ends.src_root())
}

/// Copies again, once, the objects that failed verification, then verifies them again. A re-run alone would
/// not: the journal, the destination manifest and the object's own metadata all vouch for what was written, so
/// only a re-read tells that the bytes changed since (a disk, a foreign write). The bad copy is deleted first,
/// so the planner sees nothing there and copies it whole.
async fn repair(
    (src, dst, ends): (&Remote, &Remote, &plan::Endpoints),
    report: &mut VerifyReport,
    options: &TransferOptions,
    progress: &Events,
    cancel: CancellationToken,
) -> Result<Summary, TransferError> {
    let bad: HashMap<&str, &str> = report
        .mismatches
        .iter()
        .map(|m| (m.key.as_str(), m.reason.as_str()))
        .collect();
    // The source again, for the few objects to copy again (their listing entries were not kept).
    let mut redo = Vec::new();
    let mut listed = listing::list_stream(src, ends.src_root(), options.links).objects;
    while let Some(o) = listed.next().await {
        let o = o?;
        if bad.contains_key(o.rel.as_str()) {
            redo.push(o);
        }
    }
    if redo.is_empty() {
        return Ok(Summary::default());
    }
    for o in &redo {
        progress.note(&format!(
            "copying {} again: it failed verification ({})",
            o.rel,
            bad[o.rel.as_str()]
        ));
        let key = ends.dst_key(&o.rel);
        dst.op()
            .delete(&key)
            .await
            .map_err(|e| TransferError::Remote {
                remote: dst.name().to_string(),
                message: format!("deleting '{key}', which failed verification: {e}"),
            })?;
    }
    let first: Vec<Mismatch> = std::mem::take(&mut report.mismatches);
    progress.stage(Stage::Copying);
    let run = Run::open((src, dst), ends, options, progress.clone(), cancel.clone())?;
    let Executed { summary, landed } = run.execute(Listing::of(redo)).await?;
    let Some(Landed::Tree { manifest, .. }) = landed else {
        // Not copied again (failed or interrupted): the first verdicts stand.
        report.mismatches = first;
        report.interrupted |= summary.interrupted;
        return Ok(summary);
    };
    run.finish().await?;
    let copied = manifest.reader().await.map_err(|e| TransferError::Remote {
        remote: dst.name().to_string(),
        message: format!("reading back the objects copied again: {e}"),
    })?;
    progress.stage(Stage::Verifying);
    let second =
        verify::verify_against(dst, ends.dst_root(), copied, options, progress, cancel).await?;
    let still: HashSet<&str> = second.mismatches.iter().map(|m| m.key.as_str()).collect();
    report.repaired = first
        .iter()
        .filter(|m| !still.contains(m.key.as_str()))
        .cloned()
        .collect();
    report.mismatches = second.mismatches;
    report.interrupted |= second.interrupted;
    Ok(summary)
}

/// Writes `manifest` as `<root>/.mbx/manifest.json` on `dst` and returns where (`remote:key`).
pub async fn write_manifest(
    dst: &Remote,
    root: &str,
    manifest: &Manifest,
) -> Result<String, TransferError> {
    let key = join_key(root, MANIFEST_KEY);
    dst.op()
        .write(&key, manifest.to_json())
        .await
        .map_err(|e| TransferError::Remote {
            remote: dst.name().to_string(),
            message: format!("writing manifest '{key}': {e}"),
        })?;
    Ok(format!("{}:{key}", dst.name()))
}

/// Copies `objects` from `src` to `dst` under `dst_root` (each lands at `dst_root` + its `rel`), skipping
/// what already landed, with a journal named after both sides. Returns the summary and, when every object
/// is at the destination, the manifest of them all (not yet written anywhere).
pub(crate) async fn copy_objects(
    (src, src_root): (&Remote, &str),
    (dst, dst_root): (&Remote, &str),
    objects: Vec<SourceObject>,
    options: &TransferOptions,
    progress: &Events,
    cancel: CancellationToken,
) -> Result<(Summary, Option<Manifest>), TransferError> {
    let started = Instant::now();
    let ends = plan::Endpoints::Tree {
        src_root: src_root.to_string(),
        dst_root: dst_root.to_string(),
    };
    let run = Run::open((src, dst), &ends, options, progress.clone(), cancel)?;
    let Executed {
        mut summary,
        landed,
    } = run.execute(Listing::of(objects)).await?;
    let manifest = match landed {
        Some(Landed::Tree { manifest, .. }) => {
            run.finish().await?;
            let reader = manifest.reader().await;
            let whole = match reader {
                Ok(r) => r.into_manifest().await,
                Err(e) => Err(e),
            };
            Some(whole.map_err(|e| TransferError::Remote {
                remote: dst.name().to_string(),
                message: format!("reading back the manifest of what was copied: {e}"),
            })?)
        }
        _ => None,
    };
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((summary, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps every event, as owned text, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Reporter for Recorder {
        fn report(&self, event: Event<'_>) {
            let line = match event {
                Event::Moved { bytes, .. } => format!("moved {bytes}"),
                Event::Settled { key, outcome, .. } => format!("{key}: {outcome:?}"),
                other => format!("{other:?}"),
            };
            self.0.lock().unwrap().push(line);
        }
    }

    #[tokio::test]
    async fn a_transfer_reports_its_stages_objects_and_bytes_as_typed_events() {
        let (src_dir, dst_dir, state) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        std::fs::create_dir_all(src_dir.path().join("tree/sub")).unwrap();
        std::fs::write(src_dir.path().join("tree/a"), b"alpha").unwrap();
        std::fs::write(src_dir.path().join("tree/sub/b"), b"bravo!").unwrap();
        let (src, dst) = (
            crate::remote::local_for_tests("a", src_dir.path()),
            crate::remote::local_for_tests("b", dst_dir.path()),
        );
        let path = |remote: &str, path: &str| RemotePath {
            remote: remote.into(),
            path: path.into(),
        };
        let options = TransferOptions {
            verify: true,
            state_dir: state.path().to_path_buf(),
            ..TransferOptions::default()
        };
        let recorder = Arc::new(Recorder::default());
        let summary = transfer(
            &src,
            &path("a", "tree"),
            &dst,
            &path("b", "copy"),
            options.clone(),
            recorder.clone(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!((summary.copied, summary.copied_bytes), (2, 11));
        let events = recorder.0.lock().unwrap().clone();
        let at = |line: &str| {
            events
                .iter()
                .position(|e| e == line)
                .unwrap_or_else(|| panic!("no '{line}' in {events:#?}"))
        };
        let copying = at("StageStarted(Copying)");
        let verifying = at("StageStarted(Verifying)");
        assert!(copying < verifying, "{events:#?}");
        let copied = |key: &str, data: &[u8]| {
            let hash = blake3::hash(data).to_hex().to_string();
            format!("copy/{key}: Copied {{ blake3: \"{hash}\" }}")
        };
        let a = at(&copied("a", b"alpha"));
        let b = at(&copied("sub/b", b"bravo!"));
        assert!(copying < a && a < verifying && b < verifying, "{events:#?}");
        assert!(at("a: Verified") > verifying && at("sub/b: Verified") > verifying);
        let moved = |range: std::ops::Range<usize>| -> u64 {
            events[range]
                .iter()
                .filter_map(|e| e.strip_prefix("moved ")?.parse::<u64>().ok())
                .sum()
        };
        assert_eq!(moved(copying..verifying), 11, "bytes sent: {events:#?}");
        assert_eq!(
            moved(verifying..events.len()),
            11,
            "bytes read back: {events:#?}"
        );
        assert_eq!(
            events.iter().filter(|e| e.starts_with("Planned")).count(),
            4,
            "one per object to copy, one per object to verify: {events:#?}"
        );

        // Nothing left to do: the plan says so, and no byte moves.
        let again = Arc::new(Recorder::default());
        let options = TransferOptions {
            verify: false,
            ..options
        };
        transfer(
            &src,
            &path("a", "tree"),
            &dst,
            &path("b", "copy"),
            options,
            again.clone(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let events = again.0.lock().unwrap().clone();
        assert!(
            events.contains(
                &"PlanFinished { copy: 0, copy_bytes: 0, skip: 2, skip_bytes: 11 }".to_string()
            ),
            "{events:#?}"
        );
        assert!(
            !events.iter().any(|e| e.starts_with("moved")),
            "{events:#?}"
        );
    }

    /// An S3 source that lists no ETags (s3s-fs does not): a small object's GET answer says which version it
    /// served, and its time is checked against the listing's, without a HEAD per object; a GET that served a
    /// version modified since it was listed fails the object and lands nothing.
    #[tokio::test]
    async fn a_small_object_is_checked_by_its_get_answer_when_the_listing_has_no_etag() {
        const LISTED: &str = "2026-01-01T00:00:00.000Z";
        for (served, lands) in [
            ("Thu, 01 Jan 2026 00:00:00 GMT", true),
            ("Thu, 01 Jan 2026 00:00:09 GMT", false),
        ] {
            let (endpoint, seen) = crate::remote::test_server::start(move |r| {
                let target = r.target.as_str();
                if r.method == "GET" && target.contains("list-type=2") && target.contains("prefix=tree") {
                    let listing = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
                         <KeyCount>1</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>tree/a</Key>\
                         <LastModified>{LISTED}</LastModified><Size>5</Size></Contents></ListBucketResult>"
                    );
                    (200, vec![("content-type", "application/xml".into())], listing)
                } else if r.method == "GET" && target.starts_with("/b/tree/a") {
                    (200, vec![("last-modified", served.into())], "alpha".into())
                } else if r.method == "GET" && target.contains("list-type=2") {
                    let empty = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
                                 <KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>";
                    (200, vec![("content-type", "application/xml".into())], empty.into())
                } else {
                    (404, Vec::new(), String::new())
                }
            })
            .await;
            let src = Remote::open(&crate::remote::config_for_tests(
                &format!(
                    "[remotes.a]\ntype = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n\
                     endpoint = \"{endpoint}\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\nretries = 0\n"
                ),
                "a",
            ))
            .expect("an openable remote");
            let (dst_dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let dst = crate::remote::local_for_tests("b", dst_dir.path());
            let path = |remote: &str, path: &str| RemotePath {
                remote: remote.into(),
                path: path.into(),
            };
            let options = TransferOptions {
                state_dir: state.path().to_path_buf(),
                ..TransferOptions::default()
            };
            let result = transfer(
                &src,
                &path("a", "tree"),
                &dst,
                &path("b", "copy"),
                options,
                Arc::new(Recorder::default()),
                CancellationToken::new(),
            )
            .await;
            let landed = std::fs::read(dst_dir.path().join("copy/a")).ok();
            if lands {
                let summary = result.expect("the version listed was served");
                assert_eq!(summary.copied, 1);
                assert!(summary.failed.is_empty(), "{:?}", summary.failed);
                assert_eq!(landed.as_deref(), Some(&b"alpha"[..]));
            } else {
                let message = match result {
                    Ok(summary) => format!("{:?}", summary.failed),
                    Err(e) => e.to_string(),
                };
                assert!(message.contains("changed"), "{message}");
                assert!(landed.is_none(), "a changed version landed: {message}");
            }
            let heads: Vec<_> = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.method == "HEAD" && r.target.starts_with("/b/tree/a"))
                .map(|r| r.target.clone())
                .collect();
            assert!(
                heads.is_empty(),
                "the object was asked for again: {heads:?}"
            );
        }
    }

    #[test]
    fn footprint_is_bounded_by_settings_not_object_size() {
        let o = TransferOptions::default();
        assert_eq!(o.object_footprint(1000), 1000);
        let large = o.object_footprint(1 << 30);
        assert_eq!(large, (8 << 20) * 7);
        assert_eq!(
            o.object_footprint(64 << 30),
            large,
            "a 64 GiB object needs no more memory than a 1 GiB one"
        );
        // Beyond 10,000 parts the part size grows, in whole MiB, so the object still fits.
        let huge = 400u64 << 30;
        let part = o.part_size_for(huge);
        assert!(
            huge.div_ceil(part) <= MAX_PARTS && part % (1 << 20) == 0,
            "{part}"
        );
    }
}
