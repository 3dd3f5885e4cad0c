//! A second backup that shares most of its objects with one already at the destination sends only the new
//! ones: the shared objects are found by BLAKE3 in the earlier tree's manifest and copied on the destination's
//! side. A destination object changed since its manifest was written is never used as a source.

mod support;

use std::path::Path;

use support::*;

/// Two backups on the source: day2 holds day1's objects (some large, multipart) and some new ones.
fn two_days(root: &Path) -> (Tree, Tree) {
    let mut day1 = Tree::new();
    for i in 0..12 {
        let len = if i < 2 { 6 << 20 } else { 1000 + i * 300 };
        day1.insert(
            format!("binlogs/insert_log/1/2/{i}/0/1"),
            bytes(i as u64, len),
        );
    }
    let mut day2 = day1.clone();
    for i in 0..3 {
        day2.insert(
            format!("binlogs/insert_log/1/2/new{i}/0/1"),
            bytes(100 + i, 5000),
        );
    }
    day2.insert("meta/backup_meta.json".into(), b"{\"day\":2}".to_vec());
    day1.insert("meta/backup_meta.json".into(), b"{\"day\":1}".to_vec());
    for (name, tree) in [("day1", &day1), ("day2", &day2)] {
        for (k, v) in tree {
            let p = root.join("stage").join(name).join(k);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        }
    }
    (day1, day2)
}

fn bytes_of(tree: &Tree, keys: impl Fn(&str) -> bool) -> u64 {
    tree.iter()
        .filter(|(k, _)| keys(k))
        .map(|(_, v)| v.len() as u64)
        .sum()
}

/// `mbx --json transfer ARGS…` with `config`, which must exit 0; its summary.
fn transfer(config: &Path, state: &Path, args: &[&str]) -> serde_json::Value {
    let out = mbx_with(config, state, &[&["--json", "transfer"], args].concat());
    assert_exit(&out, 0);
    summary(&out)
}

/// The source trees get their manifests the way backups do: written by mbx.
fn seed(config: &Path, state: &Path) {
    for day in ["day1", "day2"] {
        transfer(config, state, &[&format!("stage:{day}"), "src:backup/"]);
    }
}

#[test]
fn a_second_backup_sends_only_its_new_objects_between_local_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (day1, day2) = two_days(root);
    for r in ["src", "dst"] {
        std::fs::create_dir_all(root.join(r)).unwrap();
    }
    let config = root.join("remotes.toml");
    let remote = |name: &str| {
        format!(
            "[remotes.{name}]\ntype = \"fs\"\nroot = \"{}\"\n",
            root.join(name).display()
        )
    };
    std::fs::write(
        &config,
        [remote("stage"), remote("src"), remote("dst")].concat(),
    )
    .unwrap();
    let state = root.join("state");
    seed(&config, &state);
    transfer(&config, &state, &["src:backup/day1", "dst:backup/"]);
    // Two shared objects changed at the destination after day1's manifest was written: one with a later
    // modification time, one rewritten within the same second (same size, other bytes).
    let changed_later = root.join("dst/backup/day1/binlogs/insert_log/1/2/3/0/1");
    std::fs::write(
        &changed_later,
        vec![0u8; day1["binlogs/insert_log/1/2/3/0/1"].len()],
    )
    .unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(&changed_later)
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        .unwrap();
    let rewritten = root.join("dst/backup/day1/binlogs/insert_log/1/2/4/0/1");
    std::fs::write(
        &rewritten,
        vec![7u8; day1["binlogs/insert_log/1/2/4/0/1"].len()],
    )
    .unwrap();

    let s = transfer(
        &config,
        &state,
        &["src:backup/day2", "dst:backup/", "--verify"],
    );
    let shared = |k: &str| day1.get(k).is_some_and(|v| day2.get(k) == Some(v));
    let unusable = [
        "binlogs/insert_log/1/2/3/0/1",
        "binlogs/insert_log/1/2/4/0/1",
    ];
    let found = |k: &str| shared(k) && !unusable.contains(&k);
    let found_count = day2.keys().filter(|k| found(k)).count() as u64;
    assert_eq!(s["copied"], day2.len() as u64, "{s}");
    assert_eq!(s["found"], found_count, "{s}");
    assert_eq!(s["found_bytes"], bytes_of(&day2, found), "{s}");
    assert_eq!(s["sent_bytes"], bytes_of(&day2, |k| !found(k)), "{s}");
    assert!(
        s["sent_bytes"].as_u64().unwrap() * 5 < s["copied_bytes"].as_u64().unwrap(),
        "most bytes did not cross: {s}"
    );
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    for (k, v) in &day2 {
        assert_eq!(
            &std::fs::read(root.join("dst/backup/day2").join(k)).unwrap(),
            v,
            "{k}"
        );
    }
    // --no-dedup sends everything again.
    let s = transfer(
        &config,
        &state,
        &["src:backup/day2", "dst:again/", "--no-dedup"],
    );
    assert_eq!(s["found"], 0, "{s}");
    assert_eq!(s["sent_bytes"], bytes_of(&day2, |_| true), "{s}");
}

/// On an S3 server, the shared objects are server-side copies: the summary counts them as not sent, the bytes
/// that reach the destination's server (counted by a proxy in front of it) are the new objects and the
/// manifest, and verification reads them back. The large shared objects are over the remote's lowered
/// single-copy limit, so they are copied in parts on the server.
#[tokio::test]
async fn a_second_backup_is_copied_server_side_on_s3() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (day1, day2) = two_days(dir.path());
    let proxy = support::proxy::FaultProxy::start(&remote_option("s3b", "endpoint"));
    let config = remotes_file_with(
        dir.path(),
        &format!(
            "[remotes.stage]\ntype = \"fs\"\nroot = \"{}\"\n\n[remotes.near]\ntype = \"minio\"\n\
             endpoint = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
             max_server_copy = \"1MiB\"\n",
            dir.path().join("stage").display(),
            proxy.endpoint(),
            remote_option("s3b", "bucket"),
            remote_option("s3b", "access_key_id"),
            remote_option("s3b", "secret_access_key"),
        ),
    );
    let state = dir.path().join("state");
    let root = unique("dedup");
    for day in ["day1", "day2"] {
        transfer(
            &config,
            &state,
            &[&format!("stage:{day}"), &format!("s3a:{root}/src/")],
        );
    }
    let (day1_src, day2_src) = (
        format!("s3a:{root}/src/day1"),
        format!("s3a:{root}/src/day2"),
    );
    let dst = format!("near:{root}/backup/");
    transfer(&config, &state, &[&day1_src, &dst, "--part-size", "5MiB"]);
    proxy.reset_stats();
    let s = transfer(
        &config,
        &state,
        &[&day2_src, &dst, "--part-size", "5MiB", "--verify"],
    );
    let shared = |k: &str| day1.get(k).is_some_and(|v| day2.get(k) == Some(v));
    assert_eq!(
        s["found"],
        day2.keys().filter(|k| shared(k)).count() as u64,
        "{s}"
    );
    let new_bytes = bytes_of(&day2, |k| !shared(k));
    assert_eq!(s["sent_bytes"], new_bytes, "{s}");
    let manifest = remote("s3b")
        .op()
        .stat(&format!("{root}/backup/day2/.mbx/manifest.json"))
        .await
        .unwrap()
        .content_length();
    let put = proxy.put_bytes();
    assert!(
        (new_bytes..=new_bytes + manifest).contains(&put),
        "{put} bytes reached the server for {new_bytes} new bytes and a {manifest}-byte manifest: {}",
        proxy.stats()
    );
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    let got = read_tree(&remote("s3b"), &format!("{root}/backup/day2")).await;
    assert_same_tree(&got, &day2);
}
