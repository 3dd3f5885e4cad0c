//! `mbx list`, `mbx get`, `mbx delete`: the backups of a remote.

use futures::TryStreamExt;
use opendal::ErrorKind;

use super::meta::{self, BackupInfo};
use super::{MilvusError, storage_err};
use crate::remote::Remote;

/// One backup, in brief.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupBrief {
    /// Its name (the folder under the backup root).
    pub name: String,
    /// `true` when its meta is written: an interrupted create leaves binlogs and no meta.
    pub complete: bool,
    /// Bytes of binlogs, from the meta.
    pub size: i64,
    /// Milvus version it was taken from.
    pub milvus_version: String,
    /// Collection names.
    pub collections: Vec<String>,
}

async fn read_opt(remote: &Remote, key: &str) -> Result<Option<Vec<u8>>, MilvusError> {
    match remote.op().read(key).await {
        Ok(b) => Ok(Some(b.to_vec())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(storage_err(remote, &format!("reading {key}"), e)),
    }
}

/// Reads the meta of the backup in `dir` (`{backup_root}/{name}/`): `full_meta.json` first, the level
/// files otherwise.
pub async fn get_backup(remote: &Remote, dir: &str) -> Result<BackupInfo, MilvusError> {
    let key = |f| meta::meta_key(dir, f);
    let Some(backup) = read_opt(remote, &key(meta::BACKUP_META_FILE)).await? else {
        return Err(MilvusError::BadInput(format!(
            "no backup at {}:{dir} ({} is missing); `mbx list` shows the backups there",
            remote.name(),
            key(meta::BACKUP_META_FILE)
        )));
    };
    let full = read_opt(remote, &key(meta::FULL_META_FILE)).await?;
    let (c, p, s) = if full.is_none() {
        (
            read_opt(remote, &key(meta::COLLECTION_META_FILE)).await?,
            read_opt(remote, &key(meta::PARTITION_META_FILE)).await?,
            read_opt(remote, &key(meta::SEGMENT_META_FILE)).await?,
        )
    } else {
        (None, None, None)
    };
    Ok(meta::read_backup(
        full.as_deref(),
        &backup,
        c.as_deref(),
        p.as_deref(),
        s.as_deref(),
    )?)
}

/// The backups under `backup_root` on `remote`.
pub async fn list_backups(
    remote: &Remote,
    backup_root: &str,
) -> Result<Vec<BackupBrief>, MilvusError> {
    let root = format!("{}/", backup_root.trim_matches('/'));
    let entries: Vec<opendal::Entry> = match remote.op().lister(&root).await {
        Ok(l) => l
            .try_collect()
            .await
            .map_err(|e| storage_err(remote, &format!("listing {root}"), e))?,
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(storage_err(remote, &format!("listing {root}"), e)),
    };
    let mut out = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.metadata().is_dir() && e.path() != root)
    {
        let name = e
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let dir = meta::backup_dir(backup_root.trim_matches('/'), &name);
        let brief = match get_backup(remote, &dir).await {
            Ok(info) => BackupBrief {
                name,
                complete: true,
                size: info.size,
                milvus_version: info.milvus_version,
                collections: info
                    .collection_backups
                    .iter()
                    .map(|c| c.collection_name.clone())
                    .collect(),
            },
            // A half-written meta (an interrupted create) lists as incomplete instead of failing the list.
            Err(MilvusError::BadInput(_) | MilvusError::Meta(_)) => BackupBrief {
                name,
                complete: false,
                size: 0,
                milvus_version: String::new(),
                collections: Vec::new(),
            },
            Err(e) => return Err(e),
        };
        out.push(brief);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Deletes everything under `dir`. A folder with nothing in it is an error, so a typo deletes nothing.
pub async fn delete_backup(remote: &Remote, dir: &str) -> Result<u64, MilvusError> {
    let objects = crate::transfer::list_tree(remote, dir).await?;
    let mbx_files = remote
        .op()
        .exists(&format!("{dir}{}", crate::transfer::MANIFEST_KEY))
        .await
        .unwrap_or(false);
    if objects.is_empty() && !mbx_files {
        return Err(MilvusError::BadInput(format!(
            "no backup at {}:{dir}; nothing deleted",
            remote.name()
        )));
    }
    remote
        .op()
        .delete_with(dir)
        .recursive(true)
        .await
        .map_err(|e| storage_err(remote, &format!("deleting {dir}"), e))?;
    Ok(objects.len() as u64)
}
