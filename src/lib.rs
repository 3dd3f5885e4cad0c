//! mbx: Milvus backups, and a streaming, checksummed copier that moves them between object stores.
//!
//! The data path reads top-down: [`config`] resolves the remotes file, [`remote`] opens each remote as an
//! OpenDAL operator, [`transfer`] copies trees of objects between remotes (hashing, multipart, manifest,
//! journal, verify), and `milvus` speaks to Milvus to create and restore backups on top of the transfer
//! engine.

pub mod config;
pub mod milvus;
pub mod remote;
pub mod stdout;
pub mod transfer;
