//! `fs` as resumable uploads: a partial file under the root's `.mbx/partial/`, each part written at its
//! offset and flushed to disk before the caller journals it, then renamed into place when complete (a
//! rename within one file system is atomic, so the object never appears half-written).

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use opendal::Buffer;

use super::http::BandwidthLimit;
use super::{IncompleteUpload, LandedPart, UploadError};
use crate::config::{RemoteConfig, RemoteKind};

pub(super) struct FsUploads {
    name: String,
    root: PathBuf,
    limit: Option<Arc<BandwidthLimit>>,
}

impl FsUploads {
    pub(super) fn new(
        config: &RemoteConfig,
        limit: Option<Arc<BandwidthLimit>>,
    ) -> Result<FsUploads, String> {
        let root = config
            .options
            .get("root")
            .filter(|r| !r.is_empty())
            .ok_or("missing key 'root'")?;
        Ok(FsUploads {
            name: config.name.clone(),
            root: PathBuf::from(root),
            limit,
        })
    }

    fn partial_dir(&self) -> PathBuf {
        self.root.join(".mbx").join("partial")
    }

    fn partial(&self, upload_id: &str) -> Result<PathBuf, UploadError> {
        // Upload ids come from the journal; never let one name a path outside the partial folder.
        if upload_id.is_empty() || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(UploadError::new(
                format!("remote '{}': invalid upload id '{upload_id}'", self.name),
                false,
            ));
        }
        Ok(self.partial_dir().join(upload_id))
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> UploadError {
        UploadError::new(format!("{what} on remote '{}': {e}", self.name), false)
    }

    /// `None` when the partial file is gone; otherwise its length (the journal says which parts it holds).
    pub(super) async fn landed(&self, upload_id: &str) -> Result<Option<u64>, UploadError> {
        let path = self.partial(upload_id)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("reading the partial file", e)),
        }
    }

    pub(super) async fn put_part(
        &self,
        upload_id: &str,
        number: u32,
        offset: u64,
        data: Buffer,
    ) -> Result<LandedPart, UploadError> {
        let path = self.partial(upload_id)?;
        if let Some(l) = &self.limit {
            l.take_all(data.len()).await;
        }
        let dir = self.partial_dir();
        let size = data.len() as u64;
        let what = format!("writing part {number} to {}", path.display());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)?;
            let mut at = offset;
            for chunk in data {
                f.write_all_at(&chunk, at)?;
                at += chunk.len() as u64;
            }
            // The caller journals the part next: it must be on disk by then.
            f.sync_data()
        })
        .await
        .map_err(|e| self.io_error(&what, std::io::Error::other(e)))?
        .map_err(|e| self.io_error(&what, e))?;
        Ok(LandedPart {
            number,
            etag: String::new(),
            size,
        })
    }

    pub(super) async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        size: u64,
    ) -> Result<(), UploadError> {
        crate::remote::check_key(RemoteKind::Fs, key)
            .map_err(|e| UploadError::new(format!("remote '{}': {e}", self.name), false))?;
        let partial = self.partial(upload_id)?;
        let target = self.root.join(key);
        let what = format!(
            "moving {} into place as {}",
            partial.display(),
            target.display()
        );
        tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&partial)?;
            if f.metadata()?.len() != size {
                f.set_len(size)?;
            }
            f.sync_all()?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&partial, &target)
        })
        .await
        .map_err(|e| self.io_error(&what, std::io::Error::other(e)))?
        .map_err(|e| self.io_error(&what, e))
    }

    pub(super) async fn abort(&self, upload_id: &str) -> Result<(), UploadError> {
        let path = self.partial(upload_id)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(self.io_error("removing the partial file", e))
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn list_incomplete(&self) -> Result<Vec<IncompleteUpload>, UploadError> {
        let mut out = Vec::new();
        let mut dir = match tokio::fs::read_dir(self.partial_dir()).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.io_error("listing partial files", e)),
        };
        while let Some(entry) = dir
            .next_entry()
            .await
            .map_err(|e| self.io_error("listing partial files", e))?
        {
            let initiated = entry
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
                .unwrap_or_default();
            out.push(IncompleteUpload {
                key: String::new(),
                upload_id: entry.file_name().to_string_lossy().into_owned(),
                initiated,
            });
        }
        Ok(out)
    }
}
