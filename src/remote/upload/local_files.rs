//! Small objects written straight to a local root, without a flush of their own: a run writes many, then
//! flushes them together with [`LocalFiles::sync`] before it journals them (group commit).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::RemoteKind;

/// Where a small object is written before it is renamed into place, where the file system cannot make an
/// unnamed file (see [`LocalFiles`]), and where an object that replaces another gets its name for the rename.
/// The same folder is OpenDAL's `atomic_write_dir` for mbx.
pub(super) const TMP_DIR: &str = ".mbx/tmp";

/// Small objects written straight to a local root, in one trip to the blocking pool each and without a flush
/// of their own: a run flushes many at once with [`LocalFiles::sync`] before it journals them.
///
/// Each object is first an unnamed file (`O_TMPFILE`) in its own folder, given its name once written whole:
/// it never appears half-written, and a writer killed mid-write leaves nothing behind. Files made in one
/// shared folder instead (`.mbx/tmp/`, then renamed) took that folder's lock for every create and rename,
/// and took every new inode from the one block group that holds the folder: a local copy of 3,000 small
/// and 20 large objects spent 20% of its samples in ext4 looking for a free inode there and 9% waiting on
/// that lock.
#[derive(Clone)]
pub struct LocalFiles {
    root: Arc<PathBuf>,
    /// `.mbx/tmp/` was made (or found) once: the next objects skip the check.
    tmp_ready: Arc<AtomicBool>,
    /// The file system under the root refused an unnamed file once (or `/proc` is missing, through which
    /// one is given its name): every object since goes through `.mbx/tmp/`.
    no_unnamed: Arc<AtomicBool>,
}

impl LocalFiles {
    pub(super) fn new(root: &Path) -> LocalFiles {
        LocalFiles {
            root: Arc::new(root.to_path_buf()),
            tmp_ready: Arc::default(),
            no_unnamed: Arc::new(AtomicBool::new(!Path::new("/proc/self/fd").is_dir())),
        }
    }

    /// Writes `data` as `key` under the root, never half-written. Not flushed. Blocking: call it on a
    /// blocking thread.
    pub fn write(&self, key: &str, data: &[u8]) -> io::Result<()> {
        self.land(key, |f| f.write_all(data).map(|()| true))
            .map(drop)
    }

    /// Copies the local file `from` to `key` under the root, hashing it on the way, and lands it only if its
    /// BLAKE3 is `expected`; false (and nothing written) otherwise. Not flushed. Blocking.
    pub fn copy_if_hash(&self, from: &Path, key: &str, expected: blake3::Hash) -> io::Result<bool> {
        self.land(key, |output| {
            let mut input = File::open(from)?;
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                output.write_all(&buf[..n])?;
            }
            Ok(hasher.finalize() == expected)
        })
    }

    /// Makes a new file, lets `fill` write it, and, when `fill` says so, puts it in place as `key`; otherwise,
    /// or on any error, nothing is left behind.
    fn land(&self, key: &str, fill: impl Fn(&mut File) -> io::Result<bool>) -> io::Result<bool> {
        crate::remote::check_key(RemoteKind::Fs, key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let target = self.root.join(key);
        let folder = target.parent().unwrap_or(&self.root);
        if let Some(mut file) = self.unnamed_in(folder)? {
            if !fill(&mut file)? {
                return Ok(false);
            }
            if self.name(&file, &target)? {
                return Ok(true);
            }
            // A file system that makes unnamed files but will not link them (some FUSE servers, a security
            // module): this object and every next one go through `.mbx/tmp/` instead.
            tracing::info!(
                "an unnamed file could not be linked as {}; writing through {TMP_DIR}",
                target.display()
            );
            self.no_unnamed.store(true, Ordering::Relaxed);
        }
        let tmp = self.temporary()?;
        let filled = File::create(&tmp).and_then(|mut f| fill(&mut f));
        if !matches!(filled, Ok(true)) {
            let _ = std::fs::remove_file(&tmp);
            return filled;
        }
        place(&tmp, &target).map(|()| true)
    }

    /// An unnamed file in `folder` (made when missing), or `None` where the file system makes none.
    fn unnamed_in(&self, folder: &Path) -> io::Result<Option<File>> {
        if self.no_unnamed.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .mode(0o666)
                .custom_flags(libc::O_TMPFILE)
                .open(folder)
        };
        let opened = open().or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                std::fs::create_dir_all(folder)?;
                open()
            }
            _ => Err(e),
        });
        match opened {
            Ok(f) => Ok(Some(f)),
            // A file system without unnamed files answers one of these (ENOTSUP for most, EISDIR where the
            // kernel itself predates them, EINVAL from some FUSE servers).
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) =>
            {
                self.no_unnamed.store(true, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the unnamed `file` its name `target`; false when this file system will not link an unnamed
    /// file. An object there already is replaced in one rename, from a name under `.mbx/tmp/`, so that it is
    /// never missing or half-written.
    fn name(&self, file: &File, target: &Path) -> io::Result<bool> {
        let fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        match link(&fd, target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let tmp = self.temporary()?;
                link(&fd, &tmp)?;
                place(&tmp, target).map(|()| true)
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM | libc::EXDEV | libc::EOPNOTSUPP | libc::EINVAL)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// A new temporary file's path in `.mbx/tmp/` (the folder made on first use).
    fn temporary(&self) -> io::Result<PathBuf> {
        let tmp_dir = self.root.join(TMP_DIR);
        if !self.tmp_ready.load(Ordering::Relaxed) {
            std::fs::create_dir_all(&tmp_dir)?;
            self.tmp_ready.store(true, Ordering::Relaxed);
        }
        Ok(tmp_dir.join(super::http::new_upload_token()))
    }

    /// Flushes the file system that holds the root (`syncfs`): every object written before the call is on
    /// disk, with its name, when it returns.
    pub fn sync(&self) -> io::Result<()> {
        let dir = File::open(&*self.root)?;
        // SAFETY: `syncfs` only reads the descriptor, which `dir` keeps open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Renames the temporary file `tmp` into place as `target`, making its folder when missing; on failure the
/// temporary file is removed.
fn place(tmp: &Path, target: &Path) -> io::Result<()> {
    let placed = std::fs::rename(tmp, target).or_else(|e| {
        let Some(parent) = target
            .parent()
            .filter(|_| e.kind() == io::ErrorKind::NotFound)
        else {
            return Err(e);
        };
        std::fs::create_dir_all(parent)?;
        std::fs::rename(tmp, target)
    });
    if placed.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    placed
}

/// A hard link to `from` (here an unnamed file's `/proc/self/fd/N`, followed to the file itself) as `to`.
fn link(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
    };
    let (from, to) = (cstr(from)?, cstr(to)?);
    // SAFETY: both paths are NUL-terminated strings that live for the call; `linkat` only reads them.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if linked != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dir`, as paths relative to it.
    fn files_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    out.push(path.strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// The same checks with and without unnamed files: the second is the path of a file system that has none.
    fn both_ways(check: impl Fn(&LocalFiles, &Path)) {
        for unnamed in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let files = LocalFiles::new(dir.path());
            if !unnamed {
                files.no_unnamed.store(true, Ordering::Relaxed);
            }
            check(&files, dir.path());
        }
    }

    #[test]
    fn an_object_lands_whole_in_a_new_folder_and_leaves_nothing_else() {
        both_ways(|files, root| {
            files.write("a/b/c.bin", b"first").unwrap();
            files.write("top", b"").unwrap();
            assert_eq!(std::fs::read(root.join("a/b/c.bin")).unwrap(), b"first");
            assert_eq!(files_under(root), ["a/b/c.bin", "top"]);
        });
    }

    #[test]
    fn an_object_that_is_there_already_is_replaced() {
        both_ways(|files, root| {
            files.write("a/obj", b"old content").unwrap();
            files.write("a/obj", b"new").unwrap();
            assert_eq!(std::fs::read(root.join("a/obj")).unwrap(), b"new");
            assert_eq!(files_under(root), ["a/obj"]);
        });
    }

    #[test]
    fn a_copy_lands_only_with_the_expected_hash() {
        both_ways(|files, root| {
            let from = root.join("from");
            std::fs::write(&from, b"payload").unwrap();
            let wrong = blake3::hash(b"something else");
            assert!(!files.copy_if_hash(&from, "x/wrong", wrong).unwrap());
            assert!(
                files
                    .copy_if_hash(&from, "x/right", blake3::hash(b"payload"))
                    .unwrap()
            );
            assert_eq!(std::fs::read(root.join("x/right")).unwrap(), b"payload");
            assert_eq!(files_under(root), ["from", "x/right"]);
        });
    }

    #[test]
    fn a_key_that_leaves_the_root_is_refused_and_nothing_is_written() {
        both_ways(|files, root| {
            let e = files.write("../outside", b"x").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(files_under(root).is_empty());
            assert!(!root.parent().unwrap().join("outside").exists());
        });
    }

    #[test]
    fn a_folder_in_the_way_fails_the_object_and_leaves_nothing() {
        both_ways(|files, root| {
            files.write("f", b"a file").unwrap();
            assert!(files.write("f/under", b"x").is_err());
            std::fs::create_dir(root.join("d")).unwrap();
            assert!(files.write("d", b"x").is_err());
            assert_eq!(files_under(root), ["f"]);
        });
    }
}
