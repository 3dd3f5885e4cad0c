//! What a remote asks of every object (a checksum algorithm, a customer-provided key) is on large objects too,
//! which go in resumable parts through mbx's own upload client, and on an upload resumed after kill -9.

mod support;

use std::path::Path;

use support::*;

/// The remote `name` on the test server `base` (its endpoint and keys), with `extra` options.
fn like(base: &str, name: &str, extra: &str) -> String {
    s3_remote_like(base, name, &remote_option(base, "endpoint"), extra)
}

/// A tree of `big.bin` (`size` bytes) and a small file on the `local` test remote, under a new root.
async fn local_tree(test: &str, size: usize) -> (String, Tree) {
    let root = unique(test);
    let tree: Tree = [
        ("big.bin".to_string(), bytes(size as u64, size)),
        ("small.txt".to_string(), b"small".to_vec()),
    ]
    .into_iter()
    .collect();
    put_tree(&remote("local"), &root, &tree).await;
    (root, tree)
}

/// Sends a 13 MiB object and a small one in 5 MiB parts, verified by reading them back; returns the root,
/// which holds them at `ROOT/ROOT/` on `to`.
async fn sends_verified(config: &Path, to: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = local_tree("honours", 13 << 20).await;
    let out = mbx_with(
        config,
        dir.path(),
        &[
            "--json",
            "transfer",
            &format!("local:{root}"),
            &format!("{to}:{root}/"),
            "--part-size",
            "5MiB",
            "--verify",
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["copied"], 2, "{s}");
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    root
}

/// `checksum_algorithm = "crc32c"`: the store records CRC32C as the large object's algorithm (moto keeps what
/// the upload was started with), and its parts were accepted with their checksums.
#[tokio::test(flavor = "multi_thread")]
async fn a_checksum_algorithm_is_on_large_objects() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let extra = like("moto", "moto_crc", "checksum_algorithm = \"crc32c\"\n")
        + "\n"
        + &like("moto", "moto_md5", "checksum_algorithm = \"md5\"\n");
    let config = remotes_file_with(dir.path(), &extra);
    let root = sends_verified(&config, "moto_crc").await;
    sends_verified(&config, "moto_md5").await;

    // The algorithm the large object's upload was started with, as the store reports it.
    let url = format!(
        "{}/{}/{root}/{root}/big.bin",
        remote_option("moto", "endpoint"),
        remote_option("moto", "bucket")
    );
    let head = reqwest::Client::new()
        .head(&url)
        .header("x-amz-checksum-mode", "ENABLED")
        .send()
        .await
        .expect("HEAD the object");
    assert!(head.status().is_success(), "{url}: {}", head.status());
    let algorithm = head.headers().get("x-amz-checksum-algorithm");
    assert_eq!(
        algorithm.and_then(|v| v.to_str().ok()),
        Some("CRC32C"),
        "{:?}",
        head.headers()
    );
}

/// Killed after a part landed, the CRC32C upload continues from its journaled parts (with their checksums)
/// and completes; the object is whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_crc32c_upload_resumes_after_kill_9() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = remotes_file_with(
        dir.path(),
        &like("moto", "moto_crc", "checksum_algorithm = \"crc32c\"\n"),
    );
    let (root, tree) = local_tree("crc-resume", 40 << 20).await;
    let state = tempfile::tempdir().unwrap();
    let args = [
        "--json",
        "transfer",
        &format!("local:{root}"),
        &format!("moto_crc:{root}/"),
        "--part-size",
        "5MiB",
        "--bwlimit",
        "8MiB",
    ];
    let mut child = spawn_mbx_with(&config, state.path(), &args);
    let landed = wait_for_a_landed_part(&mut child, state.path());
    assert!(landed, "the transfer ended before a part landed");
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    let _ = child.wait();
    let resumed = mbx_with(&config, state.path(), &[&args[..], &["--verify"]].concat());
    assert_exit(&resumed, 0);
    let s = summary(&resumed);
    assert!(s["resumed_bytes"].as_u64().unwrap_or(0) >= 5 << 20, "{s}");
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    let got = read_tree(&remote("moto"), &format!("{root}/{root}")).await;
    assert_same_tree(&got, &tree);
}

/// A customer-provided key on S3 (SSE-C) and on Azure (CPK): large objects land and read back with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_customer_key_is_on_large_objects() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key =
        "server_side_encryption_customer_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n";
    let mut extra = like("moto", "moto_ssec", key) + "\n";
    extra += "[remotes.azure_cpk]\ntype = \"azblob\"\n";
    for k in ["endpoint", "container", "account_name", "account_key"] {
        extra += &format!("{k} = \"{}\"\n", remote_option("azure", k));
    }
    extra += "encryption_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n";
    let config = remotes_file_with(dir.path(), &extra);
    sends_verified(&config, "moto_ssec").await;
    sends_verified(&config, "azure_cpk").await;
}
