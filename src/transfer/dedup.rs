//! Sending only what the destination does not already hold. Milvus binlogs never change once written, so two
//! backups of a collection a day apart share most of their objects. Before a tree is copied, the manifests of
//! the trees beside it at the destination (`b:backup/*/.mbx/manifest.json` for `b:backup/day2/`) are read into an
//! index by BLAKE3; a source object whose hash the source's own manifest gives, and that the index holds, is
//! copied on the destination's side from that object (a server-side copy; on a local disk, a local copy that is
//! hashed on the way) instead of crossing the link.
//!
//! A destination object is used only while it is still what its manifest says: the same size, and not modified
//! after the manifest was written. A local copy is hashed as it is made and must give the expected BLAKE3; a
//! server-side copy is re-read by `--verify`, like every object.

use std::collections::HashMap;

use futures::TryStreamExt;

use super::journal::{key_id, same_version, text_id};
use super::listing::SourceObject;
use super::manifest::ManifestReader;
use crate::remote::{Remote, join_key};

/// Sibling trees read into the index, newest first: a daily backup shares most with the days just before it.
const TREES: usize = 4;

/// Folders beside the destination whose manifest is looked for at most (one read each): a destination at the
/// top of a bucket full of other trees costs a bounded number of requests.
const FOLDERS: usize = 64;

/// Objects indexed at most (about 150 bytes each): beyond, the older trees are left out.
const MAX_OBJECTS: usize = 1 << 20;

/// An object at the destination that holds given content.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Its key on the destination remote.
    pub key: String,
    /// Its size.
    pub size: u64,
    /// Its BLAKE3 (hex), as its manifest says.
    pub blake3: String,
    /// Its tree's manifest was written then (seconds since the epoch): an object modified later is not used.
    pub vouched_until: i64,
}

/// What the trees beside a destination tree hold: by BLAKE3, and by key and source version.
#[derive(Default)]
pub(crate) struct DedupIndex {
    by_hash: HashMap<[u8; 32], (u32, Box<str>, u64)>,
    /// (key id, tree, what its manifest says), sorted by key id, newest tree first for one key: for sources
    /// without a manifest, an object of the same key copied from the same source version.
    by_version: Vec<(u128, u32, Version)>,
    /// Per tree: its root and when its manifest was written.
    trees: Vec<(String, i64)>,
}

/// What a manifest says an object is and was copied from (hashes of the source's ETag and time, 0 for none).
#[derive(Clone, Copy)]
struct Version {
    size: u64,
    blake3: [u8; 32],
    etag: u64,
    mtime: u64,
}

impl DedupIndex {
    /// Reads the manifests of the trees beside `dst_root` (its parent's other folders) on `dst`. A tree whose
    /// manifest is missing, damaged or unreadable is left out, with a note in the log.
    pub async fn beside(dst: &Remote, dst_root: &str) -> DedupIndex {
        let mut index = DedupIndex::default();
        let own = dst_root.trim_end_matches('/');
        let parent = match own.rfind('/') {
            Some(i) => &own[..=i],
            None => "",
        };
        let Ok(lister) = dst.op().lister(parent).await else {
            return index;
        };
        let Ok(entries) = lister.try_collect::<Vec<_>>().await else {
            return index;
        };
        let mut trees = Vec::new();
        // Names that sort last first: backups named by date or sequence are the newest.
        let mut entries = entries;
        entries.sort_by(|a, b| b.path().cmp(a.path()));
        let mut probed = 0;
        for entry in entries {
            if probed >= FOLDERS {
                break;
            }
            let path = entry.path();
            if !path.ends_with('/') || path == parent || path.trim_end_matches('/') == own {
                continue;
            }
            if path[parent.len()..].starts_with('.') {
                continue;
            }
            probed += 1;
            match ManifestReader::open(dst, path).await {
                Ok(Some(reader)) => {
                    let created = chrono::DateTime::parse_from_rfc3339(&reader.header().created)
                        .map(|t| t.timestamp())
                        .unwrap_or(i64::MIN);
                    trees.push((created, path.to_string(), reader));
                }
                Ok(None) => {}
                Err(e) => tracing::info!("not deduplicating against {path}: {e}"),
            }
        }
        trees.sort_by_key(|t| std::cmp::Reverse(t.0));
        for (created, root, mut reader) in trees.into_iter().take(TREES) {
            let tree = index.trees.len() as u32;
            index.trees.push((root.clone(), created));
            loop {
                let entry = match reader.next().await {
                    Ok(Some(e)) => e,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::info!("not deduplicating against the rest of {root}: {e}");
                        break;
                    }
                };
                if index.by_hash.len() >= MAX_OBJECTS {
                    index.seal();
                    return index;
                }
                let Ok(hash) = blake3::Hash::from_hex(&entry.blake3) else {
                    continue;
                };
                if entry.size == 0 || entry.key.ends_with('/') {
                    continue;
                }
                let version = Version {
                    size: entry.size,
                    blake3: *hash.as_bytes(),
                    etag: text_id(entry.src_etag.as_deref()),
                    mtime: text_id(entry.src_mtime.as_deref()),
                };
                index.by_version.push((key_id(&entry.key), tree, version));
                index.by_hash.entry(*hash.as_bytes()).or_insert((
                    tree,
                    entry.key.into_boxed_str(),
                    entry.size,
                ));
            }
        }
        index.seal();
        index
    }

    /// Sorts the by-version list by key, keeping for each key the newest tree's entry (trees are read newest
    /// first, and the sort is stable).
    fn seal(&mut self) {
        self.by_version.sort_by_key(|v| v.0);
        self.by_version.dedup_by_key(|v| v.0);
        self.by_version.shrink_to_fit();
    }

    /// For a source without a manifest: the object of the same key in a tree beside, copied from this very
    /// version of the source (the same size, and the same ETag where both have one, else the same time).
    pub fn find_same_version(&self, obj: &SourceObject) -> Option<Found> {
        let id = key_id(&obj.rel);
        let i = self.by_version.binary_search_by_key(&id, |v| v.0).ok()?;
        let (_, tree, v) = self.by_version[i];
        if !same_version(obj, v.size, v.etag, v.mtime) || obj.size == 0 {
            return None;
        }
        let (root, created) = self.trees.get(tree as usize)?;
        Some(Found {
            key: join_key(root, &obj.rel),
            size: obj.size,
            blake3: blake3::Hash::from_bytes(v.blake3).to_hex().to_string(),
            vouched_until: *created,
        })
    }

    /// An object at the destination whose manifest says it holds `blake3` (hex) and is `size` bytes.
    pub fn find(&self, blake3: &str, size: u64) -> Option<Found> {
        let hash = blake3::Hash::from_hex(blake3).ok()?;
        let (tree, rel, found_size) = self.by_hash.get(hash.as_bytes())?;
        if *found_size != size {
            return None;
        }
        let (root, created) = self.trees.get(*tree as usize)?;
        Some(Found {
            key: join_key(root, rel),
            size,
            blake3: blake3.to_string(),
            vouched_until: *created,
        })
    }
}

/// Whether the destination object `found` is still what its manifest said: there, the same size, and not
/// modified after the manifest was written (to the second, as manifests record it). Its metadata if so.
pub(crate) async fn still_vouched(dst: &Remote, found: &Found) -> Option<opendal::Metadata> {
    let meta = dst.op().stat(&found.key).await.ok()?;
    if !meta.is_file() || meta.content_length() != found.size {
        return None;
    }
    let modified = meta.last_modified()?;
    let modified: std::time::SystemTime = modified.into();
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(i64::MAX);
    // The manifest's time is truncated to the second: an object written in that same second is still before it.
    (secs <= found.vouched_until).then_some(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{Manifest, ManifestEntry, write_manifest};

    fn entry(key: &str, data: &[u8]) -> ManifestEntry {
        ManifestEntry {
            key: key.into(),
            size: data.len() as u64,
            blake3: blake3::hash(data).to_hex().to_string(),
            src_etag: None,
            src_mtime: None,
        }
    }

    #[tokio::test]
    async fn a_source_without_a_manifest_matches_by_key_and_source_version() {
        let dir = tempfile::tempdir().unwrap();
        let dst = crate::remote::local_for_tests("d", dir.path());
        std::fs::create_dir_all(dir.path().join("backup/day1/seg")).unwrap();
        std::fs::write(dir.path().join("backup/day1/seg/1"), b"binlog").unwrap();
        let e = ManifestEntry {
            src_etag: Some("etag-1".into()),
            ..entry("seg/1", b"binlog")
        };
        write_manifest(
            &dst,
            "backup/day1/",
            &Manifest::new("milvus".into(), vec![e]),
        )
        .await
        .unwrap();
        let index = DedupIndex::beside(&dst, "backup/day2/").await;
        let obj = |etag: &str, size: u64| SourceObject {
            rel: "seg/1".into(),
            key: "files/seg/1".into(),
            size,
            etag: Some(etag.into()),
            ..SourceObject::default()
        };
        let found = index.find_same_version(&obj("etag-1", 6)).unwrap();
        assert_eq!(found.key, "backup/day1/seg/1");
        assert_eq!(found.blake3, blake3::hash(b"binlog").to_hex().as_str());
        assert!(
            index.find_same_version(&obj("etag-2", 6)).is_none(),
            "another version"
        );
        assert!(
            index.find_same_version(&obj("etag-1", 7)).is_none(),
            "another size"
        );
        let other_key = SourceObject {
            rel: "seg/2".into(),
            ..obj("etag-1", 6)
        };
        assert!(index.find_same_version(&other_key).is_none());
    }

    #[tokio::test]
    async fn indexes_the_trees_beside_and_trusts_only_unchanged_objects() {
        let dir = tempfile::tempdir().unwrap();
        let dst = crate::remote::local_for_tests("d", dir.path());
        for (tree, key, data) in [
            ("backup/day1/", "a", &b"shared"[..]),
            ("backup/day1/", "b", b"old"),
        ] {
            let p = dir.path().join(tree).join(key);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
        }
        let m = Manifest::new("x".into(), vec![entry("a", b"shared"), entry("b", b"old")]);
        write_manifest(&dst, "backup/day1/", &m).await.unwrap();
        // The tree being written is not its own source.
        std::fs::create_dir_all(dir.path().join("backup/day2")).unwrap();
        let own = Manifest::new("x".into(), vec![entry("z", b"mine")]);
        write_manifest(&dst, "backup/day2/", &own).await.unwrap();
        let index = DedupIndex::beside(&dst, "backup/day2/").await;
        assert_eq!(index.by_hash.len(), 2);
        let hash = |d: &[u8]| blake3::hash(d).to_hex().to_string();
        assert!(index.find(&hash(b"mine"), 4).is_none());
        assert!(index.find(&hash(b"shared"), 5).is_none(), "another size");
        let found = index.find(&hash(b"shared"), 6).unwrap();
        assert_eq!(found.key, "backup/day1/a");
        assert!(still_vouched(&dst, &found).await.is_some());
        // Changed after its manifest was written: never used.
        let later = Found {
            vouched_until: found.vouched_until - 3600,
            ..found.clone()
        };
        assert!(still_vouched(&dst, &later).await.is_none());
        // Without a source manifest: the same key, copied from the same source version.
        let obj = |etag: &str| SourceObject {
            rel: "b".into(),
            key: "src/b".into(),
            size: 3,
            etag: Some(etag.into()),
            ..SourceObject::default()
        };
        assert!(
            index.find_same_version(&obj("e1")).is_none(),
            "day1 recorded no source version"
        );
        std::fs::write(dir.path().join("backup/day1/a"), b"short").unwrap();
        assert!(still_vouched(&dst, &found).await.is_none());
    }
}
