//! The local journal of a transfer in progress, appended as things land, so that a re-run after any
//! interruption (kill -9 included) knows what not to send again. One JSON line per event:
//! - a header naming the destination, so that `mbx cleanup` can abort what an abandoned run left there;
//! - an object that has fully landed (its manifest entry);
//! - a resumable upload started (its id and the source version it copies);
//! - a part of such an upload that has landed (its number, the server's tag and its BLAKE3 chaining value).
//!
//! It is removed when the transfer completes.
//!
//! One run at a time: a run holds an OS lock on its journal for as long as it runs (the kernel drops it when
//! the process ends, kill -9 included), so a second run of the same transfer, or `mbx cleanup`, can tell
//! that the uploads it names are live. Journals hold keys and upload ids: they are created `0600` in a
//! `0700` folder.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::listing::SourceObject;
use super::manifest::ManifestEntry;

/// Where a journal's transfer writes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// The destination remote's name.
    pub dst_remote: String,
    /// The destination store (kind, endpoint, bucket), to tell a renamed remote.
    pub dst_location: String,
    /// The destination tree's root on that remote (absent from journals of older versions), so that
    /// `mbx cleanup REMOTE:PREFIX` touches only the journals of transfers under `PREFIX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_root: Option<String>,
    /// The destination's bucket (or Azure container), so that `mbx cleanup` finds a remote of rclone or mc
    /// again (those name an account; the bucket comes from the path). Absent from older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_bucket: Option<String>,
}

/// The run that holds a journal: who to name when another run finds it locked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Its process id.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started: String,
}

/// A resumable upload of one object, as started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The object's key relative to the tree (as in the manifest).
    pub key: String,
    /// Its key at the destination.
    pub dst_key: String,
    /// The service's (or mbx's) id of the upload.
    pub upload_id: String,
    /// Part size, a power of two.
    pub part_size: u64,
    /// The source version copied: size, ETag, modification time.
    pub size: u64,
    /// Source ETag.
    pub src_etag: Option<String>,
    /// Source modification time.
    pub src_mtime: Option<String>,
}

/// One landed part of a resumable upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartRecord {
    /// The object's key relative to the tree.
    pub key: String,
    /// The upload it belongs to.
    pub upload_id: String,
    /// 1-based part number.
    pub number: u32,
    /// The server's tag for it (S3 ETag, Azure block id; empty on `fs`).
    pub etag: String,
    /// Bytes in the part.
    pub size: u64,
    /// BLAKE3 chaining value of the part (hex), see `tree_hash`.
    pub cv: String,
    /// The store's checksum of the part, where the completion must name it (S3 with `checksum_algorithm =
    /// "crc32c"`). Absent from journals written without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    Header { transfer: JournalHeader },
    Upload { upload: UploadRecord },
    Part { part: PartRecord },
    Run { run: RunRecord },
    Done(ManifestEntry),
}

/// An upload in progress: how it started and the parts that landed.
#[derive(Debug, Clone)]
pub struct UploadState {
    /// How it started.
    pub upload: UploadRecord,
    /// Its landed parts by number.
    pub parts: BTreeMap<u32, PartRecord>,
}

/// An object an earlier run landed, kept in 64 bytes with its key's id, because a run killed near the end of
/// a million objects leaves a million of them: the key and the source version are kept as hashes, which is all
/// the comparison with the listing needs.
#[derive(Clone, Copy)]
struct Done {
    size: u64,
    blake3: [u8; 32],
    /// Hash of the source ETag when copied; 0 for none.
    etag: u64,
    /// Hash of the source modification time when copied; 0 for none.
    mtime: u64,
}

/// Marks a key whose earlier landing no longer counts (a later upload of it started).
const GONE: u64 = u64::MAX;

impl Done {
    fn gone() -> Done {
        Done {
            size: GONE,
            blake3: [0; 32],
            etag: 0,
            mtime: 0,
        }
    }
}

/// What earlier runs landed, sorted by key id once the journal is loaded (no hash map: its buckets would
/// double the memory).
#[derive(Default)]
struct LandedSet {
    /// (key id, what landed), in journal order while loading, then sorted with one entry per key.
    entries: Vec<(u128, Done)>,
}

impl LandedSet {
    fn push(&mut self, id: u128, done: Done) {
        self.entries.push((id, done));
    }

    /// Sorts, keeps the last record of each key, and drops the keys whose landing no longer counts.
    fn seal(&mut self) {
        // Stable: the records of one key stay in journal order.
        self.entries.sort_by_key(|e| e.0);
        let mut kept = 0;
        for i in 0..self.entries.len() {
            let last_of_key = self
                .entries
                .get(i + 1)
                .is_none_or(|next| next.0 != self.entries[i].0);
            if last_of_key && self.entries[i].1.size != GONE {
                self.entries[kept] = self.entries[i];
                kept += 1;
            }
        }
        self.entries.truncate(kept);
        self.entries.shrink_to_fit();
    }

    fn get(&self, id: u128) -> Option<&Done> {
        let i = self.entries.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(&self.entries[i].1)
    }
}

/// The map key of an object's key (128 bits of its BLAKE3: no two keys of a tree share one in practice).
pub(super) fn key_id(key: &str) -> u128 {
    let h = blake3::hash(key.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(id)
}

/// Whether `obj` is the source version recorded as `size` and the hashes `etag` and `mtime` ([`text_id`]): the
/// same size, and the same ETag where both have one, else the same modification time.
pub(super) fn same_version(obj: &SourceObject, size: u64, etag: u64, mtime: u64) -> bool {
    let (now_etag, now_mtime) = (text_id(obj.etag.as_deref()), text_id(obj.mtime.as_deref()));
    size == obj.size
        && if etag != 0 && now_etag != 0 {
            etag == now_etag
        } else {
            mtime != 0 && mtime == now_mtime
        }
}

/// A nonzero 64-bit hash of a source ETag or time.
pub(super) fn text_id(text: Option<&str>) -> u64 {
    let Some(text) = text else { return 0 };
    let h = blake3::hash(text.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(id) | 1
}

#[derive(Default)]
struct State {
    header: Option<JournalHeader>,
    run: Option<RunRecord>,
    /// What earlier runs landed (this run's own are not kept: it never looks them up).
    done: LandedSet,
    uploads: HashMap<String, UploadState>,
}

impl State {
    fn apply(&mut self, record: Record, loading: bool) {
        match record {
            Record::Header { transfer } => self.header = Some(transfer),
            Record::Run { run } => self.run = Some(run),
            Record::Done(entry) => {
                self.uploads.remove(&entry.key);
                if loading {
                    let done = match blake3::Hash::from_hex(&entry.blake3) {
                        Ok(hash) => Done {
                            size: entry.size,
                            blake3: *hash.as_bytes(),
                            etag: text_id(entry.src_etag.as_deref()),
                            mtime: text_id(entry.src_mtime.as_deref()),
                        },
                        Err(_) => Done::gone(),
                    };
                    self.done.push(key_id(&entry.key), done);
                }
            }
            Record::Upload { upload } => {
                if loading {
                    self.done.push(key_id(&upload.key), Done::gone());
                }
                self.uploads.insert(
                    upload.key.clone(),
                    UploadState {
                        upload,
                        parts: BTreeMap::new(),
                    },
                );
            }
            Record::Part { part } => {
                if let Some(u) = self.uploads.get_mut(&part.key)
                    && u.upload.upload_id == part.upload_id
                {
                    u.parts.insert(part.number, part);
                }
            }
        }
    }
}

/// An append-only record of what has landed, keyed by the transfer's source and destination.
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    state: Mutex<State>,
}

impl Journal {
    /// Opens (or creates) the journal for the transfer named by `identity`, under `state_dir/journals/`,
    /// takes its lock, and loads what earlier runs recorded. A torn last line (a crash mid-write) is
    /// ignored. Fails with [`OpenError::Busy`] while another run holds it.
    pub fn open(
        state_dir: &Path,
        identity: &str,
        header: JournalHeader,
    ) -> Result<Journal, OpenError> {
        let dir = journals_dir(state_dir);
        private_dir(&dir)?;
        let name = blake3::hash(identity.as_bytes()).to_hex();
        let path = dir.join(format!("{}.jsonl", &name[..24]));
        let mut file = lock_journal(&path)?;
        let state = load(&path);
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
        let journal = Journal {
            path,
            file: Mutex::new(file),
            state: Mutex::new(state),
        };
        if journal.lock_state()?.header.as_ref() != Some(&header) {
            journal.append(Record::Header { transfer: header })?;
        }
        journal.append(Record::Run {
            run: RunRecord {
                pid: std::process::id(),
                started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        })?;
        Ok(journal)
    }

    fn lock_state(&self) -> std::io::Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| std::io::Error::other("journal lock poisoned"))
    }

    /// The manifest entry of `obj` when an earlier run landed this very version of it (the same size, and the
    /// same ETag where both have one, else the same modification time).
    pub fn landed(&self, obj: &SourceObject) -> Option<ManifestEntry> {
        let state = self.lock_state().ok()?;
        let d = state.done.get(key_id(&obj.rel))?;
        same_version(obj, d.size, d.etag, d.mtime).then(|| ManifestEntry {
            key: obj.rel.clone(),
            size: d.size,
            blake3: blake3::Hash::from_bytes(d.blake3).to_hex().to_string(),
            src_etag: obj.etag.clone(),
            src_mtime: obj.mtime.clone(),
        })
    }

    /// The resumable upload in progress for `key`, if any.
    pub fn upload(&self, key: &str) -> Option<UploadState> {
        self.lock_state().ok()?.uploads.get(key).cloned()
    }

    /// Uploads started and never finished, by any run of this transfer.
    pub fn unfinished_uploads(&self) -> Vec<UploadRecord> {
        self.lock_state()
            .map(|s| s.uploads.values().map(|u| u.upload.clone()).collect())
            .unwrap_or_default()
    }

    /// Records that `entry` has landed.
    pub fn record(&self, entry: &ManifestEntry) -> std::io::Result<()> {
        self.append(Record::Done(entry.clone()))
    }

    /// Records that a resumable upload has started (replacing any earlier one for the same key).
    pub fn record_upload(&self, upload: &UploadRecord) -> std::io::Result<()> {
        self.append(Record::Upload {
            upload: upload.clone(),
        })
    }

    /// Records that a part has landed.
    pub fn record_part(&self, part: &PartRecord) -> std::io::Result<()> {
        self.append(Record::Part { part: part.clone() })
    }

    /// Forgets an upload (aborted, or superseded by a new version of the source).
    pub fn forget_upload(&self, key: &str) {
        if let Ok(mut s) = self.lock_state() {
            s.uploads.remove(key);
        }
    }

    /// Each record is one `write` of one line, so a crash leaves at most a torn last line.
    fn append(&self, record: Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        {
            let mut f = self
                .file
                .lock()
                .map_err(|_| std::io::Error::other("journal lock poisoned"))?;
            f.write_all(&line)?;
        }
        self.lock_state()?.apply(record, false);
        Ok(())
    }

    /// Removes the journal: the transfer is complete and its manifest written.
    pub fn finish(&self) -> std::io::Result<()> {
        remove(&self.path)
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A journal could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another run of the same transfer holds it.
    #[error("{}", busy_message(path, run.as_ref()))]
    Busy {
        /// The journal.
        path: PathBuf,
        /// The run holding it, as it recorded itself.
        run: Option<RunRecord>,
    },
    /// Reading or writing it failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn busy_message(path: &Path, run: Option<&RunRecord>) -> String {
    let who = match run {
        Some(r) => format!("mbx process {} (started {})", r.pid, r.started),
        None => "another mbx process".to_string(),
    };
    format!(
        "{who} is running this same transfer (it holds the journal {}); two runs would write the same \
         uploads. Wait for it to finish, or stop it, then run again",
        path.display()
    )
}

/// Creates `dir` (and its missing parents) readable by the user only, and makes `dir` itself `0700`.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Tries at taking a journal's lock, 50 ms apart, before another run is said to hold it.
const BUSY_ATTEMPTS: u32 = 10;

/// Opens the journal at `path` (created `0600`) and takes its exclusive lock (see [`lock_exclusive`]).
fn lock_journal(path: &Path) -> Result<std::fs::File, OpenError> {
    lock_exclusive(path)?.ok_or_else(|| OpenError::Busy {
        path: path.to_path_buf(),
        run: load(path).run,
    })
}

/// Opens the state file at `path` (created `0600`; appending, readable) and takes its exclusive lock, or
/// `None` while another process holds it: one run at a time per journal, transfer's and restore's alike.
/// `mbx cleanup` takes a lock for a moment to see whether a run holds it, so a held lock is tried again for
/// half a second before it counts. The lock is on the open file: if a finishing run removed the path between
/// our open and our lock, the file we locked is no longer the journal, so the path is opened again.
pub(crate) fn lock_exclusive(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)?;
        let mut attempts = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if attempts < BUSY_ATTEMPTS => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let ours = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                return Ok(Some(file));
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The run holding the journal at `path`, if one does (its lock is taken); `None` when no run holds it.
pub fn held_by(path: &Path) -> Option<Option<RunRecord>> {
    match claim(path) {
        Ok(Claim::Held(run)) => Some(run),
        _ => None,
    }
}

/// A journal claimed by `mbx cleanup`, or found held by a live run.
pub enum Claim {
    /// Locked by us until dropped: no run can start on it meanwhile.
    Ours {
        /// The open journal whose lock we hold.
        _lock: std::fs::File,
    },
    /// A live run holds it.
    Held(Option<RunRecord>),
    /// It is gone.
    Gone,
}

/// Takes the lock of the journal at `path` without waiting, for as long as the returned claim lives.
pub fn claim(path: &Path) -> std::io::Result<Claim> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Claim::Gone),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(Claim::Ours { _lock: file }),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Claim::Held(load(path).run)),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A journal read back without opening it for writing (for `mbx cleanup`).
pub struct JournalContents {
    /// Where it is.
    pub path: PathBuf,
    /// The live run holding it, if any (then nothing it names may be touched).
    pub held_by: Option<Option<RunRecord>>,
    /// Its destination, if recorded.
    pub header: Option<JournalHeader>,
    /// Uploads started and not finished.
    pub unfinished: Vec<UploadRecord>,
    /// When it was last written.
    pub modified: Option<std::time::SystemTime>,
}

/// Every journal under `state_dir`.
pub fn list_journals(state_dir: &Path) -> std::io::Result<Vec<JournalContents>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(journals_dir(state_dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let state = load(&path);
        out.push(JournalContents {
            held_by: held_by(&path),
            modified: std::fs::metadata(&path).and_then(|m| m.modified()).ok(),
            header: state.header,
            unfinished: state.uploads.into_values().map(|u| u.upload).collect(),
            path,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Removes a journal file; a missing one is fine.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn journals_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("journals")
}

fn load(path: &Path) -> State {
    let mut state = State::default();
    // One pass to count the records, so the landed set is allocated once, at its size.
    if let Ok(f) = std::fs::File::open(path) {
        let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
        let mut lines = 0usize;
        while let Ok(buf) = reader.fill_buf() {
            if buf.is_empty() {
                break;
            }
            lines += buf.iter().filter(|&&b| b == b'\n').count();
            let n = buf.len();
            reader.consume(n);
        }
        state.done.entries.reserve_exact(lines + 1);
    }
    if let Ok(f) = std::fs::File::open(path) {
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            if let Ok(record) = serde_json::from_str::<Record>(&line) {
                state.apply(record, true);
            }
        }
    }
    state.done.seal();
    state
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
            blake3: blake3::hash(b"x").to_hex().to_string(),
            src_etag: Some("e".into()),
            src_mtime: None,
        };
        let h = JournalHeader {
            dst_remote: "b".into(),
            dst_location: "fs:/b".into(),
            dst_root: Some("t/".into()),
            dst_bucket: None,
        };
        let j = Journal::open(dir.path(), "x", h.clone()).unwrap();
        j.record(&e).unwrap();
        let path = j.path().to_path_buf();
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"key\":\"torn").unwrap();
        let obj = |k: &str| SourceObject {
            rel: k.into(),
            size: 1,
            etag: Some("e".into()),
            ..SourceObject::default()
        };
        let j = Journal::open(dir.path(), "x", h.clone()).unwrap();
        assert_eq!(j.landed(&obj("k")), Some(e.clone()));
        let changed = SourceObject {
            etag: Some("other".into()),
            ..obj("k")
        };
        assert_eq!(j.landed(&changed), None, "another version of the source");
        let e2 = ManifestEntry {
            key: "k2".into(),
            ..e.clone()
        };
        j.record(&e2).unwrap();
        drop(j);
        let j = Journal::open(dir.path(), "x", h.clone()).unwrap();
        assert_eq!(j.landed(&obj("k2")), Some(e2));
        assert!(
            Journal::open(dir.path(), "y", h)
                .unwrap()
                .landed(&obj("k"))
                .is_none()
        );
        j.finish().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn keeps_the_parts_of_the_current_upload_only() {
        let dir = tempfile::tempdir().unwrap();
        let h = JournalHeader {
            dst_remote: "b".into(),
            dst_location: "s3:x".into(),
            dst_root: Some("t/".into()),
            dst_bucket: None,
        };
        let j = Journal::open(dir.path(), "x", h.clone()).unwrap();
        let up = |id: &str| UploadRecord {
            key: "big".into(),
            dst_key: "t/big".into(),
            upload_id: id.into(),
            part_size: 1024,
            size: 4096,
            src_etag: None,
            src_mtime: None,
        };
        let part = |id: &str, n: u32| PartRecord {
            key: "big".into(),
            upload_id: id.into(),
            number: n,
            etag: format!("e{n}"),
            size: 1024,
            cv: "00".into(),
            checksum: None,
        };
        j.record_upload(&up("u1")).unwrap();
        j.record_part(&part("u1", 1)).unwrap();
        j.record_upload(&up("u2")).unwrap();
        j.record_part(&part("u2", 2)).unwrap();
        j.record_part(&part("u1", 3)).unwrap();
        drop(j);
        let j = Journal::open(dir.path(), "x", h.clone()).unwrap();
        let state = j.upload("big").unwrap();
        assert_eq!(state.upload.upload_id, "u2");
        assert_eq!(state.parts.keys().copied().collect::<Vec<_>>(), vec![2]);
        let listed = list_journals(dir.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].header.as_ref(), Some(&h));
        assert_eq!(listed[0].unfinished.len(), 1);
        let done = ManifestEntry {
            key: "big".into(),
            size: 4096,
            blake3: "ab".into(),
            src_etag: None,
            src_mtime: None,
        };
        j.record(&done).unwrap();
        assert!(j.upload("big").is_none());
        assert!(j.unfinished_uploads().is_empty());
    }

    #[test]
    fn one_run_at_a_time_holds_a_journal_readable_by_the_user_only() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let h = JournalHeader {
            dst_remote: "b".into(),
            dst_location: "fs:/b".into(),
            dst_root: Some(String::new()),
            dst_bucket: None,
        };
        let first = Journal::open(&state, "x", h.clone()).unwrap();
        let path = first.path().to_path_buf();
        let second = Journal::open(&state, "x", h.clone());
        let Err(OpenError::Busy { run, .. }) = second else {
            panic!("a second run opened a journal that the first holds");
        };
        assert_eq!(run.map(|r| r.pid), Some(std::process::id()));
        let message = OpenError::Busy {
            path: path.clone(),
            run: load(&path).run,
        }
        .to_string();
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
        assert!(held_by(&path).is_some());
        assert!(matches!(claim(&path).unwrap(), Claim::Held(_)));
        // Another transfer's journal is free.
        assert!(Journal::open(&state, "y", h.clone()).is_ok());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&journals_dir(&state)), 0o700);
        assert_eq!(mode(&state), 0o700);
        drop(first);
        assert!(held_by(&path).is_none());
        let again = Journal::open(&state, "x", h).unwrap();
        assert!(matches!(claim(&path).unwrap(), Claim::Held(_)));
        drop(again);
    }
}
