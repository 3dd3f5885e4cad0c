//! Restore beyond the happy path, on a real Milvus 2.3.5: a corrupt backup is refused before Milvus is
//! touched; backups laid out as older milvus-backup releases wrote them (level meta files only, no
//! `full_meta.json`, no manifest, `group_id` 0 with partition-level dirs) restore; and a backup kept in another
//! bucket is staged into Milvus's own bucket and the staged copy removed; a partition-key collection comes back
//! with its partition count and its properties (TTL), so a filter on the key finds its rows.

mod support;

use support::*;

async fn copy_key(r: &mbx::remote::Remote, from: &str, to: &str) {
    let body = r
        .op()
        .read(from)
        .await
        .unwrap_or_else(|e| panic!("read {from}: {e}"));
    r.op()
        .write(to, body.to_vec())
        .await
        .unwrap_or_else(|e| panic!("write {to}: {e}"));
}

/// Rewrites backup `name` on `r` as a pre-v0.4.4 milvus-backup backup named `old`: no group dirs, group_id 0,
/// the four level files only.
async fn make_old_layout(r: &mbx::remote::Remote, name: &str, old: &str) {
    use mbx::milvus::meta;
    let src = format!("backup/{name}");
    let dst = format!("backup/{old}");
    for (rel, _) in read_tree(r, &src).await {
        let parts: Vec<&str> = rel.split('/').collect();
        let new_rel = match parts.as_slice() {
            ["binlogs", "insert_log", c, p, _g, s, f, l] => {
                format!("binlogs/insert_log/{c}/{p}/{s}/{f}/{l}")
            }
            ["binlogs", "delta_log", c, p, _g, s, l] => {
                format!("binlogs/delta_log/{c}/{p}/{s}/{l}")
            }
            ["meta", "segment_meta.json"] => {
                let body = r.op().read(&format!("{src}/{rel}")).await.unwrap().to_vec();
                let mut segs: meta::SegmentLevelBackupInfo =
                    meta::from_go_json(&body, "segment_meta.json").unwrap();
                for s in &mut segs.infos {
                    s.group_id = 0;
                }
                r.op()
                    .write(&format!("{dst}/{rel}"), meta::to_go_json(&segs).unwrap())
                    .await
                    .unwrap();
                continue;
            }
            ["meta", "full_meta.json"] => continue,
            ["meta", _] => rel.clone(),
            _ => continue,
        };
        copy_key(r, &format!("{src}/{rel}"), &format!("{dst}/{new_rel}")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_old_layout_and_cross_bucket_restores() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("rv").replace('-', "_");
    let name = format!("{coll}_bk");
    seeded_backup(state.path(), &coll, &name);
    let a = remote("milvus_a");

    // milvus-backup's own backup.yaml works in place of a remote.
    let (host, port) = milvus_addr("a")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .unwrap();
    let s3 = remote_option("milvus_a", "endpoint");
    let (s3_host, s3_port) = s3
        .trim_start_matches("http://")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .unwrap();
    let yaml = state.path().join("backup.yaml");
    std::fs::write(
        &yaml,
        format!(
            "milvus:\n  address: {host}\n  port: {port}\n  user: \"\"\n  password: \"\"\nminio:\n  storageType: \"minio\"\n  address: {s3_host}\n  port: {s3_port}\n  accessKeyID: {}\n  secretAccessKey: {}\n  useSSL: false\n  bucketName: \"milvus-a\"\n  rootPath: \"files\"\n  backupBucketName: \"milvus-a\"\n  backupRootPath: \"backup\"\n",
            remote_option("milvus_a", "access_key_id"),
            remote_option("milvus_a", "secret_access_key"),
        ),
    )
    .unwrap();
    let out = mbx(
        state.path(),
        &["list", "--backup-yaml", yaml.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&name));

    // 1. A corrupt binlog: restore names it and creates nothing.
    let bad = format!("{name}_bad");
    assert_exit(
        &mbx(
            state.path(),
            &[
                "transfer",
                &format!("milvus_a:backup/{name}"),
                &format!("milvus_a:backup/{bad}"),
            ],
        ),
        0,
    );
    let victim = read_tree(&a, &format!("backup/{bad}"))
        .await
        .into_iter()
        .find(|(k, v)| k.starts_with("binlogs/insert_log/") && v.len() > 100)
        .unwrap();
    let mut body = victim.1.clone();
    body[50] ^= 1;
    a.op()
        .write(&format!("backup/{bad}/{}", victim.0), body)
        .await
        .unwrap();
    let out = mbx(
        state.path(),
        &[
            "restore", "--remote", "milvus_a", "-n", &bad, "--suffix", "_bad",
        ],
    );
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&victim.0) && err.contains("nothing was restored"),
        "{err}"
    );
    let out = mbx(
        state.path(),
        &[
            "restore",
            "--remote",
            "milvus_a",
            "-n",
            &bad,
            "--suffix",
            "_bad",
            "--meta-only",
        ],
    );
    assert_exit(&out, 0); // the collection did not exist: nothing had been created by the refused run

    // 2. An old milvus-backup layout restores into the same Milvus.
    let old = format!("{name}_old");
    make_old_layout(&a, &name, &old).await;
    let out = mbx(
        state.path(),
        &[
            "--json", "restore", "--remote", "milvus_a", "-n", &old, "--suffix", "_old",
        ],
    );
    assert_exit(&out, 0);
    assert_same_collection("a", &coll, "a", &format!("{coll}_old"));

    // 3. The backup in another bucket than Milvus B's: staged into B's bucket, then removed.
    let extra = format!(
        "[remotes.b_elsewhere]\ntype = \"minio\"\nendpoint = \"{}\"\nbucket = \"mbx\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
         [remotes.b_elsewhere.milvus]\naddress = \"{}\"\nstorage_remote = \"milvus_b\"\nbackup_root = \"elsewhere\"\n",
        remote_option("milvus_b", "endpoint"),
        remote_option("milvus_b", "access_key_id"),
        remote_option("milvus_b", "secret_access_key"),
        milvus_addr("b"),
    );
    let config = remotes_file_with(state.path(), &extra);
    assert_exit(
        &mbx_with(
            &config,
            state.path(),
            &[
                "transfer",
                &format!("milvus_a:backup/{name}"),
                "b_elsewhere:elsewhere/",
            ],
        ),
        0,
    );
    let out = mbx_with(
        &config,
        state.path(),
        &[
            "--json",
            "restore",
            "--remote",
            "b_elsewhere",
            "-n",
            &name,
            "--suffix",
            "_x",
        ],
    );
    assert_exit(&out, 0);
    assert_same_collection("a", &coll, "b", &format!("{coll}_x"));
    let b = remote("milvus_b");
    let staged: Vec<String> = b
        .op()
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path().to_string())
        .filter(|p| p.starts_with("mbx-restore-"))
        .collect();
    assert!(staged.is_empty(), "staged copy left behind: {staged:?}");

    // 4. An interrupted create (binlogs partly copied, no full_meta.json) resumes under the same name.
    let tree = read_tree(&a, &format!("backup/{name}")).await;
    let binlogs: Vec<&String> = tree.keys().filter(|k| k.starts_with("binlogs/")).collect();
    for k in binlogs.iter().take(2) {
        a.op().delete(&format!("backup/{name}/{k}")).await.unwrap();
    }
    a.op()
        .delete(&format!("backup/{name}/meta/full_meta.json"))
        .await
        .unwrap();
    let out = mbx(
        state.path(),
        &[
            "--json", "create", "--remote", "milvus_a", "-c", &coll, "-n", &name,
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    let copied = s["backup"]["copied"].as_u64().unwrap();
    assert!(
        copied >= 2 && (copied as usize) < binlogs.len(),
        "resumed create copied {copied} of {}: {s}",
        binlogs.len()
    );
    assert_exit(
        &mbx(
            state.path(),
            &["verify", &format!("milvus_a:backup/{name}")],
        ),
        0,
    );
}

/// Milvus hashes a partition key over the collection's partitions (16 here, not the default 64): restored with
/// another count, every row is still there but `k == v` looks in the wrong partition. Properties such as the
/// TTL live on the collection, not in a 2.3 schema.
#[tokio::test(flavor = "multi_thread")]
async fn partition_key_collection_keeps_its_partitions_and_properties() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("keyed").replace('-', "_");
    let name = format!("{coll}_bk");
    let seeded = milvus_scenario(&[
        "seed-keyed",
        "--addr",
        &milvus_addr("a"),
        "--collection",
        &coll,
    ]);
    assert_eq!(seeded["partitions"], 16, "{seeded}");
    for args in [
        vec!["create", "--remote", "milvus_a", "-c", &coll, "-n", &name],
        vec![
            "transfer",
            &format!("milvus_a:backup/{name}"),
            "milvus_b:backup/",
        ],
        vec![
            "restore", "--remote", "milvus_b", "-n", &name, "--suffix", "_r",
        ],
    ] {
        assert_exit(&mbx(state.path(), &args), 0);
    }
    let report = milvus_scenario(&[
        "compare-keyed",
        "--a",
        &milvus_addr("a"),
        "--a-collection",
        &coll,
        "--b",
        &milvus_addr("b"),
        "--b-collection",
        &format!("{coll}_r"),
    ]);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["partitions"], 16, "{report}");
    assert_eq!(
        report["properties"]["collection.ttl.seconds"], "864000",
        "{report}"
    );
}
