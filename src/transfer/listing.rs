//! Listing a tree as a stream of objects in key order, so that a transfer of a million objects never holds
//! them all: the planner merges the source, the destination and both manifests as sorted streams.
//!
//! Object stores list in key order (S3, Azure and GCS promise byte order of the UTF-8 key). A local folder is
//! walked in the same order: the entries of each folder are sorted by name, a folder's name followed by `/`,
//! which is exactly where its keys fall among its siblings'. A listing that breaks the order is an error,
//! never a silent mis-plan.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::stream::{Stream, StreamExt, TryStreamExt};
use opendal::{EntryMode, Metadata};

use super::TransferError;
use super::manifest::MBX_DIR;
use crate::config::RemoteKind;
use crate::remote::Remote;

/// One object of the source tree.
#[derive(Debug, Clone, Default)]
pub struct SourceObject {
    /// Key relative to the destination root (what the manifest records).
    pub rel: String,
    /// Full key on the source remote.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, when the store gives one.
    pub etag: Option<String>,
    /// Last-modified time, RFC 3339.
    pub mtime: Option<String>,
    /// A "directory marker" object (a key ending in `/`).
    pub is_dir: bool,
}

/// What listing a local (`fs`) tree does with a symbolic link. rclone's default: skip it, and say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Skip every link, with a warning.
    #[default]
    Skip,
    /// Copy what a link to a file points to, when that file is inside the remote's root. Links out of the
    /// root, to folders, and dangling links are still skipped.
    Follow,
}

/// An entry of a local tree that was not copied (a symbolic link or a special file), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLink {
    /// Key relative to the source tree.
    pub rel: String,
    /// Why it was skipped.
    pub reason: &'static str,
}

/// Entries as a lister gives them: key and metadata, or why listing failed.
type EntryStream = Pin<Box<dyn Stream<Item = Result<(String, Metadata), String>> + Send>>;

/// Objects of a tree, in key order.
pub(crate) type ObjectStream =
    Pin<Box<dyn Stream<Item = Result<SourceObject, TransferError>> + Send>>;

/// A tree being listed: its objects as they come, and (on `fs`) the entries passed over so far.
pub(crate) struct Listing {
    pub objects: ObjectStream,
    pub skipped: Arc<Mutex<Vec<SkippedLink>>>,
}

impl Listing {
    /// A listing of objects already in hand (sorted here).
    pub fn of(mut objects: Vec<SourceObject>) -> Listing {
        objects.sort_by(|a, b| a.rel.cmp(&b.rel));
        Listing {
            objects: Box::pin(futures::stream::iter(objects.into_iter().map(Ok))),
            skipped: Arc::default(),
        }
    }
}

pub(crate) fn metadata_mtime(m: &Metadata) -> Option<String> {
    m.last_modified().map(|t| t.to_string())
}

pub(crate) fn clean_etag(m: &Metadata) -> Option<String> {
    m.etag()
        .map(|e| e.trim_matches('"').to_string())
        .filter(|e| !e.is_empty())
}

/// Lists every object under `dir` on `remote` (recursively), skipping mbx's own `.mbx/` folder at the root,
/// and on `fs` symbolic links and special files.
pub async fn list_tree(remote: &Remote, dir: &str) -> Result<Vec<SourceObject>, TransferError> {
    list_stream(remote, dir, Links::Skip)
        .objects
        .try_collect()
        .await
}

/// Keys asked for per listing page. S3 answers at most 1,000 whatever is asked; a server that answers more
/// (s3s-fs walks its whole bucket for every page, so 1,000 a page made a no-op re-run of 30,000 objects take
/// twice rclone's per-folder listing) then needs fewer round trips. 10,000 keys are about 2 MB of XML.
fn page_size(kind: RemoteKind) -> Option<usize> {
    matches!(kind, RemoteKind::S3 | RemoteKind::Minio).then_some(10_000)
}

/// The objects under `dir` (empty or ending in `/`; recursively), in key order, as they are listed.
pub(crate) fn list_stream(remote: &Remote, dir: &str, links: Links) -> Listing {
    let skipped: Arc<Mutex<Vec<SkippedLink>>> = Arc::default();
    let on_fs = remote.config().kind == RemoteKind::Fs;
    let entries: EntryStream = if on_fs && (dir.is_empty() || dir.ends_with('/')) {
        Box::pin(walk_fs_stream(
            fs_root(remote),
            dir.to_string(),
            links,
            skipped.clone(),
        ))
    } else {
        let op = remote.op().clone();
        let dir = dir.to_string();
        let page = page_size(remote.config().kind);
        let lister = async move {
            let mut list = op.lister_with(&dir).recursive(true);
            if let Some(n) = page {
                list = list.limit(n);
            }
            list.await
                .map(|l| {
                    l.map_ok(opendal::Entry::into_parts)
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| e.to_string())
        };
        Box::pin(futures::stream::once(lister).try_flatten())
    };
    let remote = remote.clone();
    let dir = dir.to_string();
    let mut last: Option<String> = None;
    let objects = entries.filter_map(move |entry| {
        let out = match entry {
            Err(e) => Some(Err(TransferError::Remote {
                remote: remote.name().to_string(),
                message: format!("listing '{dir}': {e}"),
            })),
            Ok((key, meta)) => source_object(&remote, &dir, key, &meta, on_fs).map(|o| {
                let o = o?;
                if last.as_deref().is_some_and(|l| l >= o.rel.as_str()) {
                    return Err(TransferError::Remote {
                        remote: remote.name().to_string(),
                        message: format!(
                            "listing '{dir}' is not in key order ('{}' came after '{}'); mbx plans a \
                             transfer by merging sorted listings and cannot use this store's",
                            crate::config::shown(&o.rel),
                            crate::config::shown(last.as_deref().unwrap_or_default())
                        ),
                    });
                }
                last = Some(o.rel.clone());
                Ok(o)
            }),
        };
        futures::future::ready(out)
    });
    Listing {
        objects: Box::pin(objects),
        skipped,
    }
}

/// The source object for one listed entry, `None` for what is not one (the folder itself, mbx's own files,
/// a local folder).
fn source_object(
    remote: &Remote,
    dir: &str,
    key: String,
    meta: &Metadata,
    on_fs: bool,
) -> Option<Result<SourceObject, TransferError>> {
    let rel = key.strip_prefix(dir)?;
    if rel.is_empty() || rel.starts_with(MBX_DIR) {
        return None;
    }
    let is_dir = meta.mode() == EntryMode::DIR || key.ends_with('/');
    // A local folder is not an object; on object stores a key ending in `/` is a real marker object.
    if is_dir && on_fs {
        return None;
    }
    if let Err(e) = remote.check_key(&key) {
        return Some(Err(TransferError::BadKey(e.to_string())));
    }
    Some(Ok(SourceObject {
        rel: rel.to_string(),
        size: if is_dir { 0 } else { meta.content_length() },
        etag: clean_etag(meta),
        mtime: metadata_mtime(meta),
        is_dir,
        key,
    }))
}

fn fs_root(remote: &Remote) -> PathBuf {
    PathBuf::from(
        remote
            .config()
            .options
            .get("root")
            .map(String::as_str)
            .unwrap_or(""),
    )
}

/// Reports each link that was skipped.
pub(crate) fn report_skipped(events: &super::Events, skipped: &[SkippedLink]) {
    for s in skipped {
        events.report(super::Event::SkippedLink {
            key: &s.rel,
            reason: s.reason,
        });
    }
}

/// What the symbolic link at `path` leads to: a file inside `real_root`, copied with [`Links::Follow`], or
/// something skipped, with the reason.
fn follow_link(
    real_root: &Path,
    path: &Path,
    links: Links,
) -> Result<std::fs::Metadata, &'static str> {
    let Ok(target) = std::fs::canonicalize(path) else {
        return Err("a dangling symbolic link");
    };
    if !target.starts_with(real_root) {
        return Err("a symbolic link that leads outside the root (never followed)");
    }
    let Ok(meta) = std::fs::metadata(&target) else {
        return Err("a dangling symbolic link");
    };
    if meta.is_dir() {
        return Err("a symbolic link to a folder (not followed)");
    }
    if !meta.is_file() {
        return Err("a symbolic link to something that is not a regular file");
    }
    match links {
        Links::Follow => Ok(meta),
        Links::Skip => Err("a symbolic link (use --follow-links to copy the file it points to)"),
    }
}

/// Siblings in the order their keys sort: a folder's name as if followed by `/`.
fn key_order(a: &walkdir::DirEntry, b: &walkdir::DirEntry) -> Ordering {
    let name = |e: &walkdir::DirEntry| {
        let mut n = e.file_name().as_encoded_bytes().to_vec();
        if e.file_type().is_dir() {
            n.push(b'/');
        }
        n
    };
    name(a).cmp(&name(b))
}

/// Walks the local folder `dir` (empty or ending in `/`) below `root` in key order without following any
/// link, giving each entry to `found` (until it returns false) and each entry passed over to `skipped`.
/// OpenDAL's fs lister would read through links: a link to a file out of the root would be copied as that
/// file (and, in a debug build, a link to a folder trips an assertion in OpenDAL).
fn walk_fs(
    root: &Path,
    dir: &str,
    links: Links,
    recursive: bool,
    found: &mut dyn FnMut(String, Metadata) -> bool,
    skipped: &mut dyn FnMut(SkippedLink),
) -> Result<(), std::io::Error> {
    let start = root.join(dir.trim_end_matches('/'));
    // A folder that is not there lists as empty, as on OpenDAL.
    let (Ok(real_root), true) = (std::fs::canonicalize(root), start.is_dir()) else {
        return Ok(());
    };
    let depth = if recursive { usize::MAX } else { 1 };
    let mut walker = walkdir::WalkDir::new(&start)
        .min_depth(1)
        .max_depth(depth)
        .sort_by(key_order)
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(std::io::Error::from)?;
        let rel = entry
            .path()
            .strip_prefix(&start)
            .map(|r| r.to_str().map(str::to_string));
        let Ok(Some(rel)) = rel else {
            skipped(SkippedLink {
                rel: entry.path().to_string_lossy().into_owned(),
                reason: "a name that is not valid UTF-8",
            });
            continue;
        };
        let file_type = entry.file_type();
        if entry.depth() == 1 && entry.file_name() == ".mbx" {
            if file_type.is_dir() {
                walker.skip_current_dir();
            }
            continue;
        }
        let meta = if file_type.is_dir() {
            if !found(
                format!("{dir}{rel}/"),
                opendal::MetadataBuilder::dir().build(),
            ) {
                return Ok(());
            }
            continue;
        } else if file_type.is_file() {
            entry.metadata().map_err(std::io::Error::from)?
        } else if file_type.is_symlink() {
            match follow_link(&real_root, entry.path(), links) {
                Ok(m) => m,
                Err(reason) => {
                    skipped(SkippedLink { rel, reason });
                    continue;
                }
            }
        } else {
            let reason = "not a regular file (a socket, pipe or device)";
            skipped(SkippedLink { rel, reason });
            continue;
        };
        let mut m = opendal::MetadataBuilder::file(meta.len());
        let modified = meta.modified().ok();
        // The same type and text as OpenDAL's own listing, so journals and manifests of earlier runs still match.
        if let Some(t) = modified.and_then(|t| opendal::raw::Timestamp::try_from(t).ok()) {
            m.last_modified(t);
        }
        if !found(format!("{dir}{rel}"), m.build()) {
            return Ok(());
        }
    }
    Ok(())
}

/// Entries walked per message from the walking thread.
const WALK_BATCH: usize = 1024;

/// [`walk_fs`] on a blocking thread, recursively, as a stream of entries in batches.
fn walk_fs_stream(
    root: PathBuf,
    dir: String,
    links: Links,
    skipped: Arc<Mutex<Vec<SkippedLink>>>,
) -> impl Stream<Item = Result<(String, Metadata), String>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<(String, Metadata)>, String>>(4);
    tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(WALK_BATCH);
        let mut found = |key: String, meta: Metadata| {
            batch.push((key, meta));
            if batch.len() < WALK_BATCH {
                return true;
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(WALK_BATCH));
            tx.blocking_send(Ok(full)).is_ok()
        };
        let mut skip = |s: SkippedLink| {
            if let Ok(mut all) = skipped.lock() {
                all.push(s);
            }
        };
        let walked = walk_fs(&root, &dir, links, true, &mut found, &mut skip);
        let last = match walked {
            Ok(()) => Ok(std::mem::take(&mut batch)),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.blocking_send(last);
    });
    tokio_stream_of(rx).flat_map(|batch| {
        let items: Vec<Result<(String, Metadata), String>> = match batch {
            Ok(b) => b.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(items)
    })
}

fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The entries of the local (`fs`) folder `dir` (empty or ending in `/`), folders included (ending in `/`),
/// in key order, without reading through a symbolic link: each link is skipped (and why) unless `links`
/// follows it to a file inside the root. mbx's own `.mbx/` folder is not listed.
pub async fn list_local(
    remote: &Remote,
    dir: &str,
    links: Links,
    recursive: bool,
) -> Result<(Vec<(String, Metadata)>, Vec<SkippedLink>), TransferError> {
    let root = fs_root(remote);
    let folder = dir.to_string();
    let walked = tokio::task::spawn_blocking(move || {
        let (mut out, mut passed) = (Vec::new(), Vec::new());
        walk_fs(
            &root,
            &folder,
            links,
            recursive,
            &mut |k, m| {
                out.push((k, m));
                true
            },
            &mut |s| passed.push(s),
        )
        .map(|()| (out, passed))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    walked.map_err(|e| TransferError::Remote {
        remote: remote.name().to_string(),
        message: format!("listing '{dir}': {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_tree_lists_in_the_order_its_keys_sort() {
        let dir = tempfile::tempdir().unwrap();
        // '-' sorts before '/', so "a-b" comes before the files in folder "a"; "a0" after them.
        for f in [
            "a/x",
            "a/y/z",
            "a-b",
            "a0",
            "b",
            "A",
            ".mbx/manifest.json",
            "a/.mbx",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        let remote = crate::remote::local_for_tests("t", dir.path());
        let listed: Vec<String> = list_tree(&remote, "")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.rel)
            .collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        assert_eq!(listed, ["A", "a-b", "a/.mbx", "a/x", "a/y/z", "a0", "b"]);
    }
}
