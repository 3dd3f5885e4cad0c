//! The Milvus instance a remote belongs to: `[remotes.NAME.milvus]`, or a milvus-backup `backup.yaml`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{RemoteConfig, RemoteKind, RemoteSettings, env};

/// How mbx reaches a Milvus instance and where that instance keeps its files.
#[derive(Clone, PartialEq)]
pub struct MilvusSettings {
    /// gRPC address of the proxy, `host:port`.
    pub address: String,
    /// Use TLS for gRPC.
    pub tls: bool,
    /// CA certificate (PEM file) for TLS; the system roots when unset.
    pub ca_cert: Option<String>,
    /// TLS server name, when it differs from the address's host.
    pub server_name: Option<String>,
    /// User name (authorization enabled).
    pub user: Option<String>,
    /// Password (authorization enabled). Never printed.
    pub password: Option<String>,
    /// Milvus's storage `rootPath` within the remote (`files` by default, as docker-compose deploys).
    pub root_path: String,
    /// Where backups live within the remote (`backup` by default, as milvus-backup).
    pub backup_root: String,
    /// The remote that is Milvus's own bucket, when backups live in another one.
    pub storage_remote: Option<String>,
    /// Milvus's management HTTP endpoint (`http://host:9091`), for pausing its garbage collection during a
    /// backup; `None`: the gRPC host on port 9091.
    pub management_address: Option<String>,
    /// Pause Milvus's garbage collection while a backup copies (as milvus-backup's `backup.pauseGC`).
    pub pause_gc: bool,
}

impl std::fmt::Debug for MilvusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilvusSettings")
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("root_path", &self.root_path)
            .field("backup_root", &self.backup_root)
            .field("storage_remote", &self.storage_remote)
            .field("management_address", &self.management_address)
            .field("pause_gc", &self.pause_gc)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilvus {
    address: String,
    #[serde(default)]
    tls: bool,
    ca_cert: Option<String>,
    server_name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    root_path: Option<String>,
    backup_root: Option<String>,
    storage_remote: Option<String>,
    management_address: Option<String>,
    pause_gc: Option<bool>,
}

impl MilvusSettings {
    /// Reads a `[remotes.NAME.milvus]` table, expanding `${VAR}` in its strings.
    pub(super) fn from_table(
        table: &toml::Table,
        environment: &BTreeMap<String, String>,
    ) -> Result<MilvusSettings, String> {
        let mut table = table.clone();
        // serde's type errors quote the value ("invalid type: integer `1234`"): check the secret's type first.
        if table.get("password").is_some_and(|p| !p.is_str()) {
            return Err("key 'milvus.password' must be a string (in quotes)".into());
        }
        for (key, value) in table.iter_mut() {
            if let toml::Value::String(s) = value {
                *s = env::expand(s, environment).map_err(|e| format!("key 'milvus.{key}': {e}"))?;
            }
        }
        let raw: RawMilvus = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| format!("[milvus] table: {}", e.message()))?;
        Ok(MilvusSettings {
            address: raw.address,
            tls: raw.tls,
            ca_cert: raw.ca_cert,
            server_name: raw.server_name,
            user: raw.user.filter(|u| !u.is_empty()),
            password: raw.password.filter(|p| !p.is_empty()),
            root_path: raw.root_path.unwrap_or_else(|| "files".into()),
            backup_root: raw.backup_root.unwrap_or_else(|| "backup".into()),
            storage_remote: raw.storage_remote,
            management_address: raw.management_address,
            pause_gc: raw.pause_gc.unwrap_or(true),
        })
    }
}

/// The parts of a milvus-backup `backup.yaml` (config v1: `milvus:` and `minio:`) that mbx understands.
#[derive(Debug, Deserialize)]
pub struct BackupYaml {
    #[serde(default)]
    milvus: YamlMilvus,
    #[serde(default)]
    minio: YamlMinio,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct YamlMilvus {
    address: Option<String>,
    port: Option<serde_yaml::Value>,
    user: Option<String>,
    // Any scalar: a type error from serde would quote the value ("invalid type: integer `1234`").
    password: Option<serde_yaml::Value>,
    tls_mode: Option<i64>,
    ca_cert_path: Option<String>,
    server_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct YamlMinio {
    storage_type: Option<String>,
    cloud_provider: Option<String>,
    address: Option<String>,
    port: Option<serde_yaml::Value>,
    region: Option<String>,
    #[serde(rename = "accessKeyID")]
    access_key_id: Option<String>,
    // Any scalar, as `password`.
    secret_access_key: Option<serde_yaml::Value>,
    #[serde(rename = "useSSL")]
    use_ssl: Option<bool>,
    bucket_name: Option<String>,
    root_path: Option<String>,
    backup_bucket_name: Option<String>,
    backup_root_path: Option<String>,
}

fn yaml_scalar(v: &Option<serde_yaml::Value>) -> Option<String> {
    match v {
        Some(serde_yaml::Value::Number(n)) => Some(n.to_string()),
        Some(serde_yaml::Value::String(s)) => Some(s.clone()),
        Some(serde_yaml::Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

impl BackupYaml {
    /// Parses the text of a `backup.yaml`.
    pub fn parse(text: &str) -> Result<BackupYaml, String> {
        serde_yaml::from_str(text).map_err(|e| format!("backup.yaml: {e}"))
    }

    /// The remote this file describes, named `name`: the backup bucket (`backupBucketName`, defaulting to
    /// `bucketName`) on the `minio:` endpoint, with the Milvus instance of the `milvus:` section. When the
    /// backup bucket differs from Milvus's bucket, `milvus.storage_remote` names `NAME_storage`, returned second.
    pub fn into_remotes(self, name: &str) -> Result<(RemoteConfig, Option<RemoteConfig>), String> {
        let m = self.minio;
        let provider = m
            .storage_type
            .or(m.cloud_provider)
            .unwrap_or_else(|| "minio".into())
            .to_ascii_lowercase();
        if !matches!(provider.as_str(), "minio" | "s3" | "aws") {
            return Err(format!(
                "backup.yaml: storageType '{provider}' is not supported by --backup-yaml; declare the remote in remotes.toml instead"
            ));
        }
        let host = m.address.unwrap_or_else(|| "localhost".into());
        let port = yaml_scalar(&m.port).unwrap_or_else(|| "9000".into());
        let scheme = if m.use_ssl.unwrap_or(false) {
            "https"
        } else {
            "http"
        };
        let milvus_bucket = m.bucket_name.unwrap_or_else(|| "a-bucket".into());
        let backup_bucket = m
            .backup_bucket_name
            .unwrap_or_else(|| milvus_bucket.clone());
        let settings = RemoteSettings::default();
        let make = |bucket: &str| -> Result<RemoteConfig, String> {
            let mut opts = BTreeMap::new();
            opts.insert("endpoint".into(), format!("{scheme}://{host}:{port}"));
            opts.insert("bucket".into(), bucket.to_string());
            if let Some(r) = &m.region {
                opts.insert("region".into(), r.clone());
            }
            if let Some(k) = &m.access_key_id {
                opts.insert("access_key_id".into(), k.clone());
            }
            if let Some(k) = yaml_scalar(&m.secret_access_key) {
                opts.insert("secret_access_key".into(), k);
            }
            let options = RemoteKind::Minio.resolve_options(opts, &settings)?;
            Ok(RemoteConfig {
                name: name.to_string(),
                kind: RemoteKind::Minio,
                options,
                settings: settings.clone(),
                milvus: None,
            })
        };
        let mut backup = make(&backup_bucket)?;
        let storage = if backup_bucket != milvus_bucket {
            let mut s = make(&milvus_bucket)?;
            s.name = format!("{name}_storage");
            Some(s)
        } else {
            None
        };
        let mv = self.milvus;
        let tls_mode = mv.tls_mode.unwrap_or(0);
        backup.milvus = Some(MilvusSettings {
            address: format!(
                "{}:{}",
                mv.address.unwrap_or_else(|| "localhost".into()),
                yaml_scalar(&mv.port).unwrap_or_else(|| "19530".into())
            ),
            tls: tls_mode > 0,
            ca_cert: mv.ca_cert_path.filter(|s| !s.is_empty()),
            server_name: mv.server_name.filter(|s| !s.is_empty()),
            user: mv.user.filter(|s| !s.is_empty()),
            password: yaml_scalar(&mv.password).filter(|s| !s.is_empty()),
            root_path: m.root_path.unwrap_or_else(|| "files".into()),
            backup_root: m.backup_root_path.unwrap_or_else(|| "backup".into()),
            storage_remote: storage.as_ref().map(|s| s.name.clone()),
            management_address: None,
            pause_gc: true,
        });
        Ok((backup, storage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_yaml_of_the_seed_page() {
        let y = BackupYaml::parse(
            r#"
milvus:
  address: milvus_A
  port: 19530
  authorizationEnabled: false
  tlsMode: 0
  user: "root"
  password: "Milvus"
minio:
  storageType: "minio"
  address: minio_A
  port: 9000
  accessKeyID: minioadmin
  secretAccessKey: minioadmin
  useSSL: false
  useIAM: false
  iamEndpoint: ""
  bucketName: "bucket_A"
  rootPath: "files"
  backupAccessKeyID: minioadmin
  backupSecretAccessKey: minioadmin
  backupBucketName: "bucket_A"
  backupRootPath: "backup"
"#,
        )
        .unwrap();
        let (r, storage) = y.into_remotes("a").unwrap();
        assert!(storage.is_none());
        assert_eq!(r.options["endpoint"], "http://minio_A:9000");
        assert_eq!(r.options["bucket"], "bucket_A");
        let m = r.milvus.unwrap();
        assert_eq!(m.address, "milvus_A:19530");
        assert_eq!(m.root_path, "files");
        assert_eq!(m.backup_root, "backup");
        assert!(!format!("{m:?}").contains("Milvus\""));
    }

    /// A secret that YAML reads as a number is still the secret, and no type error quotes it.
    #[test]
    fn numeric_secrets_in_backup_yaml_are_taken_as_text() {
        let y = BackupYaml::parse(
            "milvus:\n  password: 123456\nminio:\n  accessKeyID: ak\n  secretAccessKey: 987654\n",
        )
        .unwrap();
        let (r, _) = y.into_remotes("a").unwrap();
        assert_eq!(r.options["secret_access_key"], "987654");
        assert_eq!(r.milvus.unwrap().password.as_deref(), Some("123456"));
    }

    #[test]
    fn milvus_table_rejects_unknown_keys() {
        let t: toml::Table = "address = \"x:1\"\nadress = \"y\"\n".parse().unwrap();
        let e = MilvusSettings::from_table(&t, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("adress"), "{e}");
    }
}
