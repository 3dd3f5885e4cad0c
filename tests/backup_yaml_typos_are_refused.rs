//! A milvus-backup `backup.yaml` with a key mbx does not know is refused before anything connects: the message
//! names the key's path and never a secret, and the exit code is 2. (Before, a typo or a config v2 file fell back
//! to localhost:19530 and localhost:9000.)

mod support;

use std::time::{Duration, Instant};

use support::*;

fn run_with_yaml(yaml: &str) -> (std::process::Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.yaml");
    std::fs::write(&file, yaml).unwrap();
    let remotes = dir.path().join("remotes.toml");
    std::fs::write(&remotes, "").unwrap();
    let started = Instant::now();
    let out = mbx_with(
        &remotes,
        dir.path(),
        &["list", "--backup-yaml", file.to_str().unwrap()],
    );
    (out, started.elapsed())
}

#[test]
fn a_misspelt_key_is_named_and_nothing_connects() {
    let (out, took) = run_with_yaml(
        "milvus:\n  address: 127.0.0.1\n  port: 1\nminio:\n  address: 127.0.0.1\n  port: 1\n  secretAccessKey: s3cr3t-value\n  bucketNme: b\n",
    );
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'minio.bucketNme'") && err.contains("bucketName"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-value"), "{err}");
    assert!(
        took < Duration::from_secs(5),
        "refused after {took:?}: it tried to connect"
    );
}

#[test]
fn a_v2_key_without_the_version_says_to_add_it() {
    let (out, _) = run_with_yaml("milvus:\n  grpc:\n    address: 127.0.0.1\n    port: 1\n");
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'milvus.grpc'") && err.contains("configVersion: v2"),
        "{err}"
    );
}

#[test]
fn a_v2_part_mbx_cannot_read_is_refused_by_key() {
    let (out, _) = run_with_yaml(
        "configVersion: v2\nmilvus:\n  grpc: {address: 127.0.0.1, port: 1}\n  storage:\n    provider: aws\n    auth: {type: iam}\n",
    );
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'milvus.storage.auth.type'"), "{err}");
}
