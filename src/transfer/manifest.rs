//! The manifest: what a finished transfer (or backup) holds, with the BLAKE3 of every object. It lives with
//! the tree it describes, at `<tree>/.mbx/manifest.json`, so it travels with the data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// A tree's manifest.
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
        Manifest {
            format: 1,
            tool: format!("mbx {}", env!("CARGO_PKG_VERSION")),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            source,
            objects,
        }
    }

    /// Parses a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError::Damaged(format!("not an mbx manifest: {e}")))?;
        if m.format != 1 {
            return Err(ManifestError::Newer(format!(
                "manifest format {} is newer than this mbx understands (1); upgrade mbx",
                m.format
            )));
        }
        Ok(m)
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts() {
        let e = |k: &str| ManifestEntry {
            key: k.into(),
            size: 3,
            blake3: blake3::hash(b"abc").to_hex().to_string(),
            src_etag: None,
            src_mtime: Some("2026-01-01T00:00:00Z".into()),
        };
        let m = Manifest::new("a:x".into(), vec![e("b"), e("a")]);
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
}
