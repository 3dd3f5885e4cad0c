//! Transfers past one machine. `mbx transfer SRC DST --shard K/N` copies the objects whose key hashes to K
//! (of N, counted from 0, as a Kubernetes Indexed Job numbers its pods), with a journal of its own, and leaves
//! the manifest of its share at `<tree>/.mbx/shards/N/K.json`. `mbx transfer SRC DST --shards N --finish`
//! checks that every shard completed and that every source object is in one of their manifests, and merges them
//! (sorted streams, merged as they are read) into the tree's manifest.
//!
//! The share is a hash of the key, so it is stable across re-runs and balanced in count and, over many objects,
//! in bytes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use futures::StreamExt;

use super::listing::{Listing, list_stream};
use super::manifest::{MANIFEST_KEY, ManifestEntry, ManifestReader, ManifestWriter};
use super::plan::Endpoints;
use super::{Events, Summary, TransferError, TransferOptions};
use crate::remote::{Remote, join_key};

/// Shards of one transfer at most.
pub const MAX_SHARDS: u32 = 10_000;

/// One share of a transfer: shard `index` of `count`, counted from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, 0 to `count - 1`.
    pub index: u32,
    /// Into how many shares the objects are split.
    pub count: u32,
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || {
            format!(
                "--shard takes K/N, shard K (from 0) of N (at most {MAX_SHARDS}), e.g. 0/4, not '{text}'"
            )
        };
        let (k, n) = text.split_once('/').ok_or_else(usage)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| usage())?,
            n.trim().parse().map_err(|_| usage())?,
        );
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }

    /// Whether the object `rel` (its key below the tree) is this shard's.
    pub fn holds(&self, rel: &str) -> bool {
        shard_of(rel, self.count) == self.index
    }

    /// Where this shard's manifest lands in the tree at `dst_root`.
    pub fn manifest_key(&self, dst_root: &str) -> String {
        shard_manifest_key(dst_root, self.index, self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn shard_of(rel: &str, count: u32) -> u32 {
    let h = blake3::hash(rel.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    (u64::from_le_bytes(first) % u64::from(count)) as u32
}

fn shard_manifest_key(dst_root: &str, index: u32, count: u32) -> String {
    join_key(dst_root, &format!(".mbx/shards/{count}/{index}.json"))
}

/// The objects of `listing` that are `shard`'s.
pub(crate) fn only(shard: Shard, listing: Listing) -> Listing {
    let Listing { objects, skipped } = listing;
    let objects = objects
        .filter(move |o| futures::future::ready(o.as_ref().map_or(true, |o| shard.holds(&o.rel))));
    Listing {
        objects: Box::pin(objects),
        skipped,
    }
}

/// Source objects that no shard's manifest lists, named at most this many in the error.
const MISSING_NAMED: usize = 10;

/// Merges the manifests of the `count` shards of the transfer `ends` into the tree's manifest, once each is
/// there and every object of the source is in one of them.
pub(crate) async fn finish(
    (src, dst): (&Remote, &Remote),
    ends: &Endpoints,
    count: u32,
    options: &TransferOptions,
    progress: &Events,
) -> Result<Summary, TransferError> {
    let Endpoints::Tree { src_root, dst_root } = ends else {
        return Err(TransferError::BadKey(
            "--shards: the source is one object; shards split a tree".into(),
        ));
    };
    let mut readers = Vec::new();
    let mut missing_shards = Vec::new();
    for index in 0..count {
        match ManifestReader::open_key(dst, &shard_manifest_key(dst_root, index, count)).await? {
            Some(r) => readers.push(r),
            None => missing_shards.push(index.to_string()),
        }
    }
    if !missing_shards.is_empty() {
        return Err(TransferError::ShardsPending(format!(
            "shards {} of {count} have not completed (no manifest at {}:{}): run `--shard K/{count}` for each, \
             then --finish again",
            missing_shards.join(", "),
            dst.name(),
            join_key(dst_root, &format!(".mbx/shards/{count}/")),
        )));
    }
    // A k-way merge: the smallest next key of all shards, one entry per shard in memory.
    let mut heads = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(e) = next_of(dst, r).await? {
            heads.push(Reverse((e.key.clone(), i, Wrapped(e))));
        }
    }
    let source = format!("{}:{src_root}", src.name());
    let mut writer =
        ManifestWriter::create(&options.state_dir, source).map_err(|e| TransferError::Journal {
            path: options.state_dir.clone(),
            source: e,
        })?;
    let mut listed = list_stream(src, src_root, options.links).objects;
    let mut summary = Summary {
        destination: format!("{}:{dst_root}", dst.name()),
        ..Summary::default()
    };
    let mut missing = Vec::new();
    let mut missing_count = 0u64;
    while let Some(obj) = listed.next().await {
        let obj = obj?;
        // Entries before this object belong to objects the source no longer has: the manifest leaves them out.
        let mut found = None;
        while let Some(Reverse((key, _, _))) = heads.peek() {
            if key.as_str() > obj.rel.as_str() {
                break;
            }
            let Some(Reverse((key, i, Wrapped(entry)))) = heads.pop() else {
                break;
            };
            if let Some(e) = next_of(dst, &mut readers[i]).await? {
                heads.push(Reverse((e.key.clone(), i, Wrapped(e))));
            }
            if key == obj.rel {
                found = Some(entry);
            }
        }
        match found {
            Some(entry) if entry.size == obj.size => {
                summary.skipped += 1;
                summary.skipped_bytes += entry.size;
                writer.push(&entry).map_err(|e| TransferError::Journal {
                    path: options.state_dir.clone(),
                    source: e,
                })?;
            }
            _ => {
                missing_count += 1;
                if missing.len() < MISSING_NAMED {
                    let shard = Shard {
                        index: shard_of(&obj.rel, count),
                        count,
                    };
                    missing.push(format!("{} (shard {shard})", obj.rel));
                }
            }
        }
    }
    if missing_count > 0 {
        return Err(TransferError::Incomplete(format!(
            "{missing_count} source objects are in no shard's manifest, or at another size (the source changed \
             since the shards ran): {}; run those shards again, then --finish",
            missing.join(", ")
        )));
    }
    let spilled = writer.finish().map_err(|e| TransferError::Journal {
        path: options.state_dir.clone(),
        source: e,
    })?;
    let written = spilled
        .upload_to(dst, &join_key(dst_root, MANIFEST_KEY))
        .await?;
    for index in 0..count {
        let key = shard_manifest_key(dst_root, index, count);
        if let Err(e) = dst.op().delete(&key).await {
            progress.note(&format!(
                "could not remove the shard manifest {}:{key}: {e}",
                dst.name()
            ));
        }
    }
    summary.manifest = Some(written);
    Ok(summary)
}

/// Whether another run merged the `count` shards of the tree at `dst_root`: the tree's manifest is there and,
/// within a few seconds (that run may still be removing them), none of the shards' is. A store that cannot say
/// counts as not merged.
pub(crate) async fn merged_by_another(dst: &Remote, dst_root: &str, count: u32) -> bool {
    let exists = |key: String| async move { dst.op().exists(&key).await };
    if !exists(join_key(dst_root, MANIFEST_KEY))
        .await
        .unwrap_or(false)
    {
        return false;
    }
    for _ in 0..50 {
        let mut left = false;
        for index in 0..count {
            let key = shard_manifest_key(dst_root, index, count);
            if exists(key).await.unwrap_or(true) {
                left = true;
                break;
            }
        }
        if !left {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn next_of(
    dst: &Remote,
    reader: &mut ManifestReader,
) -> Result<Option<ManifestEntry>, TransferError> {
    let key = reader.header().source.clone();
    reader.next().await.map_err(|e| {
        super::manifest::manifest_error(dst, &format!("a shard manifest (from {key})"), e)
    })
}

/// A manifest entry in the merge heap, ordered by nothing (the key and shard before it order the heap).
struct Wrapped(ManifestEntry);

impl PartialEq for Wrapped {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Wrapped {}
impl PartialOrd for Wrapped {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Wrapped {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_stable_complete_and_balanced() {
        assert_eq!(Shard::parse("0/4").unwrap(), Shard { index: 0, count: 4 });
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3", "0/10001"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let keys: Vec<String> = (0..4000)
            .map(|i| format!("binlogs/insert_log/1/2/{i}/0/1"))
            .collect();
        let mut per = [0usize; 4];
        for k in &keys {
            let owners: Vec<u32> = (0..4)
                .filter(|&i| Shard { index: i, count: 4 }.holds(k))
                .collect();
            assert_eq!(owners.len(), 1, "exactly one shard holds {k}");
            per[owners[0] as usize] += 1;
        }
        assert!(per.iter().all(|&n| (850..=1150).contains(&n)), "{per:?}");
    }
}
