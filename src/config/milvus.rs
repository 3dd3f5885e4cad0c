//! The Milvus instance a remote belongs to: `[remotes.NAME.milvus]`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::env;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milvus_table_rejects_unknown_keys() {
        let t: toml::Table = "address = \"x:1\"\nadress = \"y\"\n".parse().unwrap();
        let e = MilvusSettings::from_table(&t, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("adress"), "{e}");
    }
}
