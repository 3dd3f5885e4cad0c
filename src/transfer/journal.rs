//! The local journal of a transfer in progress: one JSON line per object that has fully landed, appended
//! as it lands, so a re-run after any interruption (kill -9 included) knows what not to send again. It is
//! removed when the transfer completes.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::manifest::ManifestEntry;

/// An append-only record of finished objects, keyed by the transfer's source and destination.
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    done: HashMap<String, ManifestEntry>,
}

impl Journal {
    /// Opens (or creates) the journal for the transfer named by `identity`, under `state_dir/journals/`,
    /// and loads what earlier runs recorded. A torn last line (a crash mid-write) is ignored.
    pub fn open(state_dir: &Path, identity: &str) -> std::io::Result<Journal> {
        let dir = state_dir.join("journals");
        std::fs::create_dir_all(&dir)?;
        let name = blake3::hash(identity.as_bytes()).to_hex();
        let path = dir.join(format!("{}.jsonl", &name[..24]));
        let mut done = HashMap::new();
        if let Ok(f) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                if let Ok(entry) = serde_json::from_str::<ManifestEntry>(&line) {
                    done.insert(entry.key.clone(), entry);
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        // End a torn last line, so the next record starts on a line of its own.
        let len = file.metadata()?.len();
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(Journal {
            path,
            file: Mutex::new(file),
            done,
        })
    }

    /// What an earlier run recorded for `key`.
    pub fn get(&self, key: &str) -> Option<&ManifestEntry> {
        self.done.get(key)
    }

    /// Records that `entry` has landed. Each record is one `write` of one line, so a crash leaves at most a
    /// torn last line.
    pub fn record(&self, entry: &ManifestEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("journal lock poisoned"))?;
        f.write_all(&line)
    }

    /// Removes the journal: the transfer is complete and its manifest written.
    pub fn finish(self) -> std::io::Result<()> {
        drop(self.file);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The directory for journals: `$MBX_STATE_DIR`, else `$XDG_STATE_HOME/mbx`, else `~/.local/state/mbx`.
pub fn default_state_dir() -> PathBuf {
    let from_env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from_env("MBX_STATE_DIR")
        .or_else(|| from_env("XDG_STATE_HOME").map(|p| p.join("mbx")))
        .or_else(|| from_env("HOME").map(|h| h.join(".local/state/mbx")))
        .unwrap_or_else(|| std::env::temp_dir().join("mbx-state"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_torn_line_and_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let e = ManifestEntry {
            key: "k".into(),
            size: 1,
            blake3: "00".into(),
            src_etag: Some("e".into()),
            src_mtime: None,
        };
        let j = Journal::open(dir.path(), "x").unwrap();
        j.record(&e).unwrap();
        let path = j.path().to_path_buf();
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"key\":\"torn").unwrap();
        let j = Journal::open(dir.path(), "x").unwrap();
        assert_eq!(j.get("k"), Some(&e));
        let e2 = ManifestEntry {
            key: "k2".into(),
            ..e.clone()
        };
        j.record(&e2).unwrap();
        drop(j);
        let j = Journal::open(dir.path(), "x").unwrap();
        assert_eq!(j.get("k2"), Some(&e2));
        assert!(Journal::open(dir.path(), "y").unwrap().get("k").is_none());
        j.finish().unwrap();
        assert!(!path.exists());
    }
}
