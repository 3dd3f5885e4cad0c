//! Planning a transfer: list the source tree, map each key to the destination, and decide per object
//! whether it must be copied or has already landed (journal, or a `stat` of the destination).

use std::collections::HashMap;

use futures::TryStreamExt;
use futures::stream::{self, StreamExt};
use opendal::{EntryMode, ErrorKind, Metadata};

use super::TransferError;
use super::journal::Journal;
use super::manifest::{
    MANIFEST_KEY, MBX_DIR, META_BLAKE3, META_SRC_ETAG, META_SRC_MTIME, Manifest, ManifestEntry,
    ManifestError,
};
use crate::config::RemoteKind;
use crate::remote::{Remote, RemotePath, join_key};

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

/// What to do with one object.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Copy,
    /// Already at the destination with this manifest entry.
    Skip(ManifestEntry),
}

/// One object and its fate.
#[derive(Debug, Clone)]
pub(crate) struct PlannedObject {
    pub src: SourceObject,
    pub dst_key: String,
    pub action: Action,
    /// The BLAKE3 the source's own manifest gives for this object, if it has one that still matches.
    pub expected_blake3: Option<String>,
}

/// Where a transfer's tree sits on each side.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// Source tree root (a folder prefix, or the single object's key).
    pub src_root: String,
    /// Destination tree root (folder prefix ending in `/`, or empty).
    pub dst_root: String,
    /// The source is one object, not a tree.
    pub single: bool,
}

pub(super) fn metadata_mtime(m: &Metadata) -> Option<String> {
    m.last_modified().map(|t| t.to_string())
}

pub(super) fn clean_etag(m: &Metadata) -> Option<String> {
    m.etag()
        .map(|e| e.trim_matches('"').to_string())
        .filter(|e| !e.is_empty())
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

/// Lists every object under `dir` on `remote` (recursively), skipping mbx's own `.mbx/` folder at the root,
/// and on `fs` symbolic links and special files.
pub async fn list_tree(remote: &Remote, dir: &str) -> Result<Vec<SourceObject>, TransferError> {
    Ok(list_source(remote, dir, Links::Skip).await?.0)
}

/// Says what was skipped: a warning each, or a `skipped_link` event with `--json`.
pub(crate) fn report_skipped(progress: &super::Progress, skipped: &[SkippedLink]) {
    for s in skipped {
        if progress.is_json() {
            progress.json_event(serde_json::json!({
                "event": "skipped_link", "key": s.rel, "reason": s.reason,
            }));
        } else {
            progress.note(&format!("warning: skipped {}: {}", s.rel, s.reason));
        }
    }
}

/// What the symbolic link at `path` leads to: a file inside `real_root`, copied with [`Links::Follow`], or
/// something skipped, with the reason.
fn follow_link(
    real_root: &std::path::Path,
    path: &std::path::Path,
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

/// Entries as OpenDAL's listing gives them: key and metadata.
type Listed = Vec<(String, Metadata)>;

/// Lists the local folder `dir` (empty or ending in `/`) below `root` without following any link. OpenDAL's fs
/// lister would read through links: a link to a file out of the root would be copied as that file (and, in a
/// debug build, a link to a folder trips an assertion in OpenDAL).
fn walk_fs(
    root: &std::path::Path,
    dir: &str,
    links: Links,
    recursive: bool,
) -> Result<(Listed, Vec<SkippedLink>), std::io::Error> {
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    let start = root.join(dir.trim_end_matches('/'));
    // A folder that is not there lists as empty, as on OpenDAL.
    let (Ok(real_root), true) = (std::fs::canonicalize(root), start.is_dir()) else {
        return Ok((out, skipped));
    };
    let depth = if recursive { usize::MAX } else { 1 };
    let mut walker = walkdir::WalkDir::new(&start)
        .min_depth(1)
        .max_depth(depth)
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(std::io::Error::from)?;
        let rel = entry
            .path()
            .strip_prefix(&start)
            .map(|r| r.to_str().map(str::to_string));
        let Ok(Some(rel)) = rel else {
            skipped.push(SkippedLink {
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
            out.push((
                format!("{dir}{rel}/"),
                opendal::MetadataBuilder::dir().build(),
            ));
            continue;
        } else if file_type.is_file() {
            entry.metadata().map_err(std::io::Error::from)?
        } else if file_type.is_symlink() {
            match follow_link(&real_root, entry.path(), links) {
                Ok(m) => m,
                Err(reason) => {
                    skipped.push(SkippedLink { rel, reason });
                    continue;
                }
            }
        } else {
            let reason = "not a regular file (a socket, pipe or device)";
            skipped.push(SkippedLink { rel, reason });
            continue;
        };
        let mut m = opendal::MetadataBuilder::file(meta.len());
        let modified = meta.modified().ok();
        // The same type and text as OpenDAL's own listing, so journals and manifests of earlier runs still match.
        if let Some(t) = modified.and_then(|t| opendal::raw::Timestamp::try_from(t).ok()) {
            m.last_modified(t);
        }
        out.push((format!("{dir}{rel}"), m.build()));
    }
    Ok((out, skipped))
}

/// The entries of the local (`fs`) folder `dir` (empty or ending in `/`), folders included (ending in `/`),
/// without reading through a symbolic link: each link is skipped (and why) unless `links` follows it to a
/// file inside the root. mbx's own `.mbx/` folder is not listed.
pub async fn list_local(
    remote: &Remote,
    dir: &str,
    links: Links,
    recursive: bool,
) -> Result<(Vec<(String, Metadata)>, Vec<SkippedLink>), TransferError> {
    let root = std::path::PathBuf::from(
        remote
            .config()
            .options
            .get("root")
            .map(String::as_str)
            .unwrap_or(""),
    );
    let folder = dir.to_string();
    let walked = tokio::task::spawn_blocking(move || walk_fs(&root, &folder, links, recursive))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    walked.map_err(|e| TransferError::Remote {
        remote: remote.name().to_string(),
        message: format!("listing '{dir}': {e}"),
    })
}

/// [`list_tree`], with the links skipped (and why), following links to files inside the root when asked.
pub(crate) async fn list_source(
    remote: &Remote,
    dir: &str,
    links: Links,
) -> Result<(Vec<SourceObject>, Vec<SkippedLink>), TransferError> {
    let on_fs = remote.config().kind == RemoteKind::Fs;
    let (entries, skipped) = if on_fs && (dir.is_empty() || dir.ends_with('/')) {
        list_local(remote, dir, links, true).await?
    } else {
        let list_err = |e: opendal::Error| TransferError::Remote {
            remote: remote.name().to_string(),
            message: format!("listing '{dir}': {e}"),
        };
        let lister = remote
            .op()
            .lister_with(dir)
            .recursive(true)
            .await
            .map_err(list_err)?;
        let entries: Vec<opendal::Entry> = lister.try_collect().await.map_err(list_err)?;
        let listed: Listed = entries
            .into_iter()
            .map(opendal::Entry::into_parts)
            .collect();
        (listed, Vec::new())
    };
    let mut out = Vec::with_capacity(entries.len());
    for (key, meta) in entries {
        let Some(rel) = key.strip_prefix(dir) else {
            continue;
        };
        if rel.is_empty() || rel.starts_with(MBX_DIR) {
            continue;
        }
        let is_dir = meta.mode() == EntryMode::DIR || key.ends_with('/');
        // A local folder is not an object; on object stores a key ending in `/` is a real marker object.
        if is_dir && on_fs {
            continue;
        }
        remote
            .check_key(&key)
            .map_err(|e| TransferError::BadKey(e.to_string()))?;
        out.push(SourceObject {
            rel: rel.to_string(),
            key,
            size: if is_dir { 0 } else { meta.content_length() },
            etag: clean_etag(&meta),
            mtime: metadata_mtime(&meta),
            is_dir,
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok((out, skipped))
}

/// Sets apart the objects whose source or destination key OpenDAL would trim (whitespace at an end): each
/// would be read or written as another key, so each fails up front, named.
pub(crate) fn refuse_unaddressable(
    ends: &Endpoints,
    objects: Vec<SourceObject>,
) -> (Vec<SourceObject>, Vec<super::Mismatch>) {
    let mut refused = Vec::new();
    let mut kept = Vec::with_capacity(objects.len());
    for obj in objects {
        let dst_key = if ends.single {
            ends.dst_root.clone()
        } else {
            join_key(&ends.dst_root, &obj.rel)
        };
        match crate::remote::check_addressable(&obj.key)
            .and_then(|()| crate::remote::check_addressable(&dst_key))
        {
            Ok(()) => kept.push(obj),
            Err(e) => refused.push(super::Mismatch {
                key: obj.key,
                reason: e.to_string(),
            }),
        }
    }
    (kept, refused)
}

/// Works out the source tree and where it lands: a destination ending in `/` (or empty) receives the
/// source's last path component, like `cp -r`; otherwise the destination path is the new root.
pub(crate) async fn resolve(
    src: &Remote,
    src_path: &RemotePath,
    dst: &Remote,
    dst_path: &RemotePath,
    links: Links,
) -> Result<(Endpoints, Vec<SourceObject>, Vec<SkippedLink>), TransferError> {
    for (remote, path) in [(src, src_path), (dst, dst_path)] {
        if !path.path.is_empty() {
            remote
                .check_key(path.path.trim_end_matches('/'))
                .map_err(|e| TransferError::BadKey(e.to_string()))?;
        }
    }
    src.check_read_inside_root(&src_path.path)
        .map_err(|e| TransferError::BadKey(e.to_string()))?;
    let into_folder = dst_path.path.is_empty() || dst_path.path.ends_with('/');
    let src_dir = src_path.as_dir();
    let overlap = || TransferError::Overlap {
        src: src_path.to_string(),
        dst: dst_path.to_string(),
    };
    let (objects, skipped) = list_source(src, &src_dir, links).await?;
    if !objects.is_empty() || src_dir.is_empty() {
        let dst_root = match (into_folder, src_path.last_component()) {
            (true, Some(last)) => format!("{}{last}/", dst_path.as_dir()),
            (true, None) => dst_path.as_dir(),
            (false, _) => dst_path.as_dir(),
        };
        // A copy into its own source would list its earlier copies as source objects on the next run.
        if src.same_store(dst) && dst_root.starts_with(&src_dir) {
            return Err(overlap());
        }
        return Ok((
            Endpoints {
                src_root: src_dir,
                dst_root,
                single: false,
            },
            objects,
            skipped,
        ));
    }
    // Not a folder: maybe one object.
    if !src_path.path.ends_with('/') {
        match src.op().stat(&src_path.path).await {
            Ok(meta) if meta.is_file() => {
                let name = src_path.last_component().unwrap_or_default().to_string();
                let dst_key = if into_folder {
                    format!("{}{name}", dst_path.as_dir())
                } else {
                    dst_path.path.clone()
                };
                if src.same_store(dst) && dst_key == src_path.path {
                    return Err(overlap());
                }
                let object = SourceObject {
                    rel: name,
                    key: src_path.path.clone(),
                    size: meta.content_length(),
                    etag: clean_etag(&meta),
                    mtime: metadata_mtime(&meta),
                    is_dir: false,
                };
                return Ok((
                    Endpoints {
                        src_root: src_path.path.clone(),
                        dst_root: dst_key,
                        single: true,
                    },
                    vec![object],
                    Vec::new(),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(TransferError::Remote {
                    remote: src.name().to_string(),
                    message: format!("stat '{}': {e}", src_path.path),
                });
            }
        }
    }
    Err(TransferError::NothingToCopy(src_path.to_string()))
}

/// Reads the manifest of the tree at `root` on `remote`, if there is one.
pub(crate) async fn read_manifest(
    remote: &Remote,
    root: &str,
) -> Result<Option<Manifest>, TransferError> {
    let key = join_key(root, MANIFEST_KEY);
    match remote.op().read(&key).await {
        Ok(buf) => Manifest::from_json(&buf.to_vec())
            .map(Some)
            .map_err(|e| match e {
                ManifestError::Damaged(why) => TransferError::DamagedManifest {
                    at: format!("{}:{key}", remote.name()),
                    why,
                },
                ManifestError::Newer(message) => TransferError::Remote {
                    remote: remote.name().to_string(),
                    message: format!("'{key}': {message}"),
                },
            }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TransferError::Remote {
            remote: remote.name().to_string(),
            message: format!("reading '{key}': {e}"),
        }),
    }
}

/// Like [`read_manifest`], for a manifest that only saves work (a transfer's source and destination): a
/// damaged one vouches for nothing and is passed over with a warning; the run then checks each object
/// itself and, at the destination, writes the manifest again when it completes.
async fn read_manifest_if_sound(
    remote: &Remote,
    root: &str,
) -> Result<Option<Manifest>, TransferError> {
    match read_manifest(remote, root).await {
        Err(TransferError::DamagedManifest { at, why }) => {
            tracing::warn!(
                "the manifest {at} is damaged ({why}): not trusting it; every object is checked, and the \
                 destination's manifest is written again when the transfer completes"
            );
            Ok(None)
        }
        other => other,
    }
}

/// True when `entry` describes this very version of the source object.
fn same_source(entry: &ManifestEntry, obj: &SourceObject) -> bool {
    entry.size == obj.size
        && match (&entry.src_etag, &obj.etag) {
            (Some(a), Some(b)) => a == b,
            _ => entry.src_mtime.is_some() && entry.src_mtime == obj.mtime,
        }
}

/// Decides for every object whether to copy it. `concurrency` bounds the `stat` calls.
pub(crate) async fn plan(
    src: &Remote,
    dst: &Remote,
    ends: &Endpoints,
    objects: Vec<SourceObject>,
    journal: Option<&Journal>,
    concurrency: usize,
) -> Result<Vec<PlannedObject>, TransferError> {
    let dst_key = |obj: &SourceObject| {
        if ends.single {
            ends.dst_root.clone()
        } else {
            join_key(&ends.dst_root, &obj.rel)
        }
    };
    for obj in &objects {
        dst.check_key(&dst_key(obj))
            .map_err(|e| TransferError::BadKey(e.to_string()))?;
    }
    let mut keys: Vec<String> = objects.iter().map(dst_key).collect();
    if !ends.single {
        // The manifest too: `<tree>/.mbx` may be a link out of the root.
        keys.push(join_key(&ends.dst_root, MANIFEST_KEY));
    }
    dst.check_inside_root(keys.iter().map(String::as_str))
        .map_err(|e| TransferError::BadKey(e.to_string()))?;
    let source_manifest = if ends.single {
        None
    } else {
        read_manifest_if_sound(src, &ends.src_root).await?
    };
    let expected: HashMap<String, ManifestEntry> = source_manifest
        .map(|m| m.objects.into_iter().map(|e| (e.key.clone(), e)).collect())
        .unwrap_or_default();
    // A finished earlier run left its manifest at the destination: it vouches for what it lists.
    let landed: HashMap<String, ManifestEntry> = if ends.single {
        HashMap::new()
    } else {
        read_manifest_if_sound(dst, &ends.dst_root)
            .await?
            .map(|m| m.objects.into_iter().map(|e| (e.key.clone(), e)).collect())
            .unwrap_or_default()
    };
    let existing: HashMap<String, u64> = if ends.single {
        match dst.op().stat(&ends.dst_root).await {
            Ok(m) if m.is_file() => [(ends.dst_root.clone(), m.content_length())].into(),
            _ => HashMap::new(),
        }
    } else {
        list_tree(dst, &ends.dst_root)
            .await?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect()
    };
    let planned = stream::iter(objects)
        .map(|obj| {
            let dst_key = dst_key(&obj);
            let present = existing.get(&dst_key).copied();
            let expected_blake3 = expected
                .get(&obj.rel)
                .filter(|e| e.size == obj.size)
                .map(|e| e.blake3.clone());
            let landed = landed.get(&obj.rel);
            async move {
                let action = decide(dst, &obj, &dst_key, present, journal, landed).await;
                PlannedObject {
                    src: obj,
                    dst_key,
                    action,
                    expected_blake3,
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(planned)
}

async fn decide(
    dst: &Remote,
    obj: &SourceObject,
    dst_key: &str,
    present: Option<u64>,
    journal: Option<&Journal>,
    landed: Option<&ManifestEntry>,
) -> Action {
    let Some(dst_size) = present else {
        return Action::Copy;
    };
    if dst_size != obj.size {
        return Action::Copy;
    }
    let journaled = journal.and_then(|j| j.get(&obj.rel));
    for entry in [journaled.as_ref(), landed].into_iter().flatten() {
        if same_source(entry, obj) {
            return Action::Skip(entry.clone());
        }
    }
    // No journal record: the destination's own metadata says what it was copied from.
    let Ok(meta) = dst.op().stat(dst_key).await else {
        return Action::Copy;
    };
    let Some(user) = meta.user_metadata() else {
        return Action::Copy;
    };
    let Some(hash) = user.get(META_BLAKE3) else {
        return Action::Copy;
    };
    let entry = ManifestEntry {
        key: obj.rel.clone(),
        size: meta.content_length(),
        blake3: hash.to_string(),
        src_etag: user.get(META_SRC_ETAG).map(str::to_string),
        src_mtime: user.get(META_SRC_MTIME).map(str::to_string),
    };
    if same_source(&entry, obj) {
        Action::Skip(entry)
    } else {
        Action::Copy
    }
}
