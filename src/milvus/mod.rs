//! Milvus backups in milvus-backup's layout: the gRPC client, the meta files, and the create and restore
//! flows, which move their bytes through the transfer engine.

mod catalog;
mod client;
pub mod compat;
mod create;
mod gc;
pub mod meta;
mod proto;
mod rbac;
mod restore;
mod schema;

use crate::config::{MilvusSettings, RemotesConfig};
use crate::remote::Remote;
use crate::transfer::TransferError;

pub use catalog::{BackupBrief, delete_backup, get_backup, list_backups};
pub use client::MilvusClient;
pub use create::{CreateOptions, CreateSummary, Strategy, create_backup};
pub use restore::{Renames, RestoreOptions, RestoreSummary, restore_backup};

/// What went wrong talking to Milvus or with a backup.
#[derive(Debug, thiserror::Error)]
pub enum MilvusError {
    /// No connection.
    #[error("cannot connect to Milvus at {address}: {message}")]
    Connect {
        /// Where.
        address: String,
        /// Why.
        message: String,
    },
    /// A call failed or Milvus answered with an error.
    #[error("Milvus {call}: {message}")]
    Rpc {
        /// The gRPC method.
        call: String,
        /// Milvus's reason.
        message: String,
    },
    /// The user asked for something that cannot be (bad name, existing backup, missing collection...).
    #[error("{0}")]
    BadInput(String),
    /// The backup's content or Milvus's storage is not what it should be.
    #[error("{0}")]
    Data(String),
    /// Reading or writing storage failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The meta files could not be read or written.
    #[error(transparent)]
    Meta(#[from] meta::MetaError),
    /// Interrupted (Ctrl-C); the next run resumes.
    #[error("interrupted")]
    Interrupted,
}

impl MilvusError {
    /// True when the user's input is at fault.
    pub fn is_bad_input(&self) -> bool {
        match self {
            MilvusError::BadInput(_) => true,
            MilvusError::Meta(meta::MetaError::InvalidBackupName { .. }) => true,
            MilvusError::Transfer(t) => t.is_bad_input(),
            _ => false,
        }
    }
}

pub(crate) fn storage_err(remote: &Remote, what: &str, e: opendal::Error) -> MilvusError {
    MilvusError::Transfer(TransferError::Remote {
        remote: remote.name().to_string(),
        message: format!("{what}: {e}"),
    })
}

/// A remote that holds backups, with the Milvus instance it belongs to.
pub struct BackupSite {
    /// Where the backups are (`backup_root` inside it).
    pub backups: Remote,
    /// Milvus's own bucket (the same remote unless `storage_remote` names another).
    pub storage: Remote,
    /// How to reach Milvus and where its files are.
    pub milvus: MilvusSettings,
}

impl BackupSite {
    /// The site of remote `name`: it must have a `[remotes.NAME.milvus]` table.
    pub fn open(config: &RemotesConfig, name: &str) -> Result<BackupSite, MilvusError> {
        let remote = config
            .get(name)
            .map_err(|e| MilvusError::BadInput(e.to_string()))?;
        let milvus = remote.milvus.clone().ok_or_else(|| {
            MilvusError::BadInput(format!(
                "remote '{name}' names no Milvus instance: add a [remotes.{name}.milvus] table with at least address = \"host:19530\" (see remotes.example.toml)"
            ))
        })?;
        // As `transfer` decides: the configuration is the user's to fix (exit 2), a store that fails is not.
        let open = |r: &crate::config::RemoteConfig| {
            Remote::open(r).map_err(|e| match e.fault {
                crate::remote::Fault::Input => MilvusError::BadInput(e.to_string()),
                crate::remote::Fault::Store => MilvusError::Transfer(TransferError::Remote {
                    remote: e.remote.clone(),
                    message: e.message.clone(),
                }),
            })
        };
        let backups = open(remote)?;
        let storage = match &milvus.storage_remote {
            Some(other) => open(
                config
                    .get(other)
                    .map_err(|e| MilvusError::BadInput(e.to_string()))?,
            )?,
            None => backups.clone(),
        };
        Ok(BackupSite {
            backups,
            storage,
            milvus,
        })
    }

    /// Builds a site from already opened parts (for `--backup-yaml`).
    pub fn from_parts(backups: Remote, storage: Remote, milvus: MilvusSettings) -> BackupSite {
        BackupSite {
            backups,
            storage,
            milvus,
        }
    }

    /// The folder of backup `name`: `{backup_root}/{name}/`.
    pub fn backup_dir(&self, name: &str) -> String {
        meta::backup_dir(self.milvus.backup_root.trim_matches('/'), name)
    }

    /// Whether the backup folder `dir` holds a finished backup: its full meta, which `create` (mbx's and
    /// milvus-backup's alike) writes last.
    pub async fn holds_finished(&self, dir: &str) -> Result<bool, MilvusError> {
        let key = meta::meta_key(dir, meta::FULL_META_FILE);
        self.backups
            .op()
            .exists(&key)
            .await
            .map_err(|e| storage_err(&self.backups, &format!("checking {key}"), e))
    }

    /// The key prefix Milvus itself gives to a key of the storage remote: the remote's root inside the bucket.
    pub(crate) fn bucket_prefix(&self) -> String {
        let root = self
            .storage
            .config()
            .options
            .get("root")
            .map(|r| r.trim_matches('/'))
            .unwrap_or("");
        if root.is_empty() {
            String::new()
        } else {
            format!("{root}/")
        }
    }
}
