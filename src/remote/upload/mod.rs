//! Resumable uploads: an object written in numbered parts that survive the process, so that a transfer cut
//! at any point (kill -9, a lost network) continues where it stopped instead of from byte zero.
//!
//! OpenDAL's writer keeps its multipart upload id private, so an upload it started can be neither continued
//! nor aborted after a crash. This module speaks each service's own API instead, and the caller keeps the
//! upload id and each landed part in its journal:
//! - S3 and compatible stores: CreateMultipartUpload / UploadPart / ListParts / CompleteMultipartUpload /
//!   AbortMultipartUpload, and ListMultipartUploads to find abandoned uploads;
//! - Azure Blob: Put Block with block ids derived from the upload id and the part number, Get Block List of
//!   the uncommitted blocks, Put Block List;
//! - `fs`: a partial file under the root's `.mbx/partial/`, written at each part's offset and renamed into
//!   place when complete.
//!
//! GCS has no such API here; objects there resume at object granularity through OpenDAL.

mod azblob;
mod fs;
mod http;
mod local_files;
mod s3;

use std::collections::HashMap;
use std::sync::Arc;

use opendal::Buffer;

use crate::config::{RemoteConfig, RemoteKind};

use super::RequestPolicy;
pub use super::policy::Turn;
pub use local_files::LocalFiles;

/// A part that is stored on the server as part of an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedPart {
    /// 1-based part number.
    pub number: u32,
    /// The server's tag for the part (S3 ETag), needed to complete the upload.
    pub etag: String,
    /// Bytes in the part.
    pub size: u64,
    /// The part's checksum where the remote's `checksum_algorithm` has the completion name it (S3 CRC32C,
    /// base64); `None` elsewhere.
    pub checksum: Option<String>,
}

/// What a server holds of an unfinished upload.
#[derive(Debug)]
pub enum Landed {
    /// The server no longer knows the upload: start again.
    Gone,
    /// The parts the server holds.
    Parts(Vec<LandedPart>),
    /// The service keeps no list of parts (`fs`): the caller's journal is the record, for parts that end
    /// within `len` bytes.
    Unlisted {
        /// Bytes the partial object holds.
        len: u64,
    },
    /// The server lists parts without what it takes to trust them (s3s-fs lists no ETags): the upload
    /// cannot be continued, so the object starts again.
    Untrusted {
        /// What the listing lacks.
        why: String,
    },
}

/// An unfinished upload found on a server.
#[derive(Debug, Clone)]
pub struct IncompleteUpload {
    /// The object key, relative to the remote's root.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// When it was started, as the server reports it.
    pub initiated: String,
}

/// A request of a resumable upload failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct UploadError {
    /// What failed, with the remote and the key.
    pub message: String,
    /// Worth another attempt: a network error, a 5xx, a throttle, a stall.
    pub retryable: bool,
    /// The server no longer knows the upload (aborted, expired, or completed): start again.
    pub gone: bool,
}

impl UploadError {
    pub(crate) fn new(message: String, retryable: bool) -> UploadError {
        UploadError {
            message,
            retryable,
            gone: false,
        }
    }
}

/// How to run a resumable upload on one remote.
#[derive(Clone)]
pub struct ResumableUploads {
    backend: Arc<Backend>,
    policy: Arc<RequestPolicy>,
}

impl std::fmt::Debug for ResumableUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.backend {
            Backend::S3(_) => "s3 multipart",
            Backend::Azblob(_) => "azure blocks",
            Backend::Fs(_) => "partial file",
        };
        f.write_str(kind)
    }
}

enum Backend {
    S3(s3::S3Uploads),
    Azblob(azblob::AzblobUploads),
    Fs(fs::FsUploads),
}

impl ResumableUploads {
    /// The resumable upload API of this remote, or `None` for kinds without one (GCS).
    pub(crate) fn for_remote(
        config: &RemoteConfig,
        policy: Arc<RequestPolicy>,
    ) -> Result<Option<ResumableUploads>, String> {
        let backend = match config.kind {
            RemoteKind::S3 | RemoteKind::Minio => {
                Backend::S3(s3::S3Uploads::new(config, policy.clone())?)
            }
            RemoteKind::Azblob => {
                Backend::Azblob(azblob::AzblobUploads::new(config, policy.clone())?)
            }
            RemoteKind::Fs => Backend::Fs(fs::FsUploads::new(config, policy.clone())?),
            RemoteKind::Gcs => return Ok(None),
        };
        Ok(Some(ResumableUploads {
            backend: Arc::new(backend),
            policy,
        }))
    }

    /// On a local (`fs`) remote without a bandwidth limit: direct writes of small objects, flushed in groups.
    pub fn local_files(&self) -> Option<LocalFiles> {
        match &*self.backend {
            Backend::Fs(b) if self.policy.bandwidth().is_none() => Some(b.local_files()),
            _ => None,
        }
    }

    /// Flushes what [`Self::local_files`] wrote, on a blocking thread; nothing to do elsewhere.
    pub fn sync_local(&self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let files = match &*self.backend {
            Backend::Fs(b) => Some(b.local_files()),
            _ => None,
        };
        tokio::task::spawn_blocking(move || files.map_or(Ok(()), |f| f.sync()))
    }

    /// Whether user metadata is set when the upload starts (S3) rather than when it completes.
    pub fn metadata_at_start(&self) -> bool {
        matches!(*self.backend, Backend::S3(_))
    }

    /// Starts an upload of `key` and returns its id. `metadata` is only used where the service takes it at
    /// the start (see [`Self::metadata_at_start`]).
    pub async fn begin(
        &self,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String, UploadError> {
        match &*self.backend {
            Backend::S3(b) => b.begin(key, metadata).await,
            Backend::Azblob(_) => Ok(http::new_upload_token()),
            Backend::Fs(b) => b.begin(key).await,
        }
    }

    /// What the server holds of the upload.
    pub async fn landed(&self, key: &str, upload_id: &str) -> Result<Landed, UploadError> {
        Ok(match &*self.backend {
            Backend::S3(b) => b.landed(key, upload_id).await?,
            Backend::Azblob(b) => Landed::Parts(b.landed(key, upload_id).await?),
            Backend::Fs(b) => match b.landed(upload_id).await? {
                Some(len) => Landed::Unlisted { len },
                None => Landed::Gone,
            },
        })
    }

    /// Under a bandwidth limit, waits until the part of `priority` (lower first) may be sent, one part at a
    /// time; give the returned turn to [`Self::put_part`], which passes it on once the part's last byte is
    /// on its way. Without a limit, parts go at once.
    pub async fn turn(&self, priority: u64) -> Option<Turn> {
        match self.policy.bandwidth() {
            Some(l) => Some(l.turn(priority).await),
            None => None,
        }
    }

    /// Uploads one part. `offset` is where the part starts in the object; `turn` is the part's from
    /// [`Self::turn`].
    pub async fn put_part(
        &self,
        (key, upload_id, number): (&str, &str, u32),
        offset: u64,
        data: Buffer,
        turn: Option<Turn>,
    ) -> Result<LandedPart, UploadError> {
        match &*self.backend {
            Backend::S3(b) => b.put_part(key, upload_id, number, data, turn).await,
            Backend::Azblob(b) => b.put_part(key, upload_id, number, data, turn).await,
            Backend::Fs(b) => b.put_part(upload_id, number, offset, data, turn).await,
        }
    }

    /// Part `number` copied by the server from `range` (offset, length) of `from`, an object of the same
    /// store, while `from` still has the ETag `if_match`: no byte crosses the link. Only on kinds with a
    /// [`RemoteConfig::single_copy_limit`] (S3 UploadPartCopy, Azure Put Block From URL).
    pub async fn copy_part(
        &self,
        (key, upload_id, number): (&str, &str, u32),
        from: &str,
        range: (u64, u64),
        if_match: Option<&str>,
    ) -> Result<LandedPart, UploadError> {
        let part = (key, upload_id, number);
        match &*self.backend {
            Backend::S3(b) => b.copy_part(part, from, range, if_match).await,
            Backend::Azblob(b) => b.copy_part(part, from, range, if_match).await,
            Backend::Fs(_) => Err(UploadError::new(
                "a local folder copies its own files; it has no server-side part copy".into(),
                false,
            )),
        }
    }

    /// Makes the object out of `parts` (every part, in order), which together are `size` bytes with the
    /// BLAKE3 `hash` (unknown for parts the server copied). `metadata` is used where the service takes it at
    /// the end. On `fs`, where any process can write to the partial file, its size and hash are checked
    /// before it lands.
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[LandedPart],
        (size, hash): (u64, Option<blake3::Hash>),
        metadata: &HashMap<String, String>,
    ) -> Result<(), UploadError> {
        match &*self.backend {
            Backend::S3(b) => b.complete(key, upload_id, parts).await,
            Backend::Azblob(b) => b.complete(key, upload_id, parts, metadata).await,
            Backend::Fs(b) => match hash {
                Some(hash) => b.complete(key, upload_id, size, hash).await,
                None => Err(UploadError::new(
                    format!("completing '{key}': a partial file lands only with its hash"),
                    false,
                )),
            },
        }
    }

    /// Discards an unfinished upload and whatever parts it holds.
    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<(), UploadError> {
        match &*self.backend {
            Backend::S3(b) => b.abort(key, upload_id).await,
            Backend::Azblob(b) => b.abort(key, upload_id).await,
            Backend::Fs(b) => b.abort(upload_id).await,
        }
    }

    /// Removes what killed writers left besides uploads, last written before `before` (on `fs`, the
    /// temporary files of small objects); the number removed.
    pub async fn remove_stale_files(
        &self,
        before: std::time::SystemTime,
    ) -> Result<usize, UploadError> {
        match &*self.backend {
            Backend::Fs(b) => b.remove_stale_tmp(before).await,
            Backend::S3(_) | Backend::Azblob(_) => Ok(0),
        }
    }

    /// Unfinished uploads under `prefix`, where the service can list them (S3; `fs` partial files).
    pub async fn list_incomplete(
        &self,
        prefix: &str,
    ) -> Result<Option<Vec<IncompleteUpload>>, UploadError> {
        match &*self.backend {
            Backend::S3(b) => b.list_incomplete(prefix).await.map(Some),
            Backend::Fs(b) => b.list_incomplete(prefix).await.map(Some),
            Backend::Azblob(_) => Ok(None),
        }
    }
}

/// Whether `key` is under `prefix` (a plain string prefix, as S3's ListMultipartUploads has it).
fn under_prefix(key: &str, prefix: &str) -> bool {
    key.starts_with(prefix.trim_start_matches('/'))
}

/// The remote's `root` option as a key prefix: without its slashes.
fn root(config: &RemoteConfig) -> &str {
    config
        .options
        .get("root")
        .map(|r| r.trim_matches('/'))
        .unwrap_or("")
}

/// The object key under the remote's `root`, as OpenDAL builds it: the root without its leading slash,
/// then the key.
fn absolute_key(config: &RemoteConfig, key: &str) -> String {
    match root(config) {
        "" => key.to_string(),
        root => format!("{root}/{key}"),
    }
}

/// The inverse of [`absolute_key`], for keys a server lists.
fn relative_key(config: &RemoteConfig, absolute: &str) -> String {
    match root(config) {
        "" => absolute.to_string(),
        root => absolute
            .strip_prefix(root)
            .map(|k| k.trim_start_matches('/'))
            .unwrap_or(absolute)
            .to_string(),
    }
}
