//! A small Milvus gRPC client: connection, authentication and database headers, status checks.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use base64::Engine;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::MilvusError;
use super::proto::common::Status;
use super::proto::milvus as pb;
use super::proto::milvus::milvus_service_client::MilvusServiceClient;
use crate::config::MilvusSettings;

/// Adds the `authorization` and `dbname` headers Milvus reads.
#[derive(Clone)]
pub(crate) struct Headers {
    auth: Option<MetadataValue<tonic::metadata::Ascii>>,
    db: MetadataValue<tonic::metadata::Ascii>,
}

impl Interceptor for Headers {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(a) = &self.auth {
            req.metadata_mut().insert("authorization", a.clone());
        }
        req.metadata_mut().insert("dbname", self.db.clone());
        Ok(req)
    }
}

/// The gRPC stub with mbx's headers.
pub(crate) type Stub =
    MilvusServiceClient<tonic::service::interceptor::InterceptedService<Channel, Headers>>;

/// A connection to one Milvus, for one database.
#[derive(Clone)]
pub struct MilvusClient {
    pub(crate) stub: Stub,
    address: String,
}

impl MilvusClient {
    /// Where this client connects (`host:port`), for messages.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl MilvusClient {
    /// Connects to the Milvus of `settings`, using database `db`.
    pub async fn connect(settings: &MilvusSettings, db: &str) -> Result<MilvusClient, MilvusError> {
        let err = |m: String| MilvusError::Connect {
            address: settings.address.clone(),
            message: m,
        };
        let scheme = if settings.tls { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", settings.address))
            .map_err(|e| err(format!("bad address: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Some(Duration::from_secs(10)))
            .timeout(Duration::from_secs(120));
        if settings.tls {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &settings.ca_cert {
                let pem =
                    std::fs::read(ca).map_err(|e| err(format!("reading ca_cert {ca}: {e}")))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some(name) = &settings.server_name {
                tls = tls.domain_name(name.clone());
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| err(format!("TLS: {e}")))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| err(format!("{e}; is Milvus running there?")))?;
        let auth = match (&settings.user, &settings.password) {
            (None, None) => None,
            (u, p) => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    u.as_deref().unwrap_or(""),
                    p.as_deref().unwrap_or("")
                ));
                Some(
                    token
                        .parse()
                        .map_err(|_| err("credentials are not valid header text".into()))?,
                )
            }
        };
        let db = db
            .parse()
            .map_err(|_| err(format!("database name '{db}' is not valid header text")))?;
        let stub = MilvusServiceClient::with_interceptor(channel, Headers { auth, db })
            .max_decoding_message_size(256 << 20);
        Ok(MilvusClient {
            stub,
            address: settings.address.clone(),
        })
    }

    /// The server's version string, e.g. `v2.3.5`.
    pub async fn version(&self) -> Result<String, MilvusError> {
        Ok(self.get_version(pb::GetVersionRequest {}).await?.version)
    }

    /// Runs one call that is safe to repeat (a read, or a wait), retrying with backoff when the connection
    /// fails or Milvus is briefly unavailable; the status is left to the caller.
    async fn call_retrying<T, F, Fut>(&self, name: &str, f: F) -> Result<T, MilvusError>
    where
        F: Fn(Stub) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let attempt = || f(self.stub.clone());
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(250))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(6)
                    .with_jitter(),
            )
            .when(|e: &tonic::Status| transient(e.code()))
            .notify(|e, after| {
                tracing::warn!(
                    "Milvus {name} at {}: {} ({}); retrying in {:.1}s",
                    self.address,
                    e.message(),
                    e.code(),
                    after.as_secs_f64()
                )
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|e| self.rpc_error(name, e))
    }

    /// Runs one call once, on a clone of the stub (cheap: it shares the channel); the status is left to the
    /// caller.
    async fn call_once<T, F, Fut>(&self, name: &str, f: F) -> Result<T, MilvusError>
    where
        F: FnOnce(Stub) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        f(self.stub.clone())
            .await
            .map(tonic::Response::into_inner)
            .map_err(|e| self.rpc_error(name, e))
    }

    fn rpc_error(&self, name: &str, e: tonic::Status) -> MilvusError {
        MilvusError::Rpc {
            call: name.to_string(),
            message: format!("{} ({}): {}", self.address, e.code(), e.message()),
        }
    }
}

/// The typed calls mbx makes, each named once. `read` calls are safe to repeat and are retried on transient
/// failures; `write` calls are sent once (a repeated CreateCollection or Import is not the same request). Both
/// check Milvus's status; the `_raw` kinds leave it to the caller, for calls whose error status means
/// something else (no index, not loaded, no such collection) or needs more context.
macro_rules! calls {
    ($( $(#[$doc:meta])* $kind:ident $name:literal fn $method:ident($req:ty) -> $resp:ty; )*) => {
        impl MilvusClient {
            $(
                $(#[$doc])*
                pub(crate) async fn $method(&self, req: $req) -> Result<$resp, MilvusError> {
                    calls!(@$kind self, $name, $method, req)
                }
            )*
        }
    };
    (@read $self:ident, $name:literal, $method:ident, $req:ident) => {{
        let r = calls!(@read_raw $self, $name, $method, $req)?;
        check(r.status(), $name)?;
        Ok(r)
    }};
    (@read_raw $self:ident, $name:literal, $method:ident, $req:ident) => {
        $self
            .call_retrying($name, |mut s| {
                let req = $req.clone();
                async move { s.$method(req).await }
            })
            .await
    };
    (@write $self:ident, $name:literal, $method:ident, $req:ident) => {{
        let r = calls!(@write_raw $self, $name, $method, $req)?;
        check(r.status(), $name)?;
        Ok(r)
    }};
    (@write_raw $self:ident, $name:literal, $method:ident, $req:ident) => {
        $self
            .call_once($name, |mut s| async move { s.$method($req).await })
            .await
    };
}

calls! {
    /// `GetVersion`.
    read "GetVersion" fn get_version(pb::GetVersionRequest) -> pb::GetVersionResponse;
    /// `ListDatabases`.
    read "ListDatabases" fn list_databases(pb::ListDatabasesRequest) -> pb::ListDatabasesResponse;
    /// `CreateDatabase`.
    write "CreateDatabase" fn create_database(pb::CreateDatabaseRequest) -> Status;
    /// `BackupRBAC` (Milvus 2.4+): users, roles, grants and privilege groups.
    read "BackupRBAC" fn backup_rbac(pb::BackupRbacMetaRequest) -> pb::BackupRbacMetaResponse;
    /// `RestoreRBAC` (Milvus 2.4+).
    write "RestoreRBAC" fn restore_rbac(pb::RestoreRbacMetaRequest) -> Status;
    /// `DescribeDatabase` (Milvus 2.4.3+).
    read "DescribeDatabase" fn describe_database(pb::DescribeDatabaseRequest) -> pb::DescribeDatabaseResponse;
    /// `ShowCollections`.
    read "ShowCollections" fn show_collections(pb::ShowCollectionsRequest) -> pb::ShowCollectionsResponse;
    /// `HasCollection`.
    read "HasCollection" fn has_collection(pb::HasCollectionRequest) -> pb::BoolResponse;
    /// `DescribeCollection`, status unchecked (for create, a missing collection is the user's input).
    read_raw "DescribeCollection" fn describe_collection(pb::DescribeCollectionRequest) -> pb::DescribeCollectionResponse;
    /// `CreateCollection`.
    write "CreateCollection" fn create_collection(pb::CreateCollectionRequest) -> Status;
    /// `AddCollectionField` (Milvus 2.6).
    write "AddCollectionField" fn add_collection_field(pb::AddCollectionFieldRequest) -> Status;
    /// `DropCollection`.
    write "DropCollection" fn drop_collection(pb::DropCollectionRequest) -> Status;
    /// `ShowPartitions`.
    read "ShowPartitions" fn show_partitions(pb::ShowPartitionsRequest) -> pb::ShowPartitionsResponse;
    /// `HasPartition`.
    read "HasPartition" fn has_partition(pb::HasPartitionRequest) -> pb::BoolResponse;
    /// `CreatePartition`.
    write "CreatePartition" fn create_partition(pb::CreatePartitionRequest) -> Status;
    /// `DescribeIndex`, status unchecked (no index is an error status).
    read_raw "DescribeIndex" fn describe_index(pb::DescribeIndexRequest) -> pb::DescribeIndexResponse;
    /// `DropIndex`.
    write "DropIndex" fn drop_index(pb::DropIndexRequest) -> Status;
    /// `CreateIndex`, status unchecked (the caller names the index).
    write_raw "CreateIndex" fn create_index(pb::CreateIndexRequest) -> Status;
    /// `GetLoadingProgress`, status unchecked (a collection not loaded is an error status).
    read_raw "GetLoadingProgress" fn get_loading_progress(pb::GetLoadingProgressRequest) -> pb::GetLoadingProgressResponse;
    /// `Flush` (repeating it only flushes again).
    read "Flush" fn flush(pb::FlushRequest) -> pb::FlushResponse;
    /// `GetFlushState`.
    read "GetFlushState" fn get_flush_state(pb::GetFlushStateRequest) -> pb::GetFlushStateResponse;
    /// `GetPersistentSegmentInfo`.
    read "GetPersistentSegmentInfo" fn get_persistent_segment_info(pb::GetPersistentSegmentInfoRequest) -> pb::GetPersistentSegmentInfoResponse;
    /// `Import`, status unchecked (the caller names the files in the error).
    write_raw "Import" fn import(pb::ImportRequest) -> pb::ImportResponse;
    /// `GetImportState`.
    read "GetImportState" fn get_import_state(pb::GetImportStateRequest) -> pb::GetImportStateResponse;
}

/// gRPC failures that a later attempt of the same call can get past.
fn transient(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::ResourceExhausted
    )
}

/// A Milvus response that carries a status.
pub(crate) trait WithStatus {
    /// The status, if the response has one.
    fn status(&self) -> Option<&Status>;
}

impl WithStatus for Status {
    fn status(&self) -> Option<&Status> {
        Some(self)
    }
}

macro_rules! with_status {
    ($($t:ident),* $(,)?) => {
        $(impl WithStatus for pb::$t {
            fn status(&self) -> Option<&Status> {
                self.status.as_ref()
            }
        })*
    };
}

with_status!(
    GetVersionResponse,
    ShowCollectionsResponse,
    DescribeCollectionResponse,
    ShowPartitionsResponse,
    GetPersistentSegmentInfoResponse,
    DescribeIndexResponse,
    GetLoadingProgressResponse,
    FlushResponse,
    GetFlushStateResponse,
    ListDatabasesResponse,
    BoolResponse,
    ImportResponse,
    GetImportStateResponse,
    DescribeDatabaseResponse,
    BackupRbacMetaResponse,
);

/// Checks a Milvus status: success only when both the old `error_code` and the new `code` are 0.
#[allow(deprecated)]
pub(crate) fn check(status: Option<&Status>, call: &str) -> Result<(), MilvusError> {
    match status {
        Some(s) if s.error_code != 0 || s.code != 0 => Err(MilvusError::Rpc {
            call: call.to_string(),
            message: if s.reason.is_empty() {
                format!("error code {}", s.error_code.max(s.code))
            } else {
                s.reason.clone()
            },
        }),
        _ => Ok(()),
    }
}
