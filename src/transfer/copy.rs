//! Copying one object: read it as a stream, hash it with BLAKE3 as the bytes pass, and write it, in one
//! request when it is small and as a multipart upload with several parts in flight when it is large.
//! Memory is reserved from a shared budget before an object starts, so the total is bounded by design.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::TryStreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::TransferOptions;
use super::events::Events;
use super::journal::Journal;
use super::manifest::{META_BLAKE3, META_SRC_ETAG, META_SRC_MTIME, ManifestEntry};
use super::plan::PlannedObject;
use crate::remote::Remote;

/// Why one object failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct CopyError {
    pub message: String,
    /// Worth another attempt (a network error, a 5xx, a stall).
    pub retryable: bool,
    /// The run was interrupted.
    pub cancelled: bool,
}

impl CopyError {
    fn storage(what: &str, remote: &Remote, e: opendal::Error) -> CopyError {
        CopyError {
            retryable: worth_retrying(&e),
            message: format!("{what} on remote '{}': {e}", remote.name()),
            cancelled: false,
        }
    }

    pub(super) fn fatal(message: String) -> CopyError {
        CopyError {
            message,
            retryable: false,
            cancelled: false,
        }
    }

    pub(super) fn cancelled() -> CopyError {
        CopyError {
            message: "interrupted".into(),
            retryable: false,
            cancelled: true,
        }
    }
}

/// Whether an object that landed is on stable storage yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// The store said so (an object store's answer, a flushed file).
    Durable,
    /// Written to a local disk without a flush: the run flushes it with others before journaling it.
    NeedsSync,
}

/// A byte budget shared by every object in flight, in KiB so that it fits a semaphore.
#[derive(Clone)]
pub(crate) struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_kib: u32,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> MemoryBudget {
        let total_kib = u32::try_from((bytes >> 10).max(1)).unwrap_or(u32::MAX >> 4);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits until `bytes` of buffer can be held; more than the whole budget waits for the whole budget.
    pub(crate) async fn reserve(
        &self,
        bytes: u64,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, CopyError> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        self.permits
            .acquire_many(kib)
            .await
            .map_err(|_| CopyError::fatal("memory budget closed".into()))
    }
}

/// Everything one object copy needs.
pub(crate) struct Copier {
    pub src: Remote,
    pub dst: Remote,
    pub options: Arc<TransferOptions>,
    pub budget: MemoryBudget,
    pub progress: Events,
    pub cancel: CancellationToken,
    /// Source and destination are one store: copy server-side.
    pub server_side: bool,
    /// Where landed objects and parts are recorded (resumable uploads journal each part).
    pub journal: Option<Arc<Journal>>,
    /// Bytes of completed objects that an earlier run had already sent.
    pub resumed_bytes: std::sync::atomic::AtomicU64,
    /// Resumable objects started so far: their rank under a bandwidth limit and at the read gate.
    pub started_objects: std::sync::atomic::AtomicU64,
    /// The part reads of the run, a few at a time, oldest object first.
    pub reads: super::read_gate::ReadGate,
}

impl Copier {
    /// Copies one object with retries and returns its manifest entry.
    pub async fn copy(
        &self,
        obj: &PlannedObject,
    ) -> Result<(ManifestEntry, Durability), CopyError> {
        let attempt = || async { self.copy_once(obj).await };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_delay(Duration::from_secs(30))
                    .with_max_times(self.options.object_retries)
                    .with_jitter(),
            )
            .when(|e: &CopyError| e.retryable && !self.cancel.is_cancelled())
            .notify(|e, after| {
                self.progress.note(&format!(
                    "retrying {} in {:.1}s: {e}",
                    obj.src.key,
                    after.as_secs_f64()
                ))
            })
            .await
    }

    async fn copy_once(
        &self,
        obj: &PlannedObject,
    ) -> Result<(ManifestEntry, Durability), CopyError> {
        if self.cancel.is_cancelled() {
            return Err(CopyError::cancelled());
        }
        let size = obj.src.size;
        let mut durability = Durability::Durable;
        let local = self.dst.uploads().and_then(|u| u.local_files());
        let hash = if obj.src.is_dir {
            self.dst
                .op()
                .create_dir(&obj.dst_key)
                .await
                .map_err(|e| CopyError::storage("creating folder marker", &self.dst, e))?;
            blake3::hash(b"")
        } else if self.server_side {
            self.copy_server_side(obj).await?
        } else if let (true, Some(files)) = (size <= self.options.part_size, local) {
            durability = Durability::NeedsSync;
            self.copy_small_to_local(obj, files).await?
        } else if size <= self.options.part_size {
            self.copy_small(obj).await?
        } else if let (Some(uploads), Some(journal)) = (self.dst.uploads(), &self.journal) {
            self.copy_resumable(obj, uploads, journal).await?
        } else {
            // No resumable uploads on this kind of remote (GCS): the object resumes whole.
            self.copy_streaming(obj).await?
        };
        let blake3 = hash.to_hex().to_string();
        if let Some(expected) = &obj.expected_blake3
            && *expected != blake3
        {
            return Err(CopyError {
                message: format!(
                    "content does not match the source manifest (blake3 {blake3}, manifest says {expected})"
                ),
                retryable: true,
                cancelled: false,
            });
        }
        let entry = ManifestEntry {
            key: obj.src.rel.clone(),
            size,
            blake3,
            src_etag: obj.src.etag.clone(),
            src_mtime: obj.src.mtime.clone(),
        };
        Ok((entry, durability))
    }

    /// Copies `obj` from `found`, an object the destination already holds with the same content, on the
    /// destination's side: a server-side copy, or on a local disk a copy hashed on the way that lands only with
    /// the expected BLAKE3. `None` when that object can no longer be trusted or the copy did not work: the
    /// object is then copied from the source as usual.
    pub async fn copy_found(
        &self,
        obj: &PlannedObject,
        found: &super::dedup::Found,
    ) -> Option<(ManifestEntry, Durability)> {
        let expected = found.blake3.clone();
        if obj.expected_blake3.as_ref().is_some_and(|e| *e != expected) {
            return None;
        }
        if self.cancel.is_cancelled() {
            return None;
        }
        let vouched = super::dedup::still_vouched(&self.dst, found).await?;
        let local = self.dst.uploads().and_then(|u| u.local_files());
        let durability = match (local, self.dst.local_path(&found.key)) {
            (Some(files), Some(from)) => {
                let hash = blake3::Hash::from_hex(&expected).ok()?;
                let key = obj.dst_key.clone();
                let copied =
                    tokio::task::spawn_blocking(move || files.copy_if_hash(&from, &key, hash))
                        .await
                        .ok()?;
                match copied {
                    Ok(true) => Durability::NeedsSync,
                    Ok(false) => {
                        self.progress.note(&format!(
                            "warning: {} does not hold what its manifest says; {} is copied from the source",
                            found.key, obj.src.key
                        ));
                        return None;
                    }
                    Err(_) => return None,
                }
            }
            _ => {
                let known = blake3::Hash::from_hex(&expected).ok();
                if let Err(e) = self
                    .copy_on_server(obj, &found.key, vouched.etag(), known)
                    .await
                {
                    tracing::info!(
                        "copying {} from {} at the destination failed ({e}); copying it from the source",
                        obj.dst_key,
                        found.key
                    );
                    return None;
                }
                Durability::Durable
            }
        };
        self.progress.moved(&obj.src.key, obj.src.size);
        let entry = ManifestEntry {
            key: obj.src.rel.clone(),
            size: obj.src.size,
            blake3: expected,
            src_etag: obj.src.etag.clone(),
            src_mtime: obj.src.mtime.clone(),
        };
        Some((entry, durability))
    }

    /// Small objects to a local disk: read (in place when the source is local too), hashed and written in one
    /// trip to the blocking pool, to a temporary file renamed into place, without a flush of its own: the run
    /// flushes objects in groups before it journals them (see `run::GroupCommit`).
    async fn copy_small_to_local(
        &self,
        obj: &PlannedObject,
        files: crate::remote::LocalFiles,
    ) -> Result<blake3::Hash, CopyError> {
        let _mem = self.budget.reserve(obj.src.size).await?;
        let from_disk = self.src.local_path(&obj.src.key);
        let read = match from_disk {
            Some(_) => None,
            None => Some(self.read_small(obj).await?),
        };
        if self.cancel.is_cancelled() {
            return Err(CopyError::cancelled());
        }
        let (src, dst) = (obj.src.clone(), obj.dst_key.clone());
        let done = tokio::task::spawn_blocking(move || -> Result<blake3::Hash, LocalError> {
            let data = match (read, from_disk) {
                (Some(buf), _) => buf.to_vec(),
                (None, Some(path)) => read_local(&path, &src)?,
                (None, None) => Vec::new(),
            };
            let hash = blake3::hash(&data);
            files.write(&dst, &data).map_err(LocalError::Write)?;
            Ok(hash)
        })
        .await
        .map_err(|e| CopyError::fatal(format!("copying '{}': {e}", obj.src.key)))?;
        let hash = done.map_err(|e| e.into_copy_error(self, obj))?;
        self.progress.moved(&obj.src.key, obj.src.size);
        Ok(hash)
    }

    /// One GET of a small object, checked to be the listed version. With its size given, a read allocates what
    /// the object needs; without it OpenDAL's fs reader fills a 4 MiB buffer that the object's bytes then keep
    /// alive: 64 small objects in flight held 256 MiB.
    async fn read_small(&self, obj: &PlannedObject) -> Result<opendal::Buffer, CopyError> {
        let reading = |e| CopyError::storage(&format!("reading '{}'", obj.src.key), &self.src, e);
        let read = async {
            let mut open = self.src.op().reader_with(&obj.src.key);
            if let Some(etag) = self.if_match(obj) {
                open = open.if_match(etag);
            }
            let reader = open.await.map_err(reading)?;
            let buf = if obj.src.size > 0 {
                reader.read(0..obj.src.size).await
            } else {
                reader.read(..).await
            }
            .map_err(reading)?;
            Ok::<_, CopyError>((buf, reader))
        };
        let (buf, reader) = tokio::select! {
            r = read => r?,
            _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
        };
        check_length(obj, buf.len() as u64)?;
        if obj.src.etag.is_none() {
            self.check_served(obj, reader.metadata(), true).await?;
        }
        Ok(buf)
    }

    /// Fails unless a read of `obj` that had no ETag to pin it to (the listing gave none) served the version
    /// listed. One GET of an object store serves one version, and its answer describes it: `answer`'s time is
    /// checked against the listing's, which spares a HEAD, a round trip per object or part over a long link.
    /// A local file can change while it is read, and a store may answer without a time: those are asked
    /// again, after the read ([`Self::check_unchanged`]). `whole`: the read was of the whole object, so
    /// the answer's size is the object's (a ranged answer may give the range's alone).
    pub(super) async fn check_served(
        &self,
        obj: &PlannedObject,
        answer: Option<&opendal::Metadata>,
        whole: bool,
    ) -> Result<(), CopyError> {
        let described = answer.filter(|m| {
            self.src.config().kind != crate::config::RemoteKind::Fs && m.last_modified().is_some()
        });
        match described {
            Some(answer) => self.same_version(obj, answer, whole),
            None => self.check_unchanged(obj).await,
        }
    }

    pub(super) fn user_metadata(
        &self,
        obj: &PlannedObject,
        blake3: Option<String>,
    ) -> Option<HashMap<String, String>> {
        if !self.dst.op().info().capability().write_with_user_metadata {
            return None;
        }
        let mut m = HashMap::new();
        if let Some(h) = blake3 {
            m.insert(META_BLAKE3.to_string(), h);
        }
        if let Some(e) = &obj.src.etag {
            m.insert(META_SRC_ETAG.to_string(), e.clone());
        }
        if let Some(t) = &obj.src.mtime {
            m.insert(META_SRC_MTIME.to_string(), t.clone());
        }
        Some(m)
    }

    /// Small objects: one GET, hash, one PUT carrying the hash in its metadata.
    async fn copy_small(&self, obj: &PlannedObject) -> Result<blake3::Hash, CopyError> {
        let _mem = self.budget.reserve(obj.src.size).await?;
        let buf = self.read_small(obj).await?;
        let mut hasher = blake3::Hasher::new();
        for chunk in buf.clone() {
            hasher.update(&chunk);
        }
        let hash = hasher.finalize();
        let mut write = self.dst.op().write_with(&obj.dst_key, buf);
        if let Some(meta) = self.user_metadata(obj, Some(hash.to_hex().to_string())) {
            write = write.user_metadata(meta);
        }
        if self.dst.config().settings.resumable_upload {
            write = write.if_not_exists(true);
        }
        tokio::select! {
            r = write => r.map_err(|e| CopyError::storage(&format!("writing '{}'", obj.dst_key), &self.dst, e))?,
            _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
        };
        self.progress.moved(&obj.src.key, obj.src.size);
        Ok(hash)
    }

    /// Large objects without resumable uploads (GCS): a ranged, prefetching read stream feeding OpenDAL's
    /// multipart writer, hashed on the way. Its steps: [`Self::open_streams`], [`Self::pump`], the check
    /// against the source's manifest, and the writer's close; any failure aborts the upload.
    async fn copy_streaming(&self, obj: &PlannedObject) -> Result<blake3::Hash, CopyError> {
        let _mem = self
            .budget
            .reserve(self.options.object_footprint(obj.src.size))
            .await?;
        let _in_flight = self.progress.object_started(&obj.src.key, obj.src.size);
        let mut counted = 0u64;
        let result = async {
            let (mut stream, mut writer) = self.open_streams(obj).await?;
            let hash = match self.pump(obj, &mut stream, &mut writer, &mut counted).await {
                Ok(hash) => hash,
                Err(e) => {
                    // Leave no incomplete upload behind.
                    let _ = writer.abort().await;
                    return Err(e);
                }
            };
            if let Some(expected) = &obj.expected_blake3
                && *expected != hash.to_hex().as_str()
            {
                // Never complete an upload whose content differs from what the source vouches for.
                let _ = writer.abort().await;
                return Err(CopyError {
                    message: format!(
                        "'{}' does not match the source manifest's blake3",
                        obj.src.key
                    ),
                    retryable: true,
                    cancelled: false,
                });
            }
            writer.close().await.map_err(|e| {
                CopyError::storage(
                    &format!("completing upload of '{}'", obj.dst_key),
                    &self.dst,
                    e,
                )
            })?;
            Ok(hash)
        }
        .await;
        if result.is_err() {
            self.progress.retracted(&obj.src.key, counted);
        }
        result
    }

    /// The source's bytes as a stream of ranged reads, `read_ahead` of them at once, pinned to the listed
    /// version; and the destination's writer, `parts_in_flight` parts at once, with the user metadata.
    async fn open_streams(
        &self,
        obj: &PlannedObject,
    ) -> Result<(opendal::FuturesBytesStream, opendal::Writer), CopyError> {
        let o = &self.options;
        let part = o.part_size_for(obj.src.size);
        let mut reader = self
            .src
            .op()
            .reader_with(&obj.src.key)
            .chunk(part as usize)
            .concurrent(o.read_ahead);
        if let Some(etag) = self.if_match(obj) {
            reader = reader.if_match(etag);
        }
        let reader = reader
            .await
            .map_err(|e| CopyError::storage(&format!("opening '{}'", obj.src.key), &self.src, e))?;
        let stream = reader
            .into_bytes_stream(0..obj.src.size)
            .await
            .map_err(|e| CopyError::storage(&format!("reading '{}'", obj.src.key), &self.src, e))?;
        let mut writer = self
            .dst
            .op()
            .writer_with(&obj.dst_key)
            .chunk(part as usize)
            .concurrent(o.parts_in_flight);
        if let Some(meta) = self.user_metadata(obj, obj.expected_blake3.clone()) {
            writer = writer.user_metadata(meta);
        }
        if self.dst.config().settings.resumable_upload {
            writer = writer.if_not_exists(true);
        }
        let writer = writer.await.map_err(|e| {
            CopyError::storage(
                &format!("starting upload of '{}'", obj.dst_key),
                &self.dst,
                e,
            )
        })?;
        Ok((stream, writer))
    }

    /// Moves every byte of `stream` into `writer`, hashing it and counting it in `counted` (and the
    /// progress); then checks that the source had the listed length and did not change while it was read.
    async fn pump(
        &self,
        obj: &PlannedObject,
        stream: &mut opendal::FuturesBytesStream,
        writer: &mut opendal::Writer,
        counted: &mut u64,
    ) -> Result<blake3::Hash, CopyError> {
        let mut hasher = blake3::Hasher::new();
        let mut seen = 0u64;
        loop {
            let next = tokio::select! {
                n = stream.try_next() => n.map_err(|e| CopyError {
                    message: format!("reading '{}' on remote '{}': {e}", obj.src.key, self.src.name()),
                    retryable: true,
                    cancelled: false,
                })?,
                _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
            };
            let Some(bytes) = next else { break };
            let n = bytes.len() as u64;
            seen += n;
            hasher.update(&bytes);
            tokio::select! {
                r = writer.write(bytes) => r.map_err(|e| CopyError::storage(&format!("uploading '{}'", obj.dst_key), &self.dst, e))?,
                _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
            }
            *counted += n;
            self.progress.moved(&obj.src.key, n);
        }
        check_length(obj, seen)?;
        // The stream is many ranged reads: all of them of one version, or the upload is aborted.
        self.check_unchanged(obj).await?;
        Ok(hasher.finalize())
    }

    /// Same store on both sides: the service copies; mbx only reads to hash, unless the source manifest
    /// already says what the hash is.
    async fn copy_server_side(&self, obj: &PlannedObject) -> Result<blake3::Hash, CopyError> {
        let known = obj
            .expected_blake3
            .as_deref()
            .and_then(|h| blake3::Hash::from_hex(h).ok());
        if let Some(hash) = self
            .copy_on_server(obj, &obj.src.key, obj.src.etag.as_deref(), known)
            .await?
        {
            return Ok(hash);
        }
        let _mem = self
            .budget
            .reserve(self.options.object_footprint(obj.src.size))
            .await?;
        hash_object(
            &self.dst,
            &obj.dst_key,
            obj.src.size,
            &self.options,
            &self.cancel,
            None,
        )
        .await
    }

    /// Has the destination's server copy `from` (an object of the same store, with the ETag `if_match`
    /// where known) to `obj`'s key: in one request up to the remote's
    /// [`single_copy_limit`](crate::config::RemoteConfig::single_copy_limit), in parts above it, resumable
    /// like any upload (or, where mbx's upload client cannot be used, by OpenDAL's own part copy). Returns
    /// `known`, the hash the copy must have, for the caller to use.
    async fn copy_on_server(
        &self,
        obj: &PlannedObject,
        from: &str,
        if_match: Option<&str>,
        known: Option<blake3::Hash>,
    ) -> Result<Option<blake3::Hash>, CopyError> {
        let size = obj.src.size;
        let over_limit = self
            .dst
            .config()
            .single_copy_limit()
            .is_some_and(|limit| size > limit);
        let what = || format!("server-side copy of '{from}'");
        if over_limit {
            if let (Some(uploads), Some(journal)) = (self.dst.uploads(), &self.journal) {
                let from = super::resume::PartsFrom::Server {
                    key: from,
                    if_match,
                    known,
                };
                return self.upload_in_parts(obj, uploads, journal, from).await;
            }
            let chunk = usize::try_from(self.options.part_size_for(size)).unwrap_or(usize::MAX);
            self.dst
                .op()
                .copy_with(from, &obj.dst_key)
                .chunk(chunk)
                .concurrent(self.options.parts_in_flight.max(1))
                .await
                .map_err(|e| CopyError::storage(&what(), &self.dst, e))?;
        } else {
            self.dst
                .op()
                .copy(from, &obj.dst_key)
                .await
                .map_err(|e| CopyError::storage(&what(), &self.dst, e))?;
        }
        self.progress.moved(&obj.src.key, size);
        Ok(known)
    }

    pub(super) fn if_match<'a>(&self, obj: &'a PlannedObject) -> Option<&'a str> {
        let cap = self.src.op().info().capability();
        obj.src.etag.as_deref().filter(|_| cap.read_with_if_match)
    }

    /// Fails unless the source object is still the version listed when the object started: the same size,
    /// and the same ETag where the store has one, else the same modification time (`fs`). Called after
    /// reads, so that bytes read from two versions are never put together: a read that began on the
    /// listed version and a stat after it that still sees that version mean the read saw only it.
    pub(super) async fn check_unchanged(&self, obj: &PlannedObject) -> Result<(), CopyError> {
        let meta = match self.src.op().stat(&obj.src.key).await {
            Ok(m) => m,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {
                return Err(self.changed(obj, "it was removed".into()));
            }
            Err(e) => {
                return Err(CopyError::storage(
                    &format!("checking '{}'", obj.src.key),
                    &self.src,
                    e,
                ));
            }
        };
        self.same_version(obj, &meta, true)
    }

    /// Fails unless `now`, what the source says of the object, is the version listed: the same size (when
    /// it describes the `whole` object), and the same ETag where both have one, else the same modification
    /// time.
    fn same_version(
        &self,
        obj: &PlannedObject,
        now: &opendal::Metadata,
        whole: bool,
    ) -> Result<(), CopyError> {
        if whole && now.content_length() != obj.src.size {
            return Err(self.changed(
                obj,
                format!(
                    "{} bytes now, {} when listed",
                    now.content_length(),
                    obj.src.size
                ),
            ));
        }
        match (&obj.src.etag, super::listing::clean_etag(now)) {
            (Some(listed), Some(etag)) if *listed != etag => {
                return Err(self.changed(obj, format!("ETag {etag}, {listed} when listed")));
            }
            (Some(_), Some(_)) => {}
            _ => {
                let time = super::listing::metadata_mtime(now);
                // A listing and a HEAD may give the time at different precisions (milliseconds, seconds);
                // a local file system gives the same nanoseconds to both.
                let exact = self.src.config().kind == crate::config::RemoteKind::Fs;
                if obj.src.mtime.is_some()
                    && !same_time(time.as_deref(), obj.src.mtime.as_deref(), exact)
                {
                    return Err(self.changed(
                        obj,
                        format!(
                            "modified {}, {} when listed",
                            time.unwrap_or_default(),
                            obj.src.mtime.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn changed(&self, obj: &PlannedObject, now: String) -> CopyError {
        CopyError {
            message: format!(
                "'{}' changed on remote '{}' while it was copied ({now}); it is not copied, and the next run \
                 copies the new version",
                obj.src.key,
                self.src.name()
            ),
            retryable: false,
            cancelled: false,
        }
    }
}

/// Whether another attempt at what failed with `e` can succeed: an error OpenDAL marks temporary, or one it
/// retried until it gave up (persistent), unless the cause is a local file system's answer that no retry
/// changes. OpenDAL's `fs` marks every I/O error it does not know as temporary, "Is a directory" and
/// "Read-only file system" included.
pub(super) fn worth_retrying(e: &opendal::Error) -> bool {
    use opendal::ErrorKind as K;
    if matches!(
        e.kind(),
        K::NotFound
            | K::PermissionDenied
            | K::IsADirectory
            | K::NotADirectory
            | K::AlreadyExists
            | K::ConditionNotMatch
            | K::ConfigInvalid
            | K::Unsupported
            | K::IsSameFile
    ) || io_cause(e).is_some_and(|k| !io_retryable(k))
    {
        return false;
    }
    e.is_temporary() || e.is_persistent()
}

/// The kind of the first I/O error in `e`'s chain of causes.
fn io_cause(e: &opendal::Error) -> Option<std::io::ErrorKind> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = c.source();
    }
    None
}

/// I/O errors that can pass: a connection or a device that may come back. A file system that says a path
/// is a folder, is read-only or full, or denies access, says it again.
pub(crate) fn io_retryable(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    !matches!(
        kind,
        K::NotFound
            | K::PermissionDenied
            | K::AlreadyExists
            | K::IsADirectory
            | K::NotADirectory
            | K::DirectoryNotEmpty
            | K::ReadOnlyFilesystem
            | K::StorageFull
            | K::QuotaExceeded
            | K::FileTooLarge
            | K::InvalidFilename
            | K::InvalidInput
            | K::Unsupported
            | K::CrossesDevices
            | K::TooManyLinks
    )
}

/// Why copying a small object to a local disk failed.
enum LocalError {
    /// Reading the local source failed.
    Read(std::io::Error),
    /// The local source is not the version listed.
    Changed(String),
    /// Writing the destination failed.
    Write(std::io::Error),
}

impl LocalError {
    fn into_copy_error(self, copier: &Copier, obj: &PlannedObject) -> CopyError {
        let io = |what: String, e: std::io::Error| CopyError {
            retryable: io_retryable(e.kind()),
            message: format!("{what}: {e}"),
            cancelled: false,
        };
        match self {
            LocalError::Read(e) => io(
                format!(
                    "reading '{}' on remote '{}'",
                    obj.src.key,
                    copier.src.name()
                ),
                e,
            ),
            LocalError::Write(e) => io(
                format!(
                    "writing '{}' on remote '{}'",
                    obj.dst_key,
                    copier.dst.name()
                ),
                e,
            ),
            LocalError::Changed(now) => CopyError::fatal(format!(
                "'{}' changed on remote '{}' while it was copied ({now}); it is not copied, and the next run \
                 copies the new version",
                obj.src.key,
                copier.src.name()
            )),
        }
    }
}

/// Reads a local file whole and checks, after the read, that it is still the version listed: the same size
/// and modification time (to the nanosecond), so bytes of two versions never land as one.
fn read_local(path: &std::path::Path, listed: &super::SourceObject) -> Result<Vec<u8>, LocalError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LocalError::Changed("it was removed".into()));
        }
        Err(e) => return Err(LocalError::Read(e)),
    };
    let meta = std::fs::metadata(path).map_err(LocalError::Read)?;
    if meta.len() != listed.size || data.len() as u64 != listed.size {
        return Err(LocalError::Changed(format!(
            "{} bytes now, {} when listed",
            data.len(),
            listed.size
        )));
    }
    let now = meta
        .modified()
        .ok()
        .and_then(|t| opendal::raw::Timestamp::try_from(t).ok())
        .map(|t| t.to_string());
    if listed.mtime.is_some() && now != listed.mtime {
        return Err(LocalError::Changed(format!(
            "modified {}, {} when listed",
            now.unwrap_or_default(),
            listed.mtime.as_deref().unwrap_or_default()
        )));
    }
    Ok(data)
}

/// Whether two RFC 3339 times are the same: exactly, or to the second.
fn same_time(a: Option<&str>, b: Option<&str>, exact: bool) -> bool {
    if exact || a == b {
        return a == b;
    }
    let secs = |t: Option<&str>| {
        t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    secs(a).is_some() && secs(a) == secs(b)
}

fn check_length(obj: &PlannedObject, got: u64) -> Result<(), CopyError> {
    if got != obj.src.size {
        return Err(CopyError {
            message: format!(
                "'{}' changed while it was read: listed {} bytes, read {got}",
                obj.src.key, obj.src.size
            ),
            retryable: false,
            cancelled: false,
        });
    }
    Ok(())
}

/// Reads an object as a stream and returns its BLAKE3; `progress` counts the bytes.
pub(crate) async fn hash_object(
    remote: &Remote,
    key: &str,
    size: u64,
    options: &TransferOptions,
    cancel: &CancellationToken,
    progress: Option<&Events>,
) -> Result<blake3::Hash, CopyError> {
    let mut hasher = blake3::Hasher::new();
    if size == 0 {
        return Ok(hasher.finalize());
    }
    let part = options.part_size_for(size);
    let reader = remote
        .op()
        .reader_with(key)
        .chunk(part as usize)
        .concurrent(options.read_ahead)
        .await
        .map_err(|e| CopyError::storage(&format!("opening '{key}'"), remote, e))?;
    let mut stream = reader
        .into_bytes_stream(0..size)
        .await
        .map_err(|e| CopyError::storage(&format!("reading '{key}'"), remote, e))?;
    loop {
        let next = tokio::select! {
            n = stream.try_next() => n.map_err(|e| CopyError {
                message: format!("reading '{key}' on remote '{}': {e}", remote.name()),
                retryable: true,
                cancelled: false,
            })?,
            _ = cancel.cancelled() => return Err(CopyError::cancelled()),
        };
        let Some(bytes) = next else { break };
        hasher.update(&bytes);
        if let Some(p) = progress {
            p.moved(key, bytes.len() as u64);
        }
    }
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendal::{Error, ErrorKind};

    fn io(kind: std::io::ErrorKind) -> Error {
        // As OpenDAL's `fs` builds it: an I/O error it does not know is Unexpected and temporary.
        Error::new(ErrorKind::Unexpected, "io")
            .set_source(std::io::Error::from(kind))
            .set_temporary()
    }

    #[test]
    fn only_errors_that_can_pass_are_retried() {
        use std::io::ErrorKind as K;
        for kind in [
            K::IsADirectory,
            K::ReadOnlyFilesystem,
            K::PermissionDenied,
            K::StorageFull,
        ] {
            assert!(!worth_retrying(&io(kind)), "{kind:?}");
            // Given up on by OpenDAL's retry layer, still not worth another go.
            assert!(!worth_retrying(&io(kind).set_persistent()), "{kind:?}");
        }
        assert!(worth_retrying(&io(K::ConnectionReset)));
        assert!(worth_retrying(&io(K::ConnectionReset).set_persistent()));
        assert!(!worth_retrying(&Error::new(
            ErrorKind::Unexpected,
            "400 bad request"
        )));
        assert!(!worth_retrying(
            &Error::new(ErrorKind::PermissionDenied, "403").set_temporary()
        ));
        assert!(worth_retrying(
            &Error::new(ErrorKind::Unexpected, "503").set_temporary()
        ));
    }
}
