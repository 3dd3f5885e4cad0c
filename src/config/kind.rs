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

    /// The OpenDAL options of this kind that hold a credential or key material: never printed. The unit test
    /// `every_option_is_classified` fails when OpenDAL adds an option, so each new one gets a decision.
    pub fn secret_keys(self) -> &'static [&'static str] {
        match self {
            RemoteKind::S3 | RemoteKind::Minio => &[
                "secret_access_key",
                "session_token",
                "server_side_encryption_customer_key",
                // A digest of the SSE-C key: it confirms a guess of the key, so it is kept as secret as the key.
                "server_side_encryption_customer_key_md5",
                // Given to a role's trust policy like a password (the "confused deputy" guard).
                "external_id",
            ],
            // `encryption_key_sha256` confirms a guess of the customer-provided key, as the S3 MD5 does.
            RemoteKind::Azblob => &[
                "account_key",
                "sas_token",
                "encryption_key",
                "encryption_key_sha256",
            ],
            // `credential` is the service account's JSON key (base64); `token` an OAuth access token.
            RemoteKind::Gcs => &["credential", "token"],
            RemoteKind::Fs => &[],
        }
    }

    /// True when option `key` of this kind holds a secret (see [`RemoteKind::secret_keys`]).
    pub fn is_secret(self, key: &str) -> bool {
        self.secret_keys().contains(&key)
    }

    /// True when OpenDAL's config struct for this kind accepts `value` (a TOML number or boolean, as JSON) for
    /// option `key`: `root = 5` is refused, `skip_signature = true` is not. Text is always accepted, because
    /// OpenDAL parses its options from text.
    pub(super) fn accepts_typed(self, key: &str, value: serde_json::Value) -> bool {
        use opendal::services::{AzblobConfig, FsConfig, GcsConfig, S3Config};
        let one = serde_json::Value::Object([(key.to_string(), value)].into_iter().collect());
        match self {
            RemoteKind::S3 | RemoteKind::Minio => serde_json::from_value::<S3Config>(one).is_ok(),
            RemoteKind::Azblob => serde_json::from_value::<AzblobConfig>(one).is_ok(),
            RemoteKind::Gcs => serde_json::from_value::<GcsConfig>(one).is_ok(),
            RemoteKind::Fs => serde_json::from_value::<FsConfig>(one).is_ok(),
        }
    }

    /// Refuses an option this kind does not have, listing the ones it has.
    pub(super) fn check_known(self, key: &str) -> Result<(), String> {
        let known = self.known_keys();
        if known.iter().any(|k| k == key) {
            return Ok(());
        }
        let mut all: Vec<&str> = known.iter().map(String::as_str).collect();
        all.extend(super::MBX_KEYS);
        all.sort_unstable();
        Err(format!(
            "unknown key '{}' for type {}; known keys: {}",
            super::shown(key),
            self.name(),
            all.join(", ")
        ))
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
        for key in options.keys() {
            self.check_known(key)?;
        }
        for key in self.required_keys() {
            if options.get(*key).is_none_or(|v| v.is_empty()) {
                return Err(format!(
                    "missing required key '{key}' for type {}",
                    self.name()
                ));
            }
        }
        super::customer_key::complete(self, &mut options)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Options that hold no secret, per kind. Together with [`RemoteKind::secret_keys`] they must be exactly
    /// OpenDAL's options: a new OpenDAL option fails this test until someone decides whether it is a secret.
    fn public_keys(kind: RemoteKind) -> &'static [&'static str] {
        match kind {
            RemoteKind::S3 | RemoteKind::Minio => &[
                "access_key_id",
                "allow_anonymous",
                "assume_role_duration_seconds",
                "assume_role_session_tags",
                "batch_max_operations",
                "bucket",
                "checksum_algorithm",
                "default_acl",
                "default_storage_class",
                "delete_max_size",
                "disable_config_load",
                "disable_ec2_metadata",
                "disable_list_objects_v2",
                "disable_stat_with_override",
                "disable_write_with_if_match",
                "enable_request_payer",
                "enable_versioning",
                "enable_virtual_host_style",
                "enable_write_with_append",
                "endpoint",
                "profile",
                "region",
                "role_arn",
                "role_session_name",
                "root",
                "server_side_encryption",
                "server_side_encryption_aws_kms_key_id",
                "server_side_encryption_customer_algorithm",
                "skip_signature",
            ],
            RemoteKind::Azblob => &[
                "account_name",
                "batch_max_operations",
                "container",
                "encryption_algorithm",
                "endpoint",
                "root",
                "skip_signature",
            ],
            RemoteKind::Gcs => &[
                "allow_anonymous",
                "bucket",
                "credential_path",
                "default_storage_class",
                "disable_config_load",
                "disable_vm_metadata",
                "endpoint",
                "predefined_acl",
                "root",
                "scope",
                "service_account",
                "skip_signature",
            ],
            RemoteKind::Fs => &["atomic_write_dir", "root"],
        }
    }

    #[test]
    fn every_option_is_classified() {
        for kind in [
            RemoteKind::S3,
            RemoteKind::Azblob,
            RemoteKind::Gcs,
            RemoteKind::Fs,
        ] {
            let mut classified: Vec<&str> = public_keys(kind).to_vec();
            classified.extend(kind.secret_keys());
            classified.sort_unstable();
            let mut known = kind.known_keys();
            known.sort_unstable();
            assert_eq!(classified, known, "{kind}: classify every OpenDAL option");
        }
    }

    #[test]
    fn typed_values_follow_opendal_types() {
        assert!(!RemoteKind::Fs.accepts_typed("root", serde_json::json!(5)));
        assert!(RemoteKind::S3.accepts_typed("skip_signature", serde_json::json!(true)));
        assert!(!RemoteKind::S3.accepts_typed("skip_signature", serde_json::json!(1)));
        assert!(RemoteKind::S3.accepts_typed("batch_max_operations", serde_json::json!(5)));
        assert!(!RemoteKind::S3.accepts_typed("secret_access_key", serde_json::json!(5)));
    }
}
