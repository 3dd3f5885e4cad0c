//! Planning a transfer: work out where the tree lands, then decide per object, as the source listing
//! streams by, whether it must be copied or has already landed. The source listing, the destination's
//! listing and both trees' manifests are all in key order, so the decision is a merge of sorted streams:
//! memory does not grow with the number of objects.

use std::pin::Pin;

use futures::stream::{Stream, StreamExt};
use opendal::ErrorKind;

use super::TransferError;
use super::journal::Journal;
use super::listing::{
    Links, Listing, ObjectStream, SourceObject, clean_etag, list_stream, metadata_mtime,
};
use super::manifest::{MANIFEST_KEY, ManifestEntry, ManifestReader};
use crate::remote::{Remote, RemotePath, join_key};

/// Where a transfer's objects come from and land.
#[derive(Debug, Clone)]
pub(crate) enum Endpoints {
    /// A tree: each object under `src_root` lands at `dst_root` followed by its key below `src_root`.
    Tree {
        /// A folder prefix (ending in `/`), or empty.
        src_root: String,
        /// A folder prefix (ending in `/`), or empty.
        dst_root: String,
    },
    /// One object, copied to one key. It has no manifest file.
    Object {
        /// Its key on the source.
        src_key: String,
        /// Its key at the destination.
        dst_key: String,
    },
}

impl Endpoints {
    /// The source tree's root, or the object's key.
    pub fn src_root(&self) -> &str {
        match self {
            Endpoints::Tree { src_root, .. } => src_root,
            Endpoints::Object { src_key, .. } => src_key,
        }
    }

    /// The destination tree's root, or the object's key there.
    pub fn dst_root(&self) -> &str {
        match self {
            Endpoints::Tree { dst_root, .. } => dst_root,
            Endpoints::Object { dst_key, .. } => dst_key,
        }
    }

    /// Where the object `rel` (its key below the source root) lands.
    pub fn dst_key(&self, rel: &str) -> String {
        match self {
            Endpoints::Tree { dst_root, .. } => join_key(dst_root, rel),
            Endpoints::Object { dst_key, .. } => dst_key.clone(),
        }
    }

    pub fn is_tree(&self) -> bool {
        matches!(self, Endpoints::Tree { .. })
    }
}

/// What to do with one object.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Copy,
    /// Already at the destination with this manifest entry.
    Skip(ManifestEntry),
    /// At the destination with the right size, but neither journal nor manifest says what it was copied
    /// from: its own metadata decides (a `stat`, made by the copy step, many at once).
    CheckMetadata,
    /// It cannot be written as its own key (OpenDAL would trim it): it fails, named.
    Refuse(String),
}

/// One object and its fate.
#[derive(Debug, Clone)]
pub(crate) struct PlannedObject {
    pub src: SourceObject,
    pub dst_key: String,
    pub action: Action,
    /// The BLAKE3 the source's own manifest gives for this object, if it has one that still matches.
    pub expected_blake3: Option<String>,
    /// What the destination's manifest said of this key, if anything: the run rewrites the manifest only
    /// when something differs.
    pub previous: Option<ManifestEntry>,
}

/// Works out the source tree and where it lands, and starts listing it: a destination ending in `/` (or
/// empty) receives the source's last path component, like `cp -r`; otherwise the destination path is the
/// new root.
pub(crate) async fn resolve(
    src: &Remote,
    src_path: &RemotePath,
    dst: &Remote,
    dst_path: &RemotePath,
    links: Links,
) -> Result<(Endpoints, Listing), TransferError> {
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
    let mut listing = list_stream(src, &src_dir, links);
    let first = listing.objects.next().await.transpose()?;
    if first.is_some() || src_dir.is_empty() {
        let dst_root = match (into_folder, src_path.last_component()) {
            (true, Some(last)) => format!("{}{last}/", dst_path.as_dir()),
            (true, None) => dst_path.as_dir(),
            (false, _) => dst_path.as_dir(),
        };
        // A copy into its own source would list its earlier copies as source objects on the next run.
        if src.same_store(dst) && dst_root.starts_with(&src_dir) {
            return Err(overlap());
        }
        let rest = std::mem::replace(&mut listing.objects, Box::pin(futures::stream::empty()));
        listing.objects = Box::pin(futures::stream::iter(first.map(Ok)).chain(rest));
        let ends = Endpoints::Tree {
            src_root: src_dir,
            dst_root,
        };
        return Ok((ends, listing));
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
                let ends = Endpoints::Object {
                    src_key: src_path.path.clone(),
                    dst_key,
                };
                return Ok((ends, Listing::of(vec![object])));
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

/// A sorted stream, looked up by key as a merge walks forward.
pub(crate) struct Sorted<T> {
    stream: Pin<Box<dyn Stream<Item = Result<T, TransferError>> + Send>>,
    head: Option<T>,
    key: fn(&T) -> &str,
    ended: bool,
}

impl<T> Sorted<T> {
    pub fn new(
        stream: Pin<Box<dyn Stream<Item = Result<T, TransferError>> + Send>>,
        key: fn(&T) -> &str,
    ) -> Sorted<T> {
        Sorted {
            stream,
            head: None,
            key,
            ended: false,
        }
    }

    fn empty(key: fn(&T) -> &str) -> Sorted<T>
    where
        T: Send + 'static,
    {
        Sorted::new(Box::pin(futures::stream::empty()), key)
    }

    /// The item with key `key`, if the stream has one; items before it are passed to `passed`.
    pub async fn take(
        &mut self,
        key: &str,
        mut passed: impl FnMut(T),
    ) -> Result<Option<T>, TransferError> {
        loop {
            if self.head.is_none() && !self.ended {
                match self.stream.next().await {
                    Some(item) => self.head = Some(item?),
                    None => self.ended = true,
                }
            }
            let Some(head) = self.head.take() else {
                return Ok(None);
            };
            match (self.key)(&head).cmp(key) {
                std::cmp::Ordering::Less => passed(head),
                std::cmp::Ordering::Equal => return Ok(Some(head)),
                std::cmp::Ordering::Greater => {
                    self.head = Some(head);
                    return Ok(None);
                }
            }
        }
    }

    /// Passes everything left to `passed`.
    async fn drain(&mut self, mut passed: impl FnMut(T)) -> Result<(), TransferError> {
        if let Some(h) = self.head.take() {
            passed(h);
        }
        while !self.ended {
            match self.stream.next().await {
                Some(item) => passed(item?),
                None => self.ended = true,
            }
        }
        Ok(())
    }
}

pub(crate) fn manifest_stream(
    remote: &Remote,
    key: &str,
    reader: ManifestReader,
) -> Pin<Box<dyn Stream<Item = Result<ManifestEntry, TransferError>> + Send>> {
    let remote = remote.clone();
    let key = key.to_string();
    Box::pin(futures::stream::unfold(Some(reader), move |reader| {
        let (remote, key) = (remote.clone(), key.clone());
        async move {
            let mut reader = reader?;
            match reader.next().await {
                Ok(Some(e)) => Some((Ok(e), Some(reader))),
                Ok(None) => None,
                Err(e) => Some((Err(super::manifest::manifest_error(&remote, &key, e)), None)),
            }
        }
    }))
}

/// Opens the manifest of a tree that only saves work (a transfer's source and destination): a damaged one
/// vouches for nothing and is passed over with a warning; the run then checks each object itself and, at the
/// destination, writes the manifest again when it completes. Damage found part-way through reading is
/// treated the same: the entries after it are not used.
async fn open_manifest_if_sound(
    remote: &Remote,
    key: &str,
) -> Result<Option<ManifestReader>, TransferError> {
    match ManifestReader::open_key(remote, key).await {
        Err(TransferError::DamagedManifest { at, why }) => {
            warn_damaged(&at, &why);
            Ok(None)
        }
        other => other,
    }
}

fn warn_damaged(at: &str, why: &str) {
    tracing::warn!(
        "the manifest {at} is damaged ({why}): not trusting it; every object is checked, and the \
         destination's manifest is written again when the transfer completes"
    );
}

/// A manifest stream that ends, with a warning, at the first damage instead of failing the run.
fn until_damaged(
    stream: Pin<Box<dyn Stream<Item = Result<ManifestEntry, TransferError>> + Send>>,
    damaged: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Pin<Box<dyn Stream<Item = Result<ManifestEntry, TransferError>> + Send>> {
    Box::pin(stream.scan((), move |_, item| {
        let out = match item {
            Err(TransferError::DamagedManifest { at, why }) => {
                warn_damaged(&at, &why);
                damaged.store(true, std::sync::atomic::Ordering::Relaxed);
                None
            }
            other => Some(other),
        };
        futures::future::ready(out)
    }))
}

/// True when `entry` describes this very version of the source object.
fn same_source(entry: &ManifestEntry, obj: &SourceObject) -> bool {
    entry.size == obj.size
        && match (&entry.src_etag, &obj.etag) {
            (Some(a), Some(b)) => a == b,
            _ => entry.src_mtime.is_some() && entry.src_mtime == obj.mtime,
        }
}

/// Decides each object's fate as the source listing streams by.
pub(crate) struct Planner<'a> {
    dst: &'a Remote,
    ends: &'a Endpoints,
    journal: Option<&'a Journal>,
    /// The destination's objects: key below the root, size.
    present: Sorted<(String, u64)>,
    /// The source tree's manifest.
    expected: Sorted<ManifestEntry>,
    /// The destination tree's manifest, left by a finished earlier run: it vouches for what it lists.
    landed: Sorted<ManifestEntry>,
    /// The destination's manifest lists an object this run will not (or was damaged): it must be written.
    pub previous_differs: bool,
    /// The destination's manifest came from this same source.
    pub previous_source: Option<String>,
    landed_damaged: std::sync::Arc<std::sync::atomic::AtomicBool>,
    inside_root: crate::remote::InsideRoot,
}

impl<'a> Planner<'a> {
    /// Opens the destination's listing and both manifests: the source tree's, and the one at `landed_key`
    /// (the destination tree's, or a shard's).
    pub async fn open(
        (src, dst): (&Remote, &'a Remote),
        ends: &'a Endpoints,
        journal: Option<&'a Journal>,
        landed_key: &str,
    ) -> Result<Planner<'a>, TransferError> {
        fn by_key(e: &ManifestEntry) -> &str {
            &e.key
        }
        let landed_damaged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut planner = Planner {
            dst,
            ends,
            journal,
            present: Sorted::empty(|p: &(String, u64)| p.0.as_str()),
            expected: Sorted::empty(by_key),
            landed: Sorted::empty(by_key),
            previous_differs: false,
            previous_source: None,
            landed_damaged: landed_damaged.clone(),
            inside_root: dst.inside_root(),
        };
        match ends {
            Endpoints::Object { dst_key, .. } => {
                if let Ok(m) = dst.op().stat(dst_key).await
                    && m.is_file()
                {
                    let rel = ends_rel_of_object(ends);
                    let one = futures::stream::iter([Ok((rel, m.content_length()))]);
                    planner.present = Sorted::new(Box::pin(one), |p| p.0.as_str());
                }
            }
            Endpoints::Tree { src_root, dst_root } => {
                // The manifest too: `<tree>/.mbx` may be a link out of the root.
                dst.check_inside_root([landed_key])
                    .map_err(|e| TransferError::BadKey(e.to_string()))?;
                let expected_key = join_key(src_root, MANIFEST_KEY);
                if let Some(r) = open_manifest_if_sound(src, &expected_key).await? {
                    let s = manifest_stream(src, &expected_key, r);
                    let s = until_damaged(s, Default::default());
                    planner.expected = Sorted::new(s, by_key);
                }
                match open_manifest_if_sound(dst, landed_key).await? {
                    Some(r) => {
                        planner.previous_source = Some(r.header().source.clone());
                        let s = until_damaged(manifest_stream(dst, landed_key, r), landed_damaged);
                        planner.landed = Sorted::new(s, by_key);
                    }
                    None => planner.previous_differs = true,
                }
                let present: ObjectStream = list_stream(dst, dst_root, Links::Skip).objects;
                let present = present.map(|o| o.map(|o| (o.rel, o.size)));
                planner.present = Sorted::new(Box::pin(present), |p| p.0.as_str());
            }
        }
        Ok(planner)
    }

    /// Plans the next source object (they come in key order).
    pub async fn plan(&mut self, obj: SourceObject) -> Result<PlannedObject, TransferError> {
        let dst_key = self.ends.dst_key(&obj.rel);
        self.dst
            .check_key(&dst_key)
            .map_err(|e| TransferError::BadKey(e.to_string()))?;
        self.inside_root
            .check(&dst_key)
            .map_err(|e| TransferError::BadKey(e.to_string()))?;
        let present = self.present.take(&obj.rel, |_| {}).await?.map(|p| p.1);
        let expected_blake3 = self
            .expected
            .take(&obj.rel, |_| {})
            .await?
            .filter(|e| e.size == obj.size)
            .map(|e| e.blake3);
        let mut differs = false;
        let previous = self.landed.take(&obj.rel, |_| differs = true).await?;
        self.previous_differs |= differs;
        let refused = crate::remote::check_addressable(&obj.key)
            .and_then(|()| crate::remote::check_addressable(&dst_key));
        let action = match refused {
            Err(e) => Action::Refuse(e.to_string()),
            Ok(()) => self.decide(&obj, present, previous.as_ref()),
        };
        Ok(PlannedObject {
            src: obj,
            dst_key,
            action,
            expected_blake3,
            previous,
        })
    }

    /// After the last source object: finishes the checks, and notes destination manifest entries that no
    /// source object matched.
    pub async fn finish(&mut self) -> Result<(), TransferError> {
        let mut differs = false;
        self.landed.drain(|_| differs = true).await?;
        self.previous_differs |= differs
            || self
                .landed_damaged
                .load(std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn decide(
        &self,
        obj: &SourceObject,
        present: Option<u64>,
        landed: Option<&ManifestEntry>,
    ) -> Action {
        if present != Some(obj.size) {
            return Action::Copy;
        }
        let journaled = self.journal.and_then(|j| j.landed(obj));
        for entry in [journaled.as_ref(), landed].into_iter().flatten() {
            if same_source(entry, obj) {
                return Action::Skip(entry.clone());
            }
        }
        Action::CheckMetadata
    }
}

/// The key a one-object transfer's object has below its (empty) source root: its name.
fn ends_rel_of_object(ends: &Endpoints) -> String {
    let key = ends.src_root();
    key.rsplit('/').next().unwrap_or(key).to_string()
}

/// What the destination's own metadata says `obj` was copied from, when it says this very version.
pub(crate) async fn vouched_by_metadata(
    dst: &Remote,
    obj: &SourceObject,
    dst_key: &str,
) -> Option<ManifestEntry> {
    use super::manifest::{META_BLAKE3, META_SRC_ETAG, META_SRC_MTIME};
    let meta = dst.op().stat(dst_key).await.ok()?;
    let user = meta.user_metadata()?;
    let entry = ManifestEntry {
        key: obj.rel.clone(),
        size: meta.content_length(),
        blake3: user.get(META_BLAKE3)?.to_string(),
        src_etag: user.get(META_SRC_ETAG).map(str::to_string),
        src_mtime: user.get(META_SRC_MTIME).map(str::to_string),
    };
    same_source(&entry, obj).then_some(entry)
}
