//! Copying one large object as a resumable upload: parts are read from the source by range, hashed, sent,
//! and journaled one by one, so that a run cut at any point re-sends at most the parts that were in flight.
//!
//! A re-run finds the upload in the journal, asks the server which parts it holds, and sends only the
//! others. The object's BLAKE3 is merged from the parts' chaining values (see `tree_hash`), so no landed
//! part is ever read again. A source whose size, ETag or modification time changed since the upload began
//! starts a new upload (the old one is aborted): two versions are never spliced.
//!
//! An object too large for one server-side copy request goes the same way, its parts copied by the server
//! (see [`PartsFrom::Server`]): journaled and resumed like parts that were sent.

use std::collections::{BTreeMap, HashMap};

use backon::{ExponentialBuilder, Retryable};
use futures::stream::{self, StreamExt};

use super::copy::{Copier, CopyError};
use super::journal::{Journal, PartRecord, UploadRecord};
use super::plan::PlannedObject;
use super::tree_hash;
use crate::remote::{Landed, LandedPart, ResumableUploads, UploadError};

impl CopyError {
    fn upload(e: UploadError) -> CopyError {
        CopyError {
            message: e.message,
            retryable: e.retryable || e.gone,
            cancelled: false,
        }
    }

    fn journal(e: std::io::Error) -> CopyError {
        CopyError {
            message: format!(
                "cannot write the journal (set MBX_STATE_DIR to a writable folder): {e}"
            ),
            retryable: false,
            cancelled: false,
        }
    }
}

/// Where the parts of a resumable upload come from.
#[derive(Clone, Copy)]
pub(super) enum PartsFrom<'a> {
    /// Read from the source by range and sent, each hashed on the way.
    Source,
    /// Copied by the destination's server from `key`, an object of the same store, while it still has the
    /// ETag `if_match` (S3 UploadPartCopy, Azure Put Block From URL): no byte crosses the link and none is
    /// hashed, so the object's hash is `known` (from a manifest) or read back by the caller.
    Server {
        key: &'a str,
        if_match: Option<&'a str>,
        known: Option<blake3::Hash>,
    },
}

/// One object's upload in progress, as its parts see it.
struct Upload<'a> {
    obj: &'a PlannedObject,
    from: PartsFrom<'a>,
    uploads: &'a ResumableUploads,
    upload_id: &'a str,
    part_size: u64,
    /// The order in which this object started, among all objects of the run.
    object_rank: u64,
    /// Bounds the parts uploading at once (reads run further ahead).
    uploading: &'a tokio::sync::Semaphore,
    /// Bounds the parts being read at once, taken in part order (see [`READ_STREAMS`]).
    reading: &'a tokio::sync::Semaphore,
}

impl Upload<'_> {
    /// The journal's record of part `number`, landed as `landed`, with its chaining value `cv` (hex; empty
    /// for a part the server copied).
    fn record(&self, number: u32, landed: LandedPart, cv: String) -> PartRecord {
        PartRecord {
            key: self.obj.src.rel.clone(),
            upload_id: self.upload_id.to_string(),
            number,
            etag: landed.etag,
            size: landed.size,
            cv,
            checksum: landed.checksum,
        }
    }
}

/// Parts of one object read from the source at once. Few, and taken in part order: parts read side by side
/// share the link and finish together, so with all of them reading at once no upload could start until the
/// whole batch arrived, and the destination's link would idle while the source's is busy, then the other way
/// round (measured on a 40 ms, 200 Mbit/s link: 66% of it). Two, not one, so that one TCP stream's window does
/// not cap a single object on a long, fast link.
const READ_STREAMS: usize = 2;

/// An upload being continued: its id and the parts already on the server, with their journal records.
struct Resumed {
    upload_id: String,
    landed: BTreeMap<u32, PartRecord>,
    /// Every part had landed and the server no longer knows the upload: the interrupted run may have
    /// completed it.
    maybe_completed: bool,
}

/// How [`Copier::open_upload`] found the object's upload.
enum Opened {
    /// An interrupted run completed it: the object is there, with this hash where it is known.
    Done(Option<blake3::Hash>),
    /// To continue (or new).
    Upload(Resumed),
}

/// Why an upload whose parts all landed is not completed.
enum HashCheck {
    /// The parts' chaining values do not merge (a journal that lacks one): nothing to abandon.
    Unmerged(CopyError),
    /// The object differs from what the source's manifest vouches for: the upload is abandoned.
    Differs(CopyError),
}

impl Copier {
    /// Copies `obj` as a resumable upload on `uploads`; see the module documentation.
    pub(super) async fn copy_resumable(
        &self,
        obj: &PlannedObject,
        uploads: &ResumableUploads,
        journal: &Journal,
    ) -> Result<blake3::Hash, CopyError> {
        let hash = self
            .upload_in_parts(obj, uploads, journal, PartsFrom::Source)
            .await?;
        // Parts read from the source always carry their hashes.
        hash.ok_or_else(|| CopyError {
            message: format!("'{}': no hash was computed; run again", obj.src.key),
            retryable: true,
            cancelled: false,
        })
    }

    /// Makes `obj` at the destination as an upload of parts from `from`, resumed from the journal. Returns
    /// the object's BLAKE3 where it is known: merged from the parts' when they were read, else the one
    /// [`PartsFrom::Server`] was given. Its steps: [`Self::open_upload`], [`Self::send_missing`],
    /// [`Self::checked_hash`], [`Self::complete_upload`].
    pub(super) async fn upload_in_parts(
        &self,
        obj: &PlannedObject,
        uploads: &ResumableUploads,
        journal: &Journal,
        from: PartsFrom<'_>,
    ) -> Result<Option<blake3::Hash>, CopyError> {
        let size = obj.src.size;
        let part_size = self.options.part_size_for(size);
        // Parts copied on the server never pass through memory.
        let mut mem = match from {
            PartsFrom::Source => Some(
                self.budget
                    .reserve(self.options.object_footprint(size))
                    .await?,
            ),
            PartsFrom::Server { .. } => None,
        };
        let resumed = match self
            .open_upload(obj, uploads, journal, part_size, from)
            .await?
        {
            Opened::Done(hash) => return Ok(hash),
            Opened::Upload(resumed) => resumed,
        };
        let upload_id = resumed.upload_id.clone();
        let _in_flight = self.progress.object_started(&obj.src.key, size);
        let resumed_bytes: u64 = resumed.landed.values().map(|p| p.size).sum();
        self.progress.moved(&obj.src.key, resumed_bytes);
        let object_rank = self
            .started_objects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Parts are read (and hashed) up to `read_ahead` ahead of the `parts_in_flight` being uploaded.
        let uploading = tokio::sync::Semaphore::new(self.options.parts_in_flight.max(1));
        let reading = tokio::sync::Semaphore::new(READ_STREAMS);
        let upload = Upload {
            obj,
            from,
            uploads,
            upload_id: &upload_id,
            part_size,
            object_rank,
            uploading: &uploading,
            reading: &reading,
        };
        let (landed, sent, failure) = self
            .send_missing(&upload, journal, resumed.landed, &mut mem)
            .await?;
        // Whatever ends the upload here un-counts its bytes from the progress.
        let retract = || self.progress.retracted(&obj.src.key, sent + resumed_bytes);
        if let Some(e) = failure {
            retract();
            if !e.retryable && !e.cancelled {
                // The source changed or cannot be read as listed: this upload can never complete.
                let _ = self
                    .abandon(obj, uploads, journal, &obj.dst_key, &upload_id)
                    .await;
            }
            return Err(e);
        }
        let hash = match self.checked_hash(&upload, &landed) {
            Ok(hash) => hash,
            Err(HashCheck::Unmerged(e)) => return Err(e),
            Err(HashCheck::Differs(e)) => {
                // Never complete an upload whose content differs from what the source vouches for.
                let _ = self
                    .abandon(obj, uploads, journal, &obj.dst_key, &upload_id)
                    .await;
                retract();
                return Err(e);
            }
        };
        if let Err(e) = self.complete_upload(&upload, &landed, hash).await {
            retract();
            if e.gone && !self.cancel.is_cancelled() {
                // The upload can never complete (gone, or on `fs` a partial file that is not what the
                // parts wrote): the object's next attempt starts a new one.
                let _ = self
                    .abandon(obj, uploads, journal, &obj.dst_key, &upload_id)
                    .await;
            }
            return Err(CopyError::upload(e));
        }
        self.resumed_bytes
            .fetch_add(resumed_bytes, std::sync::atomic::Ordering::Relaxed);
        Ok(hash)
    }

    /// The upload `obj` continues: the journaled one where the server still has it, or a new one; or, when
    /// an interrupted run may have completed it and the destination holds exactly its parts, nothing to do
    /// (with the object's hash where it is known).
    async fn open_upload(
        &self,
        obj: &PlannedObject,
        uploads: &ResumableUploads,
        journal: &Journal,
        part_size: u64,
        from: PartsFrom<'_>,
    ) -> Result<Opened, CopyError> {
        let resumed = self
            .resume_or_begin(obj, uploads, journal, part_size, from)
            .await?;
        if !resumed.maybe_completed {
            return Ok(Opened::Upload(resumed));
        }
        if self.holds_object_of(obj, &resumed.landed, true).await {
            match from {
                PartsFrom::Source => {
                    if let Ok(hash) = merged_hash(&resumed.landed, part_size, obj.src.size) {
                        return Ok(Opened::Done(Some(hash)));
                    }
                }
                PartsFrom::Server { known, .. } => return Ok(Opened::Done(known)),
            }
        }
        let _ = self
            .abandon(obj, uploads, journal, &obj.dst_key, &resumed.upload_id)
            .await;
        Ok(Opened::Upload(
            self.begin(obj, uploads, journal, part_size).await?,
        ))
    }

    /// Sends the parts the upload lacks, `parts_in_flight` at a time (read up to `read_ahead` ahead),
    /// journaling each as it lands and handing back the memory the object's tail no longer needs. Returns the
    /// parts now landed, the bytes sent, and the first failure: after one, the parts in flight still land
    /// (and are journaled) unless the run is stopping. Only a journal that cannot be written ends it at once.
    async fn send_missing(
        &self,
        upload: &Upload<'_>,
        journal: &Journal,
        mut landed: BTreeMap<u32, PartRecord>,
        mem: &mut Option<tokio::sync::SemaphorePermit<'_>>,
    ) -> Result<(BTreeMap<u32, PartRecord>, u64, Option<CopyError>), CopyError> {
        let (size, part_size) = (upload.obj.src.size, upload.part_size);
        let parts_total = size.div_ceil(part_size).max(1) as u32;
        let missing: Vec<u32> = (1..=parts_total)
            .filter(|n| !landed.contains_key(n))
            .collect();
        let in_flight = (self.options.parts_in_flight + self.options.read_ahead).max(1);
        let mut results = stream::iter(missing)
            .map(|n| self.send_part(upload, n))
            .buffer_unordered(in_flight);
        let (mut sent, mut failure) = (0u64, None);
        while let Some(result) = results.next().await {
            match result {
                Ok(part) => {
                    journal.record_part(&part).map_err(CopyError::journal)?;
                    sent += part.size;
                    landed.insert(part.number, part);
                    // The object's tail needs less than its footprint: the parts left hold at most a part
                    // each. What they do not need goes back, so the next object starts while this one ends.
                    let left = u64::from(parts_total).saturating_sub(landed.len() as u64);
                    if let Some(m) = mem.as_mut() {
                        let need = usize::try_from((left * part_size).div_ceil(1024))
                            .unwrap_or(usize::MAX);
                        if m.num_permits() > need {
                            drop(m.split(m.num_permits() - need));
                        }
                    }
                }
                Err(e) => {
                    if e.cancelled || failure.is_none() {
                        failure = Some(e);
                    }
                    if self.cancel.is_cancelled() {
                        break;
                    }
                }
            }
        }
        Ok((landed, sent, failure))
    }

    /// The object's BLAKE3 once every part landed: merged from the parts' chaining values when they were
    /// read, else the one the server copy was given; and, when the source's manifest vouches for one, the
    /// same.
    fn checked_hash(
        &self,
        upload: &Upload<'_>,
        landed: &BTreeMap<u32, PartRecord>,
    ) -> Result<Option<blake3::Hash>, HashCheck> {
        let obj = upload.obj;
        let hash = match upload.from {
            PartsFrom::Source => Some(
                merged_hash(landed, upload.part_size, obj.src.size).map_err(HashCheck::Unmerged)?,
            ),
            PartsFrom::Server { known, .. } => known,
        };
        if let (PartsFrom::Source, Some(expected), Some(hash)) =
            (upload.from, &obj.expected_blake3, hash)
            && *expected != hash.to_hex().as_str()
        {
            return Err(HashCheck::Differs(CopyError {
                message: format!(
                    "'{}' does not match the source manifest's blake3",
                    obj.src.key
                ),
                retryable: true,
                cancelled: false,
            }));
        }
        Ok(hash)
    }

    /// Completes the upload out of `landed`, with retries. A completion the server carried out but whose
    /// answer was lost makes every retry fail (the upload is gone): the object made of exactly these parts
    /// tells that apart, and counts as completed.
    async fn complete_upload(
        &self,
        upload: &Upload<'_>,
        landed: &BTreeMap<u32, PartRecord>,
        hash: Option<blake3::Hash>,
    ) -> Result<(), UploadError> {
        let obj = upload.obj;
        let parts: Vec<LandedPart> = landed
            .values()
            .map(|p| LandedPart {
                number: p.number,
                etag: p.etag.clone(),
                size: p.size,
                checksum: p.checksum.clone(),
            })
            .collect();
        let metadata = self
            .user_metadata(obj, hash.map(|h| h.to_hex().to_string()))
            .unwrap_or_default();
        let complete = || async {
            upload
                .uploads
                .complete(
                    &obj.dst_key,
                    upload.upload_id,
                    &parts,
                    (obj.src.size, hash),
                    &metadata,
                )
                .await
        };
        let completed = complete
            .retry(self.part_backoff())
            .when(|e: &UploadError| e.retryable && !self.cancel.is_cancelled())
            .await;
        match completed {
            Err(e)
                if self.cancel.is_cancelled()
                    || !self.holds_object_of(obj, landed, false).await =>
            {
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Continues the journaled upload of `obj` if the server still has it and the source is the version
    /// it began with; otherwise aborts it and starts a new one. Parts that the server copied carry no hash:
    /// an upload from the source sends them again.
    async fn resume_or_begin(
        &self,
        obj: &PlannedObject,
        uploads: &ResumableUploads,
        journal: &Journal,
        part_size: u64,
        from: PartsFrom<'_>,
    ) -> Result<Resumed, CopyError> {
        if let Some(mut state) = journal.upload(&obj.src.rel) {
            if let PartsFrom::Source = from {
                state.parts.retain(|_, p| !p.cv.is_empty());
            }
            let u = &state.upload;
            let same_version = u.size == obj.src.size
                && u.src_etag == obj.src.etag
                && u.src_mtime == obj.src.mtime
                && u.part_size == part_size
                && u.dst_key == obj.dst_key;
            if same_version {
                let on_server = uploads
                    .landed(&obj.dst_key, &u.upload_id)
                    .await
                    .map_err(CopyError::upload)?;
                // Every part landed and the server knows no upload, or (s3s-fs) lists no parts of one it
                // completed: the interrupted run may have completed it.
                let parts_total = obj.src.size.div_ceil(part_size).max(1) as usize;
                let none_listed = match &on_server {
                    Landed::Gone => true,
                    Landed::Parts(listed) => listed.is_empty(),
                    Landed::Unlisted { .. } | Landed::Untrusted { .. } => false,
                };
                if none_listed && state.parts.len() == parts_total {
                    return Ok(Resumed {
                        upload_id: u.upload_id.clone(),
                        landed: state.parts,
                        maybe_completed: true,
                    });
                }
                let landed: BTreeMap<u32, PartRecord> = match on_server {
                    Landed::Gone => {
                        // Aborted or expired: start again.
                        journal.forget_upload(&obj.src.rel);
                        return self.begin(obj, uploads, journal, part_size).await;
                    }
                    Landed::Untrusted { why } => {
                        self.progress.note(&format!(
                            "note: {why}, so its landed parts cannot be trusted; '{}' starts again from byte 0",
                            obj.dst_key
                        ));
                        if let Err(e) = self
                            .abandon(obj, uploads, journal, &obj.dst_key, &u.upload_id)
                            .await
                        {
                            self.progress.note(&format!(
                                "could not abort the old upload of '{}': {e}",
                                obj.dst_key
                            ));
                        }
                        return self.begin(obj, uploads, journal, part_size).await;
                    }
                    Landed::Parts(listed) => {
                        let listed: HashMap<u32, LandedPart> =
                            listed.into_iter().map(|p| (p.number, p)).collect();
                        state
                            .parts
                            .into_iter()
                            .filter(|(n, rec)| {
                                listed.get(n).is_some_and(|p| {
                                    p.size == rec.size && same_tag(&p.etag, &rec.etag)
                                })
                            })
                            .collect()
                    }
                    Landed::Unlisted { len } => state
                        .parts
                        .into_iter()
                        .filter(|(n, rec)| u64::from(*n - 1) * part_size + rec.size <= len)
                        .collect(),
                };
                return Ok(Resumed {
                    upload_id: u.upload_id.clone(),
                    landed,
                    maybe_completed: false,
                });
            }
            // The source changed (or the settings did): the old parts can never be used.
            let _ = self
                .abandon(obj, uploads, journal, &u.dst_key, &u.upload_id)
                .await;
        }
        self.begin(obj, uploads, journal, part_size).await
    }

    /// Gives up on an upload that can never complete: aborts it on the server and forgets it in the journal,
    /// so that the object's next attempt starts a new one.
    async fn abandon(
        &self,
        obj: &PlannedObject,
        uploads: &ResumableUploads,
        journal: &Journal,
        dst_key: &str,
        upload_id: &str,
    ) -> Result<(), UploadError> {
        let aborted = uploads.abort(dst_key, upload_id).await;
        journal.forget_upload(&obj.src.rel);
        aborted
    }

    /// Starts a new upload and journals it.
    async fn begin(
        &self,
        obj: &PlannedObject,
        uploads: &ResumableUploads,
        journal: &Journal,
        part_size: u64,
    ) -> Result<Resumed, CopyError> {
        // Metadata set at the start can carry the hash only when the source manifest vouches for it.
        let metadata = if uploads.metadata_at_start() {
            self.user_metadata(obj, obj.expected_blake3.clone())
                .unwrap_or_default()
        } else {
            HashMap::new()
        };
        let start = || async { uploads.begin(&obj.dst_key, &metadata).await };
        let upload_id = start
            .retry(self.part_backoff())
            .when(|e: &UploadError| e.retryable && !self.cancel.is_cancelled())
            .await
            .map_err(CopyError::upload)?;
        journal
            .record_upload(&UploadRecord {
                key: obj.src.rel.clone(),
                dst_key: obj.dst_key.clone(),
                upload_id: upload_id.clone(),
                part_size,
                size: obj.src.size,
                src_etag: obj.src.etag.clone(),
                src_mtime: obj.src.mtime.clone(),
            })
            .map_err(CopyError::journal)?;
        Ok(Resumed {
            upload_id,
            landed: BTreeMap::new(),
            maybe_completed: false,
        })
    }

    /// Whether the destination object is the one these parts make: it has the object's size and, where the
    /// store has multipart ETags (S3), the ETag computed from the parts' own. Elsewhere (fs, Azure) only our
    /// own rename or commit makes the object, and the size is all there is to go by: `size_will_do` says
    /// whether that is enough.
    async fn holds_object_of(
        &self,
        obj: &PlannedObject,
        landed: &BTreeMap<u32, PartRecord>,
        size_will_do: bool,
    ) -> bool {
        let Ok(stat) = self.dst.op().stat(&obj.dst_key).await else {
            return false;
        };
        let etag_matches = match stat.etag() {
            Some(e) if e.trim_matches('"').contains('-') => {
                same_tag(e, &multipart_etag(landed.values().map(|p| p.etag.as_str())))
            }
            _ => size_will_do,
        };
        stat.content_length() == obj.src.size && etag_matches
    }

    /// Reads part `number` from the source, hashes it and uploads it, retrying the upload alone; or has the
    /// server copy it (see [`PartsFrom::Server`]).
    async fn send_part(&self, upload: &Upload<'_>, number: u32) -> Result<PartRecord, CopyError> {
        let Upload {
            obj,
            uploads,
            upload_id,
            part_size,
            ..
        } = *upload;
        // At the read gate and under a bandwidth limit, older objects and lower parts go first (see
        // `read_gate` and `BandwidthLimit::turn`).
        let priority = (upload.object_rank << 20) | u64::from(number);
        let offset = u64::from(number - 1) * part_size;
        let len = part_size.min(obj.src.size - offset);
        if let PartsFrom::Server { key, if_match, .. } = upload.from {
            return self
                .copy_part_on_server(upload, number, key, (offset, len), if_match)
                .await;
        }
        let (data, answer) = {
            // The object's own share first, then the run's: an object queues at most its share at the gate.
            let held = async {
                let slot = upload
                    .reading
                    .acquire()
                    .await
                    .map_err(|_| CopyError::cancelled())?;
                Ok((slot, self.reads.enter(priority).await))
            };
            let (_reading, _turn) = tokio::select! {
                h = held => h?,
                _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
            };
            self.read_range(obj, offset, len).await?
        };
        // Not every store honours If-Match (s3s-fs ignores it) and `fs` has no ETag: a part read is only
        // used when the source is still the version the object started with. Checked once the read's
        // turn has passed on: a check that asks the store again is a round trip that carries no data.
        if obj.src.etag.is_none() {
            self.check_served(obj, answer.as_ref(), false).await?;
        } else {
            self.check_unchanged(obj).await?;
        }
        let size = obj.src.size;
        let hashed = data.clone();
        let cv =
            tokio::task::spawn_blocking(move || tree_hash::part_value(hashed, len, offset, size))
                .await
                .map_err(|e| CopyError {
                    message: format!("hashing a part of '{}': {e}", obj.src.key),
                    retryable: false,
                    cancelled: false,
                })?;
        let put = || {
            let data = data.clone();
            async move {
                // The turn is per attempt: while this part backs off, the next one may send.
                let turn = uploads.turn(priority).await;
                uploads
                    .put_part((&obj.dst_key, upload_id, number), offset, data, turn)
                    .await
            }
        };
        let landed = self.land_part(upload, number, put).await?;
        self.progress.moved(&obj.src.key, len);
        let cv = blake3::Hash::from_bytes(cv).to_hex().to_string();
        Ok(upload.record(number, landed, cv))
    }

    /// Lands part `number` by `attempt` (a request, retried while it fails in a way worth retrying),
    /// holding one of the object's upload slots; stops when the run is cancelled.
    async fn land_part<F, Fut>(
        &self,
        upload: &Upload<'_>,
        number: u32,
        attempt: F,
    ) -> Result<LandedPart, CopyError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<LandedPart, UploadError>>,
    {
        let _slot = tokio::select! {
            s = upload.uploading.acquire() => s.map_err(|_| CopyError::cancelled())?,
            _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
        };
        let key = &upload.obj.dst_key;
        tokio::select! {
            r = attempt
                .retry(self.part_backoff())
                .when(|e: &UploadError| e.retryable && !self.cancel.is_cancelled())
                .notify(|e, after| self.progress.note(&format!(
                    "retrying part {number} of {key} in {:.1}s: {e}", after.as_secs_f64()
                ))) => r.map_err(CopyError::upload),
            _ = self.cancel.cancelled() => Err(CopyError::cancelled()),
        }
    }

    /// Part `number` (at `range` of the object) copied by the server from `from`, retried alone.
    async fn copy_part_on_server(
        &self,
        upload: &Upload<'_>,
        number: u32,
        from: &str,
        range: (u64, u64),
        if_match: Option<&str>,
    ) -> Result<PartRecord, CopyError> {
        let Upload {
            obj,
            uploads,
            upload_id,
            ..
        } = *upload;
        let copy = || async {
            uploads
                .copy_part((&obj.dst_key, upload_id, number), from, range, if_match)
                .await
        };
        let landed = self.land_part(upload, number, copy).await?;
        self.progress.moved(&obj.src.key, range.1);
        // The bytes were never here to hash (see `PartsFrom::Server`).
        Ok(upload.record(number, landed, String::new()))
    }

    /// One ranged read of the source, pinned to the listed version where the store supports it; with the
    /// answer's description of the version it served, where the store gives one.
    async fn read_range(
        &self,
        obj: &PlannedObject,
        offset: u64,
        len: u64,
    ) -> Result<(opendal::Buffer, Option<opendal::Metadata>), CopyError> {
        let read = async {
            let mut open = self.src.op().reader_with(&obj.src.key);
            if let Some(etag) = self.if_match(obj) {
                open = open.if_match(etag);
            }
            let reader = open.await?;
            let buf = reader.read(offset..offset + len).await?;
            Ok::<_, opendal::Error>((buf, reader.metadata().cloned()))
        };
        let (buf, answer) = tokio::select! {
            r = read => r.map_err(|e| {
                let changed = e.kind() == opendal::ErrorKind::ConditionNotMatch;
                CopyError {
                    message: if changed {
                        format!("'{}' changed on remote '{}' while it was copied", obj.src.key, self.src.name())
                    } else {
                        format!("reading '{}' on remote '{}': {e}", obj.src.key, self.src.name())
                    },
                    retryable: !changed,
                    cancelled: false,
                }
            })?,
            _ = self.cancel.cancelled() => return Err(CopyError::cancelled()),
        };
        if buf.len() as u64 != len {
            return Err(CopyError {
                message: format!(
                    "'{}' changed while it was read: expected {len} bytes at offset {offset}, got {}",
                    obj.src.key,
                    buf.len()
                ),
                retryable: false,
                cancelled: false,
            });
        }
        Ok((buf, answer))
    }

    /// Retries of one request of an upload: the destination's, as for every other request to it.
    fn part_backoff(&self) -> ExponentialBuilder {
        self.dst.policy().backoff()
    }
}

/// The object's BLAKE3 from its parts' chaining values.
fn merged_hash(
    landed: &BTreeMap<u32, PartRecord>,
    part_size: u64,
    size: u64,
) -> Result<blake3::Hash, CopyError> {
    let values: Option<Vec<[u8; 32]>> = landed
        .values()
        .map(|p| blake3::Hash::from_hex(&p.cv).ok().map(|h| *h.as_bytes()))
        .collect();
    values
        .and_then(|v| tree_hash::object_hash(&v, part_size, size))
        .ok_or_else(|| CopyError {
            message: "the journal's part hashes do not cover the object; run again".into(),
            retryable: true,
            cancelled: false,
        })
}

/// ETags compare without their quotes (servers differ in whether they quote in listings).
fn same_tag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// The ETag S3 gives an object completed from parts with these (MD5) ETags: the MD5 of their
/// concatenated binary digests, then `-` and the part count.
fn multipart_etag<'a>(part_etags: impl Iterator<Item = &'a str>) -> String {
    let mut digests = Vec::new();
    let mut count = 0;
    for e in part_etags {
        count += 1;
        let hex = e.trim_matches('"');
        for i in (0..hex.len().saturating_sub(1)).step_by(2) {
            if let Ok(b) = u8::from_str_radix(&hex[i..i + 2], 16) {
                digests.push(b);
            }
        }
    }
    use md5::Digest;
    let digest = md5::Md5::digest(&digests);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{count}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_the_md5_of_the_part_md5s() {
        // Two parts whose ETags are the MD5s of "a" and "b".
        let parts = [
            "\"0cc175b9c0f1b6a831c399e269772661\"",
            "92eb5ffee6ae2fec3ad71c777531578f",
        ];
        // Pinned, not recomputed here: the MD5 of the two binary part MD5s, "-2", computed apart from this code
        // (Python: hashlib.md5(bytes.fromhex(a) + bytes.fromhex(b)).hexdigest()), as S3 documents it.
        assert_eq!(
            multipart_etag(parts.into_iter()),
            "96e024ba2074fe77e8e965ba43a704be-2"
        );
        assert!(same_tag("\"x-2\"", "x-2"));
    }
}
