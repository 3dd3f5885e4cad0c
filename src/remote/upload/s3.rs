//! S3 multipart uploads by their id: create, upload a part, list the parts, complete, abort, and list the
//! unfinished uploads of a bucket. Requests are signed with AWS SigV4 (reqsign, as OpenDAL does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opendal::Buffer;
use reqsign_aws_v4::{
    Credential, DefaultCredentialProvider, EnvCredentialProvider, RequestSigner,
    StaticCredentialProvider,
};
use reqsign_core::{Context, OsEnv, Signer};
use serde::Deserialize;

use super::http::{
    Answer, Body, Http, ReqwestSend, encode_path, encode_query, error_code, retryable_status,
    xml_escape,
};
use super::{
    IncompleteUpload, Landed, LandedPart, RequestPolicy, UploadError, absolute_key, relative_key,
};
use crate::config::RemoteConfig;

pub(super) struct S3Uploads {
    config: RemoteConfig,
    http: Http,
    signer: Signer<Credential>,
    /// `scheme://host[:port]` plus `/bucket` for path-style addressing.
    base: String,
    bucket: String,
    /// Headers the remote's options put on the request that starts an upload (encryption, storage class,
    /// ACL), as OpenDAL's own writer sends them.
    at_start: Vec<(String, String)>,
    /// Headers on every request (the requester pays).
    every: Vec<(String, String)>,
}

/// Options this client does not speak. With any of them set, objects above the part size go through OpenDAL's
/// own multipart writer, which honours them, and resume whole: never uploaded without what they ask.
const OPTIONS_LEFT_TO_OPENDAL: [&str; 4] = [
    "role_arn",
    "checksum_algorithm",
    "server_side_encryption_customer_algorithm",
    "server_side_encryption_customer_key",
];

/// Options that become headers on the request that starts an upload.
const START_HEADERS: [(&str, &str); 4] = [
    ("server_side_encryption", "x-amz-server-side-encryption"),
    (
        "server_side_encryption_aws_kms_key_id",
        "x-amz-server-side-encryption-aws-kms-key-id",
    ),
    ("default_storage_class", "x-amz-storage-class"),
    ("default_acl", "x-amz-acl"),
];

impl S3Uploads {
    pub(super) fn new(
        config: &RemoteConfig,
        policy: Arc<RequestPolicy>,
    ) -> Result<S3Uploads, String> {
        let opt = |k: &str| config.options.get(k).filter(|v| !v.is_empty()).cloned();
        if let Some(k) = OPTIONS_LEFT_TO_OPENDAL.iter().find(|k| opt(k).is_some()) {
            return Err(format!(
                "the remote sets '{k}', which mbx's resumable upload client does not send; objects above the \
                 part size go through OpenDAL's multipart writer, which does"
            ));
        }
        let at_start = START_HEADERS
            .iter()
            .filter_map(|(k, h)| opt(k).map(|v| (h.to_string(), v)))
            .collect();
        let every = match opt("enable_request_payer").as_deref() {
            Some("true") => vec![("x-amz-request-payer".to_string(), "requester".to_string())],
            _ => Vec::new(),
        };
        let region = opt("region").unwrap_or_else(|| "us-east-1".into());
        let bucket = opt("bucket").ok_or("missing key 'bucket'")?;
        let endpoint = opt("endpoint")
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_string();
        let virtual_host = opt("enable_virtual_host_style").is_some_and(|v| v == "true");
        let base = if virtual_host {
            match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
                None => format!("https://{bucket}.{endpoint}"),
            }
        } else {
            format!("{endpoint}/{bucket}")
        };
        let http = Http::new(&config.name, policy)?;
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_http_send(ReqwestSend(http.client.clone()))
            .with_env(OsEnv);
        let request_signer = RequestSigner::new("s3", &region);
        let signer = match (opt("access_key_id"), opt("secret_access_key")) {
            (Some(ak), Some(sk)) => {
                let mut p = StaticCredentialProvider::new(&ak, &sk);
                if let Some(token) = opt("session_token") {
                    p = p.with_session_token(&token);
                }
                Signer::new(ctx, p, request_signer)
            }
            // Like OpenDAL's own setup: the SDK's whole chain only when the remote allows it.
            _ if config.settings.credential_lookup => {
                Signer::new(ctx, DefaultCredentialProvider::new(), request_signer)
            }
            _ => Signer::new(ctx, EnvCredentialProvider::new(), request_signer),
        };
        Ok(S3Uploads {
            config: config.clone(),
            http,
            signer,
            base,
            bucket,
            at_start,
            every,
        })
    }

    fn url(&self, key: &str, query: &str) -> String {
        let path = encode_path(&absolute_key(&self.config, key));
        if query.is_empty() {
            format!("{}/{path}", self.base)
        } else {
            format!("{}/{path}?{query}", self.base)
        }
    }

    async fn call(
        &self,
        what: &str,
        method: http::Method,
        url: String,
        headers: &[(String, String)],
        body: impl Into<Body>,
        deadline: Duration,
    ) -> Result<Answer, UploadError> {
        let body = body.into();
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        for (k, v) in headers.iter().chain(&self.every) {
            builder = builder.header(k, v);
        }
        let answer = self
            .http
            .send_signed(what, &self.signer, builder, body, deadline)
            .await?;
        let (status, bytes) = (answer.status, &answer.body);
        // CompleteMultipartUpload can answer 200 with an error in the body.
        let error_in_body = status.is_success() && bytes.starts_with(b"<?xml") && {
            let (code, _) = error_code(bytes);
            !code.is_empty() && bytes.windows(7).any(|w| w == b"<Error>")
        };
        if status.is_success() && !error_in_body {
            return Ok(answer);
        }
        let (code, message) = error_code(bytes);
        Err(UploadError {
            message: format!(
                "{what} on remote '{}': {status} {code} {message}",
                self.config.name
            )
            .trim_end()
            .to_string(),
            retryable: retryable_status(status) || code == "SlowDown" || code == "InternalError",
            gone: code == "NoSuchUpload" || status == http::StatusCode::NOT_FOUND,
        })
    }

    pub(super) async fn begin(
        &self,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String, UploadError> {
        let headers: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
            .chain(self.at_start.iter().cloned())
            .collect();
        let what = format!("starting the upload of '{key}'");
        let body = self
            .call(
                &what,
                http::Method::POST,
                self.url(key, "uploads"),
                &headers,
                Buffer::new(),
                self.http.policy.timeout(),
            )
            .await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Initiated {
            upload_id: String,
        }
        let parsed: Initiated = quick_xml::de::from_reader(body.body.as_ref())
            .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
        Ok(parsed.upload_id)
    }

    pub(super) async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        data: Buffer,
        turn: Option<super::Turn>,
    ) -> Result<LandedPart, UploadError> {
        let size = data.len() as u64;
        let what = format!("uploading part {number} of '{key}'");
        let url = self.url(
            key,
            &format!("partNumber={number}&uploadId={}", encode_query(upload_id)),
        );
        let answer = self
            .call(
                &what,
                http::Method::PUT,
                url,
                &[],
                Body { data, turn },
                self.http.policy.io_timeout(),
            )
            .await?;
        let etag = answer
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                UploadError::new(
                    format!("{what}: the server sent no ETag for the part"),
                    true,
                )
            })?;
        Ok(LandedPart { number, etag, size })
    }

    /// UploadPartCopy: the server copies `range` (offset, length) of `from`, an object of the same bucket,
    /// into part `number`, only while `from` still has the ETag `if_match`.
    pub(super) async fn copy_part(
        &self,
        (key, upload_id, number): (&str, &str, u32),
        from: &str,
        (offset, len): (u64, u64),
        if_match: Option<&str>,
    ) -> Result<LandedPart, UploadError> {
        let what = format!("copying part {number} of '{key}' from '{from}' on the server");
        let url = self.url(
            key,
            &format!("partNumber={number}&uploadId={}", encode_query(upload_id)),
        );
        let headers = self.copy_part_headers(from, (offset, len), if_match);
        let answer = self
            .call(
                &what,
                http::Method::PUT,
                url,
                &headers,
                Buffer::new(),
                self.http.policy.commit_deadline(),
            )
            .await?;
        #[derive(Deserialize)]
        struct CopyPartResult {
            #[serde(rename = "ETag")]
            etag: String,
        }
        let parsed: CopyPartResult = quick_xml::de::from_reader(answer.body.as_ref())
            .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
        Ok(LandedPart {
            number,
            etag: parsed.etag,
            size: len,
        })
    }

    fn copy_part_headers(
        &self,
        from: &str,
        (offset, len): (u64, u64),
        if_match: Option<&str>,
    ) -> Vec<(String, String)> {
        let source = format!(
            "/{}/{}",
            self.bucket,
            encode_path(&absolute_key(&self.config, from))
        );
        let mut headers = vec![
            ("x-amz-copy-source".to_string(), source),
            (
                "x-amz-copy-source-range".to_string(),
                format!("bytes={offset}-{}", offset + len.max(1) - 1),
            ),
        ];
        if let Some(etag) = if_match {
            headers.push(("x-amz-copy-source-if-match".to_string(), etag.to_string()));
        }
        headers
    }

    pub(super) async fn landed(&self, key: &str, upload_id: &str) -> Result<Landed, UploadError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ListParts {
            #[serde(default)]
            part: Vec<Part>,
            #[serde(default)]
            is_truncated: bool,
            next_part_number_marker: Option<u32>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Part {
            part_number: u32,
            #[serde(rename = "ETag")]
            etag: Option<String>,
            size: Option<u64>,
        }
        let what = format!("listing the parts of '{key}'");
        let mut out = Vec::new();
        let mut marker = 0u32;
        loop {
            let url = self.url(
                key,
                &format!(
                    "part-number-marker={marker}&uploadId={}",
                    encode_query(upload_id)
                ),
            );
            let body = match self
                .call(
                    &what,
                    http::Method::GET,
                    url,
                    &[],
                    Buffer::new(),
                    self.http.policy.timeout(),
                )
                .await
            {
                Err(e) if e.gone => return Ok(Landed::Gone),
                other => other?,
            };
            let page: ListParts = quick_xml::de::from_reader(body.body.as_ref())
                .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
            for p in page.part {
                // Without its ETag and size, a listed part cannot be told from another upload's.
                let (Some(etag), Some(size)) = (p.etag.filter(|e| !e.is_empty()), p.size) else {
                    return Ok(Landed::Untrusted {
                        why: format!(
                            "remote '{}' lists part {} of '{key}' without its ETag or size",
                            self.http.remote, p.part_number
                        ),
                    });
                };
                out.push(LandedPart {
                    number: p.part_number,
                    etag,
                    size,
                });
            }
            match page.next_part_number_marker {
                Some(next) if page.is_truncated && next > marker => marker = next,
                _ => break,
            }
        }
        Ok(Landed::Parts(out))
    }

    pub(super) async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[LandedPart],
    ) -> Result<(), UploadError> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.number,
                xml_escape(&p.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let what = format!("completing the upload of '{key}'");
        let url = self.url(key, &format!("uploadId={}", encode_query(upload_id)));
        let headers = [("content-type".to_string(), "application/xml".to_string())];
        self.call(
            &what,
            http::Method::POST,
            url,
            &headers,
            Buffer::from(xml),
            self.http.policy.commit_deadline(),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn abort(&self, key: &str, upload_id: &str) -> Result<(), UploadError> {
        let what = format!("aborting the upload of '{key}'");
        let url = self.url(key, &format!("uploadId={}", encode_query(upload_id)));
        match self
            .call(
                &what,
                http::Method::DELETE,
                url,
                &[],
                Buffer::new(),
                self.http.policy.timeout(),
            )
            .await
        {
            Err(e) if e.gone => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub(super) async fn list_incomplete(
        &self,
        prefix: &str,
    ) -> Result<Vec<IncompleteUpload>, UploadError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Listing {
            #[serde(default)]
            upload: Vec<Upload>,
            #[serde(default)]
            is_truncated: bool,
            next_key_marker: Option<String>,
            next_upload_id_marker: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Upload {
            key: String,
            upload_id: String,
            #[serde(default)]
            initiated: String,
        }
        let what = "listing unfinished uploads";
        let abs_prefix = absolute_key(&self.config, prefix);
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut query = format!("uploads&prefix={}", encode_query(&abs_prefix));
            if !key_marker.is_empty() {
                query.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode_query(&key_marker),
                    encode_query(&id_marker)
                ));
            }
            let url = format!("{}/?{query}", self.base);
            let body = self
                .call(
                    what,
                    http::Method::GET,
                    url,
                    &[],
                    Buffer::new(),
                    self.http.policy.timeout(),
                )
                .await?;
            let page: Listing = quick_xml::de::from_reader(body.body.as_ref())
                .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
            out.extend(page.upload.into_iter().map(|u| IncompleteUpload {
                key: relative_key(&self.config, &u.key),
                upload_id: u.upload_id,
                initiated: u.initiated,
            }));
            match (page.next_key_marker, page.next_upload_id_marker) {
                (Some(k), Some(i)) if page.is_truncated && (k != key_marker || i != id_marker) => {
                    key_marker = k;
                    id_marker = i;
                }
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploads(extra: &str) -> Result<S3Uploads, String> {
        let text = format!(
            "[remotes.s]\ntype = \"s3\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:9\"\n\
             access_key_id = \"ak\"\nsecret_access_key = \"sk\"\n{extra}"
        );
        let c = crate::config::RemotesConfig::parse(
            &text,
            crate::config::ConfigSource::Embedded,
            &Default::default(),
        )
        .unwrap();
        S3Uploads::new(
            c.get("s").unwrap(),
            crate::remote::RequestPolicy::for_remote(c.get("s").unwrap()),
        )
    }

    #[tokio::test]
    async fn the_remotes_encryption_class_and_payer_go_on_the_upload() {
        let u = uploads(
            "server_side_encryption = \"aws:kms\"\nserver_side_encryption_aws_kms_key_id = \"k1\"\n\
             default_storage_class = \"STANDARD_IA\"\nenable_request_payer = true\n",
        )
        .unwrap();
        let start: HashMap<_, _> = u.at_start.iter().cloned().collect();
        assert_eq!(start["x-amz-server-side-encryption"], "aws:kms");
        assert_eq!(start["x-amz-server-side-encryption-aws-kms-key-id"], "k1");
        assert_eq!(start["x-amz-storage-class"], "STANDARD_IA");
        assert_eq!(
            u.every,
            [("x-amz-request-payer".to_string(), "requester".to_string())]
        );
        let plain = uploads("").unwrap();
        assert!(plain.at_start.is_empty() && plain.every.is_empty());
    }

    #[test]
    fn a_part_copied_on_the_server_names_its_source_range_and_version() {
        let u = uploads("root = \"/backup\"\n").unwrap();
        let h: HashMap<_, _> = u
            .copy_part_headers("a b/x.bin", (8 << 20, 8 << 20), Some("\"e1\""))
            .into_iter()
            .collect();
        assert_eq!(h["x-amz-copy-source"], "/b/backup/a%20b/x.bin");
        assert_eq!(h["x-amz-copy-source-range"], "bytes=8388608-16777215");
        assert_eq!(h["x-amz-copy-source-if-match"], "\"e1\"");
        let unpinned = u.copy_part_headers("k", (0, 5), None);
        assert_eq!(unpinned.len(), 2);
        assert_eq!(unpinned[1].1, "bytes=0-4");
    }

    #[tokio::test]
    async fn options_this_client_cannot_send_leave_large_objects_to_opendal() {
        for extra in [
            "role_arn = \"arn:aws:iam::1:role/r\"\n",
            "checksum_algorithm = \"crc32c\"\n",
            "server_side_encryption_customer_algorithm = \"AES256\"\n",
        ] {
            let e = uploads(extra).err().expect(extra);
            assert!(e.contains("OpenDAL"), "{e}");
        }
    }
}
