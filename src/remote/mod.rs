//! A named remote opened with its request policy, as an OpenDAL [`Operator`] and resumable uploads, and
//! `name:path` parsing.

mod path;
mod policy;
mod request_slots;
#[cfg(test)]
pub(crate) mod test_server;
mod upload;

use std::sync::{Arc, Once};

use opendal::Operator;
use opendal::services::{Azblob, Fs, Gcs, Memory, S3};

use crate::config::{RemoteConfig, RemoteKind};

pub use path::{KeyError, RemotePath, check_addressable, check_key, join_key};
pub(crate) use policy::RequestPolicy;
pub use upload::{IncompleteUpload, Landed, LandedPart, LocalFiles, ResumableUploads, UploadError};

/// With a bandwidth limit, the largest part: an interruption then costs at most this much of a slow link.
pub const MAX_THROTTLED_REQUEST: u32 = 16 << 20;

/// A remote could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[error("remote '{remote}': {message}")]
pub struct RemoteError {
    /// The remote's name.
    pub remote: String,
    /// What went wrong.
    pub message: String,
    /// Whose it is to fix.
    pub fault: Fault,
}

/// Whose an error is to fix, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The store failed or refused (exit 1).
    Store,
    /// The configuration or the arguments (exit 2): a missing root, a path out of it.
    Input,
}

/// What a command does with a remote. A remote opened for reading writes nothing: on `fs` its root must
/// exist, and no folder of mbx's is made (OpenDAL's fs creates its root and temporary folder when opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// List, stat and read only; on `fs` a missing root is an error.
    Read,
    /// List, stat and read only, and a missing `fs` root is an empty tree: a dry run's destination.
    Plan,
    /// Read and write.
    Write,
}

/// Folders below an fs root that mbx writes into itself, whatever the tree.
const FS_OWN_DIRS: [&str; 2] = [".mbx/tmp", ".mbx/partial"];

/// A remote ready for use: its resolved configuration, its request policy, and the two clients that follow
/// it (an operator with mbx's layers, and the resumable uploads where the kind has them).
#[derive(Clone, Debug)]
pub struct Remote {
    config: RemoteConfig,
    policy: Arc<RequestPolicy>,
    op: Operator,
    uploads: Option<ResumableUploads>,
}

impl Remote {
    /// Opens the remote for reading and writing. Nothing is contacted yet.
    pub fn open(config: &RemoteConfig) -> Result<Remote, RemoteError> {
        Self::open_for(config, Access::Write)
    }

    /// Opens the remote for `access`. Nothing is contacted yet; on `fs`, [`Access::Read`] refuses a root that
    /// does not exist (a mistyped one) instead of creating it, and [`Access::Write`] refuses a root whose
    /// `.mbx` folder is a link out of it.
    pub fn open_for(config: &RemoteConfig, access: Access) -> Result<Remote, RemoteError> {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(opendal::install_default);
        let err = |message: String| RemoteError {
            remote: config.name.clone(),
            message,
            fault: Fault::Store,
        };
        let mut options = config.options.clone();
        let missing_root =
            config.kind == RemoteKind::Fs && prepare_fs(config, access, &mut options)?;
        let options = options.into_iter();
        let op = match config.kind {
            RemoteKind::S3 | RemoteKind::Minio => Operator::from_iter::<S3>(options),
            RemoteKind::Azblob => Operator::from_iter::<Azblob>(options),
            RemoteKind::Gcs => Operator::from_iter::<Gcs>(options),
            // Nothing is there yet, and a dry run must not create the root to find that out.
            RemoteKind::Fs if missing_root => Operator::new(Memory::default()),
            RemoteKind::Fs => Operator::from_iter::<Fs>(options),
        }
        // Nothing is contacted yet: a builder that fails was given options it cannot use.
        .map_err(|e| RemoteError {
            fault: Fault::Input,
            ..err(format!(
                "cannot open {} storage: {e}; check the remote's options",
                config.kind
            ))
        })?;
        let policy = RequestPolicy::for_remote(config);
        let op = policy.layered(op);
        // An option the upload client cannot honour is refused here, before anything is sent: large objects
        // never go without what the remote asks of them, nor quietly lose resume.
        let uploads =
            ResumableUploads::for_remote(config, policy.clone()).map_err(|e| RemoteError {
                fault: Fault::Input,
                ..err(format!("cannot open {} storage: {e}", config.kind))
            })?;
        Ok(Remote {
            config: config.clone(),
            policy,
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

    /// The remote's request policy, which its operator and its uploads follow.
    pub(crate) fn policy(&self) -> &RequestPolicy {
        &self.policy
    }

    /// The operator, with the remote's request policy and logging.
    pub fn op(&self) -> &Operator {
        &self.op
    }

    /// The remote's resumable uploads (parts that survive the process), where its kind has them.
    pub fn uploads(&self) -> Option<&ResumableUploads> {
        self.uploads.as_ref()
    }

    /// Where `key` is on the local disk, for an `fs` remote. The key must have passed [`Remote::check_key`].
    pub fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        if self.config.kind != RemoteKind::Fs {
            return None;
        }
        let root = self.config.options.get("root")?;
        Some(std::path::Path::new(root).join(key))
    }

    /// A check of keys about to be written, for links out of an `fs` root (see [`InsideRoot`]).
    pub fn inside_root(&self) -> InsideRoot {
        let root = match self.config.kind {
            RemoteKind::Fs => self.config.options.get("root").map(std::path::Path::new),
            _ => None,
        };
        InsideRoot::new(&self.config.name, root)
    }

    /// Refuses keys that are not valid for this remote (for `fs`: anything that could leave the root).
    pub fn check_key(&self, key: &str) -> Result<(), RemoteError> {
        check_key(self.config.kind, key).map_err(|e| RemoteError {
            remote: self.config.name.clone(),
            message: e.to_string(),
            fault: Fault::Input,
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
        writes_inside_root(&self.config.name, std::path::Path::new(root), keys)
    }

    /// On `fs`, the folder or object at `path` must resolve inside the root: a source reached through a
    /// symbolic link out of the root would read another part of the machine. A path that does not exist is
    /// fine here (the listing finds nothing). Other kinds have no links.
    pub fn check_read_inside_root(&self, path: &str) -> Result<(), RemoteError> {
        if self.config.kind != RemoteKind::Fs {
            return Ok(());
        }
        let Some(root) = self.config.options.get("root") else {
            return Ok(());
        };
        let root = std::path::Path::new(root);
        let (Ok(real_root), Ok(real)) = (
            std::fs::canonicalize(root),
            std::fs::canonicalize(root.join(path.trim_end_matches('/'))),
        ) else {
            return Ok(());
        };
        if real.starts_with(&real_root) {
            return Ok(());
        }
        Err(RemoteError {
            remote: self.config.name.clone(),
            message: format!(
                "'{}' is a symbolic link (or lies below one) that leads outside the root {}; mbx reads \
                 nothing outside a remote's root",
                crate::config::shown(path),
                root.display()
            ),
            fault: Fault::Input,
        })
    }

    /// True when both remotes are the same store with the same credentials, so one operator can copy
    /// between them server-side.
    pub fn same_store(&self, other: &Remote) -> bool {
        self.config.same_store(&other.config)
    }
}

/// The fs options for `access`: for reading, an existing root and no temporary folder (OpenDAL would create
/// it); for writing, mbx's own folders must not lead out of the root. True when the root is missing and
/// `access` lets that be an empty tree.
fn prepare_fs(
    config: &RemoteConfig,
    access: Access,
    options: &mut std::collections::BTreeMap<String, String>,
) -> Result<bool, RemoteError> {
    let root = std::path::PathBuf::from(options.get("root").map(String::as_str).unwrap_or(""));
    match access {
        Access::Plan if !root.exists() => Ok(true),
        Access::Read | Access::Plan => {
            options.remove("atomic_write_dir");
            if !root.is_dir() {
                return Err(RemoteError {
                    remote: config.name.clone(),
                    message: format!(
                        "the root {} does not exist (or is not a folder); check the remote's 'root'",
                        root.display()
                    ),
                    fault: Fault::Input,
                });
            }
            Ok(false)
        }
        Access::Write => {
            let own: Vec<String> = FS_OWN_DIRS.iter().map(|d| format!("{d}/x")).collect();
            let mut guard = InsideRoot::new(&config.name, Some(&root));
            if let Some(existing) = own.iter().find_map(|k| guard.way_out(k)) {
                return Err(RemoteError {
                    remote: config.name.clone(),
                    message: format!(
                        "mbx keeps its temporary files in {}, and '{}' leads outside the root; remove that \
                         symbolic link",
                        root.join(".mbx").display(),
                        existing.display()
                    ),
                    fault: Fault::Input,
                });
            }
            Ok(false)
        }
    }
}

/// Every folder that already exists on the way to each of `keys` below `root` must resolve inside it.
fn writes_inside_root<'a>(
    remote: &str,
    root: &std::path::Path,
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), RemoteError> {
    let mut guard = InsideRoot::new(remote, Some(root));
    keys.into_iter().try_for_each(|k| guard.check(k))
}

/// Checks keys about to be written, one at a time, for a way out of an `fs` root: a key that is itself a link
/// out of the root, or whose nearest existing folder (or link) resolves outside it. Folders already checked
/// are remembered, so a tree of many keys costs about one `lstat` per key. Other kinds pass everything.
pub struct InsideRoot {
    remote: String,
    /// The root and its canonical path; none when not on `fs` or when the root does not exist yet (mbx
    /// creates it, and everything below it).
    roots: Option<(std::path::PathBuf, std::path::PathBuf)>,
    checked: std::collections::HashSet<std::path::PathBuf>,
}

impl InsideRoot {
    fn new(remote: &str, root: Option<&std::path::Path>) -> InsideRoot {
        let roots = root.and_then(|r| Some((r.to_path_buf(), std::fs::canonicalize(r).ok()?)));
        InsideRoot {
            remote: remote.to_string(),
            roots,
            checked: Default::default(),
        }
    }

    /// Fails when writing `key` would go through a link out of the root.
    pub fn check(&mut self, key: &str) -> Result<(), RemoteError> {
        let Some(existing) = self.way_out(key) else {
            return Ok(());
        };
        let root = self.roots.as_ref().map(|r| r.0.display().to_string());
        Err(RemoteError {
            remote: self.remote.clone(),
            message: format!(
                "key '{}' would be written through '{}', which leads outside the root {}; remove that \
                 symbolic link or choose another destination",
                crate::config::shown(key),
                existing.display(),
                root.unwrap_or_default()
            ),
            fault: Fault::Input,
        })
    }

    /// The link (or folder) on the way to `key` that leads out of the root, if any.
    fn way_out(&mut self, key: &str) -> Option<std::path::PathBuf> {
        let (root, real_root) = self.roots.as_ref()?;
        let path = root.join(key.trim_end_matches('/'));
        // The object itself may be a link out: a copy onto it (the fs service's server-side copy) follows it.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            let inside = std::fs::canonicalize(&path).is_ok_and(|real| real.starts_with(real_root));
            if !inside {
                return Some(path);
            }
        }
        let parent = path.parent()?;
        if self.checked.contains(parent) {
            return None;
        }
        let existing = parent
            .ancestors()
            .find(|a| std::fs::symlink_metadata(a).is_ok())?;
        let inside = std::fs::canonicalize(existing)
            .map(|real| real.starts_with(real_root))
            .unwrap_or(false);
        if !inside {
            return Some(existing.to_path_buf());
        }
        self.checked.insert(parent.to_path_buf());
        None
    }
}

/// The configuration of remote `name` in the remotes file `text` (read without the environment), for unit
/// tests.
#[cfg(test)]
pub(crate) fn config_for_tests(text: &str, name: &str) -> RemoteConfig {
    let config = crate::config::RemotesConfig::parse(
        text,
        crate::config::ConfigSource::Embedded,
        &Default::default(),
    )
    .expect("a valid test remotes file");
    config.get(name).expect("the test remote").clone()
}

/// The configuration of a local (`fs`) remote rooted at `root`, for unit tests.
#[cfg(test)]
pub(crate) fn local_config_for_tests(name: &str, root: &std::path::Path) -> RemoteConfig {
    let text = format!(
        "[remotes.{name}]\ntype = \"fs\"\nroot = {:?}\n",
        root.display().to_string()
    );
    config_for_tests(&text, name)
}

/// A local (`fs`) remote rooted at `root`, for unit tests.
#[cfg(test)]
pub(crate) fn local_for_tests(name: &str, root: &std::path::Path) -> Remote {
    Remote::open(&local_config_for_tests(name, root)).expect("an openable test remote")
}
