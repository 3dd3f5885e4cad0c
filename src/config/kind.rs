//! The kinds of remote and the OpenDAL options each one gets.

use std::collections::BTreeMap;

use super::RemoteSettings;

/// A kind of storage a remote can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// Amazon S3 or any S3-compatible service.
    S3,
    /// S3 with an endpoint: path-style, region defaulted to `us-east-1`.
    Minio,
    /// Azure Blob Storage.
    Azblob,
    /// Google Cloud Storage.
    Gcs,
    /// A local directory.
    Fs,
}

impl RemoteKind {
    /// Parses the `type` key.
    pub fn parse(s: &str) -> Result<RemoteKind, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "s3" => RemoteKind::S3,
            "minio" => RemoteKind::Minio,
            "azblob" | "azure" => RemoteKind::Azblob,
            "gcs" => RemoteKind::Gcs,
            "fs" | "local" => RemoteKind::Fs,
            other => {
                return Err(format!(
                    "unknown type '{other}': use one of s3, minio, azblob, gcs, fs"
                ));
            }
        })
    }

    /// The OpenDAL service this kind is opened with.
    pub fn scheme(self) -> &'static str {
        match self {
            RemoteKind::S3 | RemoteKind::Minio => "s3",
            RemoteKind::Azblob => "azblob",
            RemoteKind::Gcs => "gcs",
            RemoteKind::Fs => "fs",
        }
    }

    /// The name as written in `type`.
    pub fn name(self) -> &'static str {
        match self {
            RemoteKind::Minio => "minio",
            other => other.scheme(),
        }
    }

    fn known_keys(self) -> Vec<String> {
        use opendal::services::{AzblobConfig, FsConfig, GcsConfig, S3Config};
        let value = match self {
            RemoteKind::S3 | RemoteKind::Minio => serde_json::to_value(S3Config::default()),
            RemoteKind::Azblob => serde_json::to_value(AzblobConfig::default()),
            RemoteKind::Gcs => serde_json::to_value(GcsConfig::default()),
            RemoteKind::Fs => serde_json::to_value(FsConfig::default()),
        };
        match value {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn required_keys(self) -> &'static [&'static str] {
        match self {
            RemoteKind::S3 => &["bucket"],
            RemoteKind::Minio => &["bucket", "endpoint"],
            RemoteKind::Azblob => &["container"],
            RemoteKind::Gcs => &["bucket"],
            RemoteKind::Fs => &["root"],
        }
    }

    /// Checks the OpenDAL options and adds the defaults mbx relies on. Keys are checked against the
    /// OpenDAL config struct of the service, so a typo is an error instead of a silent default.
    pub(super) fn resolve_options(
        self,
        mut options: BTreeMap<String, String>,
        settings: &RemoteSettings,
    ) -> Result<BTreeMap<String, String>, String> {
        let known = self.known_keys();
        for key in options.keys() {
            if !known.iter().any(|k| k == key) {
                let mut all: Vec<&str> = known.iter().map(String::as_str).collect();
                all.extend(super::MBX_KEYS);
                all.sort_unstable();
                return Err(format!(
                    "unknown key '{key}' for type {}; known keys: {}",
                    self.name(),
                    all.join(", ")
                ));
            }
        }
        for key in self.required_keys() {
            if options.get(*key).is_none_or(|v| v.is_empty()) {
                return Err(format!(
                    "missing required key '{key}' for type {}",
                    self.name()
                ));
            }
        }
        let mut default = |k: &str, v: &str| {
            options
                .entry(k.to_string())
                .or_insert_with(|| v.to_string());
        };
        match self {
            RemoteKind::S3 | RemoteKind::Minio => {
                default("region", "us-east-1");
                if !settings.credential_lookup {
                    // Nothing beyond the configured endpoint: no ~/.aws files, no EC2 metadata service.
                    default("disable_config_load", "true");
                    default("disable_ec2_metadata", "true");
                }
            }
            RemoteKind::Gcs => {
                if !settings.credential_lookup {
                    default("disable_config_load", "true");
                    default("disable_vm_metadata", "true");
                }
            }
            RemoteKind::Azblob => {}
            RemoteKind::Fs => {
                let root = options.get("root").cloned().unwrap_or_default();
                let absolute = std::path::absolute(&root)
                    .map_err(|e| format!("key 'root': cannot resolve '{root}': {e}"))?;
                // Write to a temporary file and rename it into place: a crash never leaves a half-written file
                // under its final name, and an upload can be aborted. Same file system as the root, so the
                // rename is atomic; `.mbx/` is mbx's own folder and never part of a tree.
                let tmp = absolute.join(".mbx").join("tmp");
                options
                    .entry("atomic_write_dir".into())
                    .or_insert_with(|| tmp.to_string_lossy().into_owned());
                options.insert("root".into(), absolute.to_string_lossy().into_owned());
            }
        }
        if self == RemoteKind::Minio {
            options.remove("enable_virtual_host_style");
        }
        Ok(options)
    }
}

impl std::fmt::Display for RemoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
