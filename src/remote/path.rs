//! `NAME:PATH` arguments and object keys.

use std::fmt;
use std::str::FromStr;

use crate::config::RemoteKind;

/// A location on a remote: `name:path`. The path is an object key prefix (or one key); it never starts with
/// `/` (one is refused) and a trailing `/` is kept, because it means "into this folder" (see the transfer rules).
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
        let shown = crate::config::shown(s);
        let (remote, path) = s.split_once(':').ok_or_else(|| {
            format!("'{shown}' is not REMOTE:PATH (for example a:backup/my_backup)")
        })?;
        if remote.is_empty() || remote.contains('/') {
            return Err(format!(
                "'{shown}': the part before ':' must be a remote name"
            ));
        }
        // Paths are keys relative to the remote's root: a leading '/' would suggest the machine's root.
        if path.starts_with('/') {
            return Err(format!(
                "'{shown}': a path has no leading '/' (it is relative to the remote's root); write {}:{}",
                crate::config::shown(remote),
                crate::config::shown(path.trim_start_matches('/'))
            ));
        }
        if path.len() > 1024 {
            return Err(format!(
                "'{shown}': the path is {} bytes; object keys are limited to 1024 bytes",
                path.len()
            ));
        }
        Ok(RemotePath {
            remote: remote.to_string(),
            path: path.to_string(),
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
    /// OpenDAL trims whitespace at both ends of every path, so such a key would be read or written as
    /// another one.
    #[error(
        "key '{0}' begins or ends with whitespace, which OpenDAL trims: it cannot be read or written as it is; \
         rename it"
    )]
    Whitespace(String),
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
            return Err(KeyError::Escapes(crate::config::shown(key)));
        }
    }
    Ok(())
}

/// Checks that a key can be addressed through OpenDAL as it is: no whitespace at either end.
pub fn check_addressable(key: &str) -> Result<(), KeyError> {
    if key.trim() != key {
        return Err(KeyError::Whitespace(crate::config::shown(key)));
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
        let e = "fb:/abs".parse::<RemotePath>().unwrap_err();
        assert!(e.contains("no leading '/'") && e.contains("fb:abs"), "{e}");
        let e = format!("fb:{}", "k".repeat(5000))
            .parse::<RemotePath>()
            .unwrap_err();
        assert!(e.len() < 400 && e.contains("5000 bytes"), "{e}");
    }

    #[test]
    fn keys_with_whitespace_at_an_end_are_not_addressable() {
        for k in ["sp ace ", " lead", "a/b\t", "x\n"] {
            assert!(check_addressable(k).is_err(), "{k:?}");
        }
        for k in ["sp ace", "a /b", "a/ b"] {
            assert!(check_addressable(k).is_ok(), "{k:?}");
        }
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
