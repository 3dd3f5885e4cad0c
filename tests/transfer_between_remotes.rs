//! `mbx transfer` moves a mixed tree between every kind of remote, byte for byte, with a manifest, and a
//! second run has nothing to copy.

mod support;

use support::*;

async fn round_trip(src_name: &str, dst_name: &str, small: usize, large: usize) {
    let src = remote(src_name);
    let dst = remote(dst_name);
    let state = tempfile::tempdir().unwrap();
    let root = unique(&format!("{src_name}-{dst_name}"));
    let tree = mixed_tree(small, large);
    put_tree(&src, &format!("{root}/my_backup"), &tree).await;

    let args = [
        "--json",
        "transfer",
        &format!("{src_name}:{root}/my_backup"),
        &format!("{dst_name}:{root}/backup/"),
        "--part-size",
        "5MiB",
        "--verify",
    ];
    let out = mbx(state.path(), &args);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["copied"], tree.len() as u64, "{s}");
    assert_eq!(s["verify"]["checked"], tree.len() as u64, "{s}");
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );

    let got = read_tree(&dst, &format!("{root}/backup/my_backup")).await;
    assert_same_tree(&got, &tree);

    let manifest = dst
        .op()
        .read(&format!("{root}/backup/my_backup/.mbx/manifest.json"))
        .await
        .expect("manifest written");
    let manifest = mbx::transfer::Manifest::from_json(&manifest.to_vec()).unwrap();
    assert_eq!(manifest.objects.len(), tree.len());
    for e in &manifest.objects {
        assert_eq!(
            e.blake3,
            blake3::hash(&tree[&e.key]).to_hex().as_str(),
            "{}",
            e.key
        );
    }

    let again = mbx(state.path(), &args);
    assert_exit(&again, 0);
    let s = summary(&again);
    assert_eq!(s["copied"], 0, "second run copied again: {s}");
    assert_eq!(s["skipped"], tree.len() as u64, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fs_to_s3() {
    if skip_without_servers() {
        return;
    }
    round_trip("local", "s3a", 60, 12 << 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_to_s3_between_two_servers() {
    if skip_without_servers() {
        return;
    }
    round_trip("s3a", "s3b", 60, 12 << 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_to_azblob() {
    if skip_without_servers() {
        return;
    }
    round_trip("s3a", "azure", 40, 11 << 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn azblob_to_s3() {
    if skip_without_servers() {
        return;
    }
    round_trip("azure", "s3a", 40, 11 << 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_to_gcs() {
    if skip_without_servers() {
        return;
    }
    round_trip("s3a", "gcs", 40, 11 << 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gcs_to_fs() {
    if skip_without_servers() {
        return;
    }
    round_trip("gcs", "local", 40, 11 << 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn large_multipart_object_and_thousands_of_small_ones_s3_to_s3() {
    if skip_without_servers() {
        return;
    }
    round_trip("s3a", "s3b", 2000, 200 << 20).await;
}
