//! `NAME:PATH` arguments and object keys.

use std::fmt;
use std::str::FromStr;

use crate::config::RemoteKind;

/// A location on a remote: `name:path`. The path is an object key prefix (or one key); it never starts with
/// `/` and a trailing `/` is kept, because it means "into this folder" (see the transfer rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePath {
    /// The remote's name.
    pub remote: String,
    /// The key or prefix within the remote.
    pub path: String,
}

impl FromStr for RemotePath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (remote, path) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not REMOTE:PATH (for example a:backup/my_backup)"))?;
        if remote.is_empty() || remote.contains('/') {
            return Err(format!("'{s}': the part before ':' must be a remote name"));
        }
        Ok(RemotePath {
            remote: remote.to_string(),
            path: path.trim_start_matches('/').to_string(),
        })
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.remote, self.path)
    }
}

impl RemotePath {
    /// The path as a folder prefix: empty (the whole remote) or ending in `/`.
    pub fn as_dir(&self) -> String {
        if self.path.is_empty() || self.path.ends_with('/') {
            self.path.clone()
        } else {
            format!("{}/", self.path)
        }
    }

    /// The last path component (without slashes), if any.
    pub fn last_component(&self) -> Option<&str> {
        self.path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|c| !c.is_empty())
    }
}

/// Joins a folder prefix and a relative key.
pub fn join_key(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{rel}")
    } else {
        format!("{dir}/{rel}")
    }
}

/// A key that cannot be used on a remote.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// A `..` or `.` component, an absolute path or a NUL byte would escape or confuse a local root.
    #[error(
        "key '{0}' would escape the local remote's root (it has '..', '.', a leading '/' or NUL); refusing it"
    )]
    Escapes(String),
    /// Object stores limit keys to 1024 bytes.
    #[error("key '{key}' is {len} bytes; object keys are limited to 1024 bytes")]
    TooLong {
        /// The key (shortened).
        key: String,
        /// Its length.
        len: usize,
    },
}

/// Checks a key for a remote of `kind`: on `fs`, no component may be `.` or `..`, and the key may not be
/// absolute or hold NUL (keys are not paths); everywhere, at most 1024 bytes.
pub fn check_key(kind: RemoteKind, key: &str) -> Result<(), KeyError> {
    if key.len() > 1024 {
        return Err(KeyError::TooLong {
            key: key.chars().take(64).collect(),
            len: key.len(),
        });
    }
    if kind == RemoteKind::Fs {
        let bad = key.starts_with('/')
            || key.contains('\0')
            || key.split('/').any(|c| c == ".." || c == ".");
        if bad {
            return Err(KeyError::Escapes(key.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remote_paths() {
        let p: RemotePath = "a:backup/my_backup".parse().unwrap();
        assert_eq!(p.remote, "a");
        assert_eq!(p.path, "backup/my_backup");
        assert_eq!(p.as_dir(), "backup/my_backup/");
        assert_eq!(p.last_component(), Some("my_backup"));
        let p: RemotePath = "b:backup/".parse().unwrap();
        assert_eq!(p.as_dir(), "backup/");
        assert_eq!(p.last_component(), Some("backup"));
        let p: RemotePath = "b:".parse().unwrap();
        assert_eq!(p.as_dir(), "");
        assert_eq!(p.last_component(), None);
        assert!("nocolon".parse::<RemotePath>().is_err());
        assert!(":x".parse::<RemotePath>().is_err());
    }

    #[test]
    fn fs_keys_cannot_escape() {
        for k in ["../x", "a/../../x", "/etc/passwd", "a/./b", "a\0b", ".."] {
            assert!(check_key(RemoteKind::Fs, k).is_err(), "{k}");
        }
        for k in ["a..b/c", "x/..y", "dir/", "ünï cødé/+%#?.bin"] {
            assert!(check_key(RemoteKind::Fs, k).is_ok(), "{k}");
        }
        assert!(check_key(RemoteKind::S3, "../x").is_ok());
        assert!(check_key(RemoteKind::S3, &"k".repeat(1025)).is_err());
    }
}
