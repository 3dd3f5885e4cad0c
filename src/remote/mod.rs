//! A named remote opened as an OpenDAL [`Operator`], and `name:path` parsing.

mod path;
mod upload;

use std::sync::Once;

use opendal::Operator;
use opendal::layers::{
    ConcurrentLimitLayer, LoggingLayer, RetryLayer, ThrottleLayer, TimeoutLayer,
};
use opendal::services::{Azblob, Fs, Gcs, S3};

use crate::config::{RemoteConfig, RemoteKind};

pub use path::{KeyError, RemotePath, check_key, join_key};
pub use upload::{IncompleteUpload, Landed, LandedPart, ResumableUploads, UploadError};

/// With a bandwidth limit, no single request may carry more than this (the limiter's burst).
pub const MAX_THROTTLED_REQUEST: u32 = 16 << 20;

/// A remote could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[error("remote '{remote}': {message}")]
pub struct RemoteError {
    /// The remote's name.
    pub remote: String,
    /// What went wrong.
    pub message: String,
}

/// A remote ready for use: its resolved configuration and its operator with mbx's layers.
#[derive(Clone, Debug)]
pub struct Remote {
    config: RemoteConfig,
    op: Operator,
    uploads: Option<ResumableUploads>,
}

impl Remote {
    /// Opens the remote. Nothing is contacted yet.
    pub fn open(config: &RemoteConfig) -> Result<Remote, RemoteError> {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(opendal::install_default);
        let err = |message: String| RemoteError {
            remote: config.name.clone(),
            message,
        };
        let options = config.options.clone().into_iter();
        let op = match config.kind {
            RemoteKind::S3 | RemoteKind::Minio => Operator::from_iter::<S3>(options),
            RemoteKind::Azblob => Operator::from_iter::<Azblob>(options),
            RemoteKind::Gcs => Operator::from_iter::<Gcs>(options),
            RemoteKind::Fs => Operator::from_iter::<Fs>(options),
        }
        .map_err(|e| err(format!("cannot open {} storage: {e}", config.kind)))?;
        let s = &config.settings;
        // OpenDAL's `fs` marks every I/O error it does not know as temporary ("Is a directory", "Read-only
        // file system"), and a local file system gives the same answer again: its requests are not retried.
        let request_retries = if config.kind == RemoteKind::Fs {
            0
        } else {
            s.retries
        };
        let mut op = op;
        if let Some(bw) = s.bwlimit {
            let bw = u32::try_from(bw.max(1)).unwrap_or(u32::MAX);
            // The burst must hold any single request body (a part, up to 16 MiB), or it could never pass.
            op = op.layer(ThrottleLayer::new(bw, bw.max(MAX_THROTTLED_REQUEST)));
        }
        let op = op
            .layer(
                TimeoutLayer::new()
                    .with_timeout(s.timeout)
                    .with_io_timeout(s.io_timeout),
            )
            // Limit HTTP requests, not operations: an open reader or writer must not hold a slot while idle.
            .layer(ConcurrentLimitLayer::new(1 << 20).with_http_concurrent_limit(s.max_requests))
            .layer(
                RetryLayer::new()
                    .with_jitter()
                    .with_max_times(request_retries)
                    .with_min_delay(std::time::Duration::from_millis(200))
                    .with_max_delay(std::time::Duration::from_secs(20)),
            )
            .layer(LoggingLayer::default());
        // Resumable uploads bypass OpenDAL, so they get the bandwidth limit of their own.
        let limit = s
            .bwlimit
            .map(|bw| std::sync::Arc::new(upload::BandwidthLimit::new(bw)));
        let uploads = match ResumableUploads::for_remote(config, limit) {
            Ok(u) => u,
            Err(message) => {
                tracing::warn!(remote = %config.name, "resumable uploads unavailable, objects resume whole: {message}");
                None
            }
        };
        Ok(Remote {
            config: config.clone(),
            op,
            uploads,
        })
    }

    /// The remote's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The remote's configuration.
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// The operator, with retries, timeouts, a request limit and logging.
    pub fn op(&self) -> &Operator {
        &self.op
    }

    /// The remote's resumable uploads (parts that survive the process), where its kind has them.
    pub fn uploads(&self) -> Option<&ResumableUploads> {
        self.uploads.as_ref()
    }

    /// Refuses keys that are not valid for this remote (for `fs`: anything that could leave the root).
    pub fn check_key(&self, key: &str) -> Result<(), RemoteError> {
        check_key(self.config.kind, key).map_err(|e| RemoteError {
            remote: self.config.name.clone(),
            message: e.to_string(),
        })
    }

    /// On `fs`, every folder that already exists on the way to each of `keys` must resolve inside the root: a
    /// symbolic link there (made by someone else) would carry a write out of it. mbx creates the missing
    /// folders itself, as plain folders. Other kinds have no folders to follow.
    pub fn check_inside_root<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), RemoteError> {
        if self.config.kind != RemoteKind::Fs {
            return Ok(());
        }
        let Some(root) = self.config.options.get("root") else {
            return Ok(());
        };
        let root = std::path::Path::new(root);
        // No root yet: mbx will create it, and everything below it.
        let Ok(real_root) = std::fs::canonicalize(root) else {
            return Ok(());
        };
        let mut checked = std::collections::HashSet::new();
        for key in keys {
            let path = root.join(key.trim_end_matches('/'));
            let Some(parent) = path.parent() else {
                continue;
            };
            if !checked.insert(parent.to_path_buf()) {
                continue;
            }
            let Some(existing) = parent
                .ancestors()
                .find(|a| std::fs::symlink_metadata(a).is_ok())
            else {
                continue;
            };
            let inside = std::fs::canonicalize(existing)
                .map(|real| real.starts_with(&real_root))
                .unwrap_or(false);
            if !inside {
                return Err(RemoteError {
                    remote: self.config.name.clone(),
                    message: format!(
                        "key '{key}' would be written through '{}', which leads outside the root {}; \
                         remove that symbolic link or choose another destination",
                        existing.display(),
                        root.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// True when both remotes are the same store with the same credentials, so one operator can copy
    /// between them server-side.
    pub fn same_store(&self, other: &Remote) -> bool {
        self.config.same_store(&other.config)
    }
}
