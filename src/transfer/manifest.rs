//! The manifest: what a finished transfer (or backup) holds, with the BLAKE3 of every object. It lives with
//! the tree it describes, at `<tree>/.mbx/manifest.json`, so it travels with the data.
//!
//! It is one JSON document (format 1), laid out one object per line, sorted by key:
//!
//! ```text
//! {"format":1,"tool":"mbx 0.1.0","created":"2026-12-01T00:00:00Z","source":"a:backup/x","objects":[
//! {"key":"meta/a.json","size":3,"blake3":"…"},
//! {"key":"meta/b.json","size":5,"blake3":"…"}
//! ]}
//! ```
//!
//! so that a tree of a million objects is written and read one line at a time ([`ManifestWriter`],
//! [`ManifestReader`]) in constant memory, while any JSON reader (and an older mbx) still reads it whole.
//! Manifests written before this layout (pretty-printed) are read whole.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use futures::io::AsyncBufReadExt;
use futures::{Stream, StreamExt};
use opendal::ErrorKind;
use serde::{Deserialize, Serialize};

use super::TransferError;
use crate::remote::{Remote, join_key};

/// Where the manifest sits, relative to the tree root.
pub const MANIFEST_KEY: &str = ".mbx/manifest.json";

/// Keys under this folder of a tree belong to mbx and are not part of the data.
pub const MBX_DIR: &str = ".mbx/";

/// The user-metadata key holding an object's BLAKE3 (hex). Underscores, not dashes: Azure metadata names
/// must be identifiers.
pub const META_BLAKE3: &str = "blake3";
/// The user-metadata key holding the source object's ETag when it was copied.
pub const META_SRC_ETAG: &str = "mbx_src_etag";
/// The user-metadata key holding the source object's last-modified time when it was copied.
pub const META_SRC_MTIME: &str = "mbx_src_mtime";

/// The only format this mbx writes and reads.
const FORMAT: u32 = 1;

/// One object of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The key relative to the tree root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the whole content, hex.
    pub blake3: String,
    /// The source object's ETag when it was copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_etag: Option<String>,
    /// The source object's last-modified time (RFC 3339) when it was copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mtime: Option<String>,
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// Not a manifest: truncated or overwritten.
    #[error("{0}")]
    Damaged(String),
    /// Written by a newer mbx.
    #[error("{0}")]
    Newer(String),
}

/// What a manifest says about itself, before its objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestHeader {
    /// Format version of this file.
    pub format: u32,
    /// The program that wrote it.
    pub tool: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// Where the data came from (`remote:path`), for people.
    pub source: String,
}

impl ManifestHeader {
    /// The header of a manifest written now, by this mbx, of a tree copied from `source`.
    pub fn new(source: String) -> ManifestHeader {
        ManifestHeader {
            format: FORMAT,
            tool: format!("mbx {}", env!("CARGO_PKG_VERSION")),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            source,
        }
    }

    /// The first line of the file: the header fields and the opening of the object list.
    fn first_line(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.pop(); // the closing brace
        line.extend_from_slice(b",\"objects\":[\n");
        line
    }
}

/// A tree's manifest, whole in memory (for trees whose size is known to be small, and for tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this file.
    pub format: u32,
    /// The program that wrote it.
    pub tool: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// Where the data came from (`remote:path`), for people.
    pub source: String,
    /// Every object, sorted by key.
    pub objects: Vec<ManifestEntry>,
}

impl Manifest {
    /// A manifest of `objects` (sorted here) copied from `source`.
    pub fn new(source: String, mut objects: Vec<ManifestEntry>) -> Manifest {
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        let h = ManifestHeader::new(source);
        Manifest {
            format: h.format,
            tool: h.tool,
            created: h.created,
            source: h.source,
            objects,
        }
    }

    /// Parses a manifest, in either layout.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError::Damaged(format!("not an mbx manifest: {e}")))?;
        check_format(m.format)?;
        Ok(m)
    }

    /// The manifest in its one-object-per-line layout.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = self.header().first_line();
        for (i, e) in self.objects.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(&entry_line(e));
        }
        out.extend_from_slice(b"\n]}\n");
        out
    }

    fn header(&self) -> ManifestHeader {
        ManifestHeader {
            format: self.format,
            tool: self.tool.clone(),
            created: self.created.clone(),
            source: self.source.clone(),
        }
    }

    /// True when both describe the same objects from the same source (when and by which mbx aside).
    pub fn same_content(&self, other: &Manifest) -> bool {
        self.format == other.format && self.source == other.source && self.objects == other.objects
    }

    /// The entries by key.
    pub fn by_key(&self) -> BTreeMap<&str, &ManifestEntry> {
        self.objects.iter().map(|e| (e.key.as_str(), e)).collect()
    }
}

fn check_format(format: u32) -> Result<(), ManifestError> {
    if format == FORMAT {
        return Ok(());
    }
    Err(ManifestError::Newer(format!(
        "manifest format {format} is newer than this mbx understands ({FORMAT}); upgrade mbx"
    )))
}

fn entry_line(e: &ManifestEntry) -> Vec<u8> {
    serde_json::to_vec(e).unwrap_or_default()
}

type Lines = Pin<Box<dyn Stream<Item = std::io::Result<String>> + Send>>;

enum Entries {
    /// The one-object-per-line layout, read as it comes.
    Lines(Lines),
    /// An older, pretty-printed manifest, parsed whole.
    Loaded(std::vec::IntoIter<ManifestEntry>),
    /// Past the last object.
    End,
}

/// A manifest read one object at a time, in key order, from its tree: memory stays constant whatever its
/// size. Objects out of order, a torn line or a missing end make it [`ManifestError::Damaged`].
pub(crate) struct ManifestReader {
    header: ManifestHeader,
    entries: Entries,
    last: Option<String>,
}

impl ManifestReader {
    /// Opens the manifest of the tree at `root` on `remote`; `None` when there is none.
    pub async fn open(
        remote: &Remote,
        root: &str,
    ) -> Result<Option<ManifestReader>, TransferError> {
        ManifestReader::open_key(remote, &join_key(root, MANIFEST_KEY)).await
    }

    /// Opens the manifest at `key` on `remote` (a tree's, or a shard's); `None` when there is none.
    pub async fn open_key(
        remote: &Remote,
        key: &str,
    ) -> Result<Option<ManifestReader>, TransferError> {
        let failed = |e: opendal::Error| TransferError::Remote {
            remote: remote.name().to_string(),
            message: format!("reading '{key}': {e}"),
        };
        let reader = match remote.op().reader_with(key).chunk(1 << 20).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        let bytes = match reader.into_futures_async_read(..).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        let lines: Lines =
            Box::pin(futures::io::BufReader::with_capacity(256 << 10, bytes).lines());
        ManifestReader::from_lines(lines)
            .await
            .map(Some)
            .map_err(|e| manifest_error(remote, key, e))
    }

    /// Reads a manifest from a local file.
    #[cfg(test)]
    async fn from_file(path: &Path) -> Result<ManifestReader, ManifestError> {
        let file = std::fs::File::open(path)
            .map_err(|e| ManifestError::Damaged(format!("opening {}: {e}", path.display())))?;
        // A local file in the page cache: reading it in place costs less than a trip to the blocking pool.
        let file = futures::io::AllowStdIo::new(std::io::BufReader::with_capacity(256 << 10, file));
        let lines: Lines = Box::pin(file.lines());
        ManifestReader::from_lines(lines).await
    }

    async fn from_lines(mut lines: Lines) -> Result<ManifestReader, ManifestError> {
        let damaged = |why: String| ManifestError::Damaged(format!("not an mbx manifest: {why}"));
        let first = match lines.next().await {
            Some(line) => line.map_err(|e| damaged(e.to_string()))?,
            None => return Err(damaged("it is empty".into())),
        };
        if first.trim_end().ends_with("\"objects\":[") {
            let header: ManifestHeader = serde_json::from_str(&format!("{}]}}", first.trim_end()))
                .map_err(|e| damaged(e.to_string()))?;
            check_format(header.format)?;
            return Ok(ManifestReader {
                header,
                entries: Entries::Lines(lines),
                last: None,
            });
        }
        // An older, pretty-printed manifest: read it whole.
        let mut all = first;
        while let Some(line) = lines.next().await {
            all.push('\n');
            all.push_str(&line.map_err(|e| damaged(e.to_string()))?);
        }
        let m = Manifest::from_json(all.as_bytes())?;
        let header = m.header();
        Ok(ManifestReader {
            header,
            entries: Entries::Loaded(m.objects.into_iter()),
            last: None,
        })
    }

    /// The manifest's own fields.
    pub fn header(&self) -> &ManifestHeader {
        &self.header
    }

    /// The next object, in key order; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<ManifestEntry>, ManifestError> {
        let damaged = |why: String| ManifestError::Damaged(format!("not an mbx manifest: {why}"));
        let entry = match &mut self.entries {
            Entries::End => return Ok(None),
            Entries::Loaded(it) => it.next(),
            Entries::Lines(lines) => loop {
                let Some(line) = lines.next().await else {
                    return Err(damaged("it ends before its closing ']}'".into()));
                };
                let line = line.map_err(|e| damaged(e.to_string()))?;
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if line == "]}" {
                    break None;
                }
                let entry: ManifestEntry = serde_json::from_str(line.trim_end_matches(','))
                    .map_err(|e| damaged(format!("{e} in '{}'", crate::config::shown(line))))?;
                break Some(entry);
            },
        };
        let Some(entry) = entry else {
            self.entries = Entries::End;
            return Ok(None);
        };
        if self
            .last
            .as_deref()
            .is_some_and(|last| last >= entry.key.as_str())
        {
            return Err(damaged(format!(
                "its objects are not in key order ('{}' after '{}')",
                crate::config::shown(&entry.key),
                crate::config::shown(self.last.as_deref().unwrap_or_default())
            )));
        }
        self.last = Some(entry.key.clone());
        Ok(Some(entry))
    }

    /// Reads the rest into memory.
    pub async fn into_manifest(mut self) -> Result<Manifest, ManifestError> {
        let mut objects = Vec::new();
        while let Some(e) = self.next().await? {
            objects.push(e);
        }
        let h = self.header;
        Ok(Manifest {
            format: h.format,
            tool: h.tool,
            created: h.created,
            source: h.source,
            objects,
        })
    }
}

/// The error a damaged or newer manifest at `key` on `remote` is reported as.
pub(crate) fn manifest_error(remote: &Remote, key: &str, e: ManifestError) -> TransferError {
    match e {
        ManifestError::Damaged(why) => TransferError::DamagedManifest {
            at: format!("{}:{key}", remote.name()),
            why,
        },
        ManifestError::Newer(message) => TransferError::Remote {
            remote: remote.name().to_string(),
            message: format!("'{key}': {message}"),
        },
    }
}

/// Spill files made by this process so far: each gets its own name.
static SPILLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A manifest written one object at a time, in key order, to a local spill file (mode `0600`, removed when
/// dropped), and uploaded to its tree once every object is there: a tree never has a manifest that vouches for
/// objects that did not land.
pub(crate) struct ManifestWriter {
    /// Where the tree comes from; the rest of the header is made when the manifest is finished.
    source: String,
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    count: u64,
    last: Option<String>,
}

impl ManifestWriter {
    /// Starts a manifest of a tree copied from `source`, spilled under `state_dir`. The spill file holds the
    /// object lines only: the header, with the time the manifest vouches from, is made when it is finished.
    pub fn create(state_dir: &Path, source: String) -> std::io::Result<ManifestWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = state_dir.join("spill");
        super::journal::private_dir(&dir)?;
        let path = dir.join(format!(
            "manifest-{}-{}.json",
            std::process::id(),
            SPILLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        Ok(ManifestWriter {
            source,
            path,
            file: std::io::BufWriter::with_capacity(256 << 10, file),
            count: 0,
            last: None,
        })
    }

    /// Appends the next object; keys must come in increasing order.
    pub fn push(&mut self, entry: &ManifestEntry) -> std::io::Result<()> {
        if self
            .last
            .as_deref()
            .is_some_and(|l| l >= entry.key.as_str())
        {
            return Err(std::io::Error::other(format!(
                "manifest objects out of order: '{}' after '{}'",
                crate::config::shown(&entry.key),
                crate::config::shown(self.last.as_deref().unwrap_or_default())
            )));
        }
        if self.count > 0 {
            self.file.write_all(b",\n")?;
        }
        self.file.write_all(&entry_line(entry))?;
        self.count += 1;
        self.last = Some(entry.key.clone());
        Ok(())
    }

    /// Where the tree comes from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Ends the list and returns the finished spill file, dated now: every object it lists is there, and a
    /// destination object modified after this time is not what the manifest vouches for.
    pub fn finish(mut self) -> std::io::Result<SpilledManifest> {
        self.file.write_all(b"\n]}\n")?;
        self.file.flush()?;
        let path = std::mem::take(&mut self.path);
        let header = ManifestHeader::new(std::mem::take(&mut self.source));
        Ok(SpilledManifest { path, header })
    }
}

impl Drop for ManifestWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A complete manifest: its header, and its object lines in a local spill file, removed when dropped.
pub(crate) struct SpilledManifest {
    path: PathBuf,
    header: ManifestHeader,
}

impl SpilledManifest {
    /// Reads it back, one object at a time.
    pub async fn reader(&self) -> Result<ManifestReader, ManifestError> {
        let file = std::fs::File::open(&self.path)
            .map_err(|e| ManifestError::Damaged(format!("opening {}: {e}", self.path.display())))?;
        // A local file in the page cache: reading it in place costs less than a trip to the blocking pool.
        let file = futures::io::AllowStdIo::new(std::io::BufReader::with_capacity(256 << 10, file));
        Ok(ManifestReader {
            header: self.header.clone(),
            entries: Entries::Lines(Box::pin(file.lines())),
            last: None,
        })
    }

    /// Writes it as `<root>/.mbx/manifest.json` on `dst`, streamed, and returns where (`remote:key`).
    #[cfg(test)]
    pub async fn upload(&self, dst: &Remote, root: &str) -> Result<String, TransferError> {
        self.upload_to(dst, &join_key(root, MANIFEST_KEY)).await
    }

    /// Writes it as `key` on `dst`, streamed, and returns where (`remote:key`).
    pub async fn upload_to(&self, dst: &Remote, key: &str) -> Result<String, TransferError> {
        use tokio::io::AsyncReadExt;
        let failed = |what: &str, e: String| TransferError::Remote {
            remote: dst.name().to_string(),
            message: format!("{what} manifest '{key}': {e}"),
        };
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| failed("reading the spilled", e.to_string()))?;
        let mut writer = dst
            .op()
            .writer_with(key)
            .chunk(8 << 20)
            .await
            .map_err(|e| failed("writing", e.to_string()))?;
        if let Err(e) = writer.write(self.header.first_line()).await {
            let _ = writer.abort().await;
            return Err(failed("writing", e.to_string()));
        }
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| failed("reading the spilled", e.to_string()))?;
            if n == 0 {
                break;
            }
            if let Err(e) = writer.write(buf[..n].to_vec()).await {
                let _ = writer.abort().await;
                return Err(failed("writing", e.to_string()));
            }
        }
        writer
            .close()
            .await
            .map_err(|e| failed("writing", e.to_string()))?;
        Ok(format!("{}:{key}", dst.name()))
    }
}

impl Drop for SpilledManifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str) -> ManifestEntry {
        ManifestEntry {
            key: k.into(),
            size: 3,
            blake3: blake3::hash(b"abc").to_hex().to_string(),
            src_etag: None,
            src_mtime: Some("2026-01-01T00:00:00Z".into()),
        }
    }

    #[test]
    fn round_trips_and_sorts() {
        let m = Manifest::new("a:x".into(), vec![entry("b"), entry("a")]);
        assert_eq!(m.objects[0].key, "a");
        let back = Manifest::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert!(!String::from_utf8(m.to_json()).unwrap().contains("src_etag"));
        assert!(Manifest::from_json(b"{}").is_err());
        let mut later = back.clone();
        later.created = "2030-01-01T00:00:00Z".into();
        assert!(later.same_content(&m));
        later.source = "b:y".into();
        assert!(!later.same_content(&m));
    }

    #[tokio::test]
    async fn a_spilled_manifest_is_one_json_document_read_back_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ManifestWriter::create(dir.path(), "a:x".into()).unwrap();
        for k in ["a", "b/c", "b/d"] {
            w.push(&entry(k)).unwrap();
        }
        assert!(w.push(&entry("b")).is_err(), "out of order is refused");
        let spilled = w.finish().unwrap();
        let remote = crate::remote::local_for_tests("t", dir.path());
        spilled.upload(&remote, "tree/").await.unwrap();
        let bytes = std::fs::read(dir.path().join("tree").join(MANIFEST_KEY)).unwrap();
        // Any JSON reader (and an older mbx) reads it whole.
        let whole = Manifest::from_json(&bytes).unwrap();
        assert_eq!(whole.objects.len(), 3);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 5);
        let mut r = spilled.reader().await.unwrap();
        assert_eq!(r.header().source, "a:x");
        let mut keys = Vec::new();
        while let Some(e) = r.next().await.unwrap() {
            keys.push(e.key);
        }
        assert_eq!(keys, ["a", "b/c", "b/d"]);
        let path = spilled.path.clone();
        drop(spilled);
        assert!(!path.exists(), "the spill file is removed");
    }

    async fn read_all(bytes: &[u8]) -> Result<Vec<String>, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(&p, bytes).unwrap();
        let mut r = ManifestReader::from_file(&p).await?;
        let mut keys = Vec::new();
        while let Some(e) = r.next().await? {
            keys.push(e.key);
        }
        Ok(keys)
    }

    #[tokio::test]
    async fn older_pretty_manifests_are_read_and_damage_is_found() {
        let m = Manifest::new("a:x".into(), vec![entry("a"), entry("b")]);
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(read_all(&pretty).await.unwrap(), ["a", "b"]);
        let lines = m.to_json();
        assert_eq!(read_all(&lines).await.unwrap(), ["a", "b"]);
        // Torn before its end, a torn line, out of order: each is damage, never a shorter manifest.
        let torn = &lines[..lines.len() - 4];
        assert!(matches!(
            read_all(torn).await,
            Err(ManifestError::Damaged(_))
        ));
        let half = &lines[..lines.len() - 30];
        assert!(matches!(
            read_all(half).await,
            Err(ManifestError::Damaged(_))
        ));
        let swapped = Manifest {
            objects: vec![entry("b"), entry("a")],
            ..m.clone()
        };
        assert!(matches!(
            read_all(&swapped.to_json()).await,
            Err(ManifestError::Damaged(_))
        ));
        let newer = String::from_utf8(lines.clone())
            .unwrap()
            .replace("\"format\":1", "\"format\":9");
        assert!(matches!(
            read_all(newer.as_bytes()).await,
            Err(ManifestError::Newer(_))
        ));
    }
}
