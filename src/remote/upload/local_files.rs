//! Small objects written straight to a local root, without a flush of their own: a run writes many, then
//! flushes them together with [`LocalFiles::sync`] before it journals them (group commit).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::RemoteKind;

/// Where OpenDAL writes a small object before renaming it into place (mbx's default `atomic_write_dir`).
pub(super) const TMP_DIR: &str = ".mbx/tmp";

/// Small objects written straight to a local root, in one trip to the blocking pool each and without a flush
/// of their own: a run flushes many at once with [`LocalFiles::sync`] before it journals them.
#[derive(Clone)]
pub struct LocalFiles {
    root: Arc<PathBuf>,
    /// `.mbx/tmp/` was made (or found) once: the next objects skip the check.
    tmp_ready: Arc<std::sync::atomic::AtomicBool>,
}

impl LocalFiles {
    pub(super) fn new(root: &Path) -> LocalFiles {
        LocalFiles {
            root: Arc::new(root.to_path_buf()),
            tmp_ready: Arc::default(),
        }
    }

    /// Writes `data` as `key` under the root: to a temporary file in `.mbx/tmp/`, renamed into place, so the
    /// object never appears half-written. Not flushed. Blocking: call it on a blocking thread.
    pub fn write(&self, key: &str, data: &[u8]) -> std::io::Result<()> {
        let tmp = self.temporary(key)?;
        if let Err(e) = std::fs::write(&tmp, data) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.place(&tmp, key)
    }

    /// Copies the local file `from` to `key` under the root, hashing it on the way, and lands it only if its
    /// BLAKE3 is `expected`; false (and nothing written) otherwise. Not flushed. Blocking.
    pub fn copy_if_hash(
        &self,
        from: &Path,
        key: &str,
        expected: blake3::Hash,
    ) -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let tmp = self.temporary(key)?;
        let copied = (|| {
            let mut input = std::fs::File::open(from)?;
            let mut output = std::fs::File::create(&tmp)?;
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
        })();
        if !matches!(copied, Ok(true)) {
            let _ = std::fs::remove_file(&tmp);
            return copied;
        }
        self.place(&tmp, key).map(|()| true)
    }

    /// A new temporary file's path in `.mbx/tmp/` (the folder made on first use) for writing `key`, once the key
    /// is checked to stay inside the root.
    fn temporary(&self, key: &str) -> std::io::Result<PathBuf> {
        crate::remote::check_key(RemoteKind::Fs, key)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let tmp_dir = self.root.join(TMP_DIR);
        if !self.tmp_ready.load(std::sync::atomic::Ordering::Relaxed) {
            std::fs::create_dir_all(&tmp_dir)?;
            self.tmp_ready
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(tmp_dir.join(super::http::new_upload_token()))
    }

    /// Renames the temporary file `tmp` into place as `key`, making its folder when missing; on failure the
    /// temporary file is removed.
    fn place(&self, tmp: &Path, key: &str) -> std::io::Result<()> {
        let target = self.root.join(key);
        let placed = std::fs::rename(tmp, &target).or_else(|e| {
            let Some(parent) = target
                .parent()
                .filter(|_| e.kind() == std::io::ErrorKind::NotFound)
            else {
                return Err(e);
            };
            std::fs::create_dir_all(parent)?;
            std::fs::rename(tmp, &target)
        });
        if placed.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        placed
    }

    /// Flushes the file system that holds the root (`syncfs`): every object written before the call is on
    /// disk, with its name, when it returns.
    pub fn sync(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(&*self.root)?;
        // SAFETY: `syncfs` only reads the descriptor, which `dir` keeps open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
