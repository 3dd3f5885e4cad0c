//! The seed page in three commands on two real Milvus 2.3.5 instances, each on its own S3 server:
//! `mbx create` on A, `mbx transfer` A → B, `mbx restore` on B; then B's copy answers like A.

mod support;

use support::*;

fn unique_name(tag: &str) -> String {
    unique(tag).replace('-', "_")
}

#[tokio::test(flavor = "multi_thread")]
async fn create_transfer_restore_between_two_milvus() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique_name("coll");
    let backup = unique_name("bk");
    let seeded = milvus_scenario(&["seed", "--addr", &milvus_addr("a"), "--collection", &coll]);

    // 1. create
    let out = mbx(
        state.path(),
        &[
            "--json", "create", "--remote", "milvus_a", "-c", &coll, "-n", &backup,
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["backup"]["collections"], 1, "{s}");
    assert!(s["backup"]["segments"].as_u64().unwrap() >= 3, "{s}");

    // The layout is milvus-backup's: insert logs at C/P/S/S/F/L, delta logs at C/P/S/S/L, five meta files.
    let a = remote("milvus_a");
    let dir = format!("backup/{backup}");
    let keys = read_tree(&a, &dir).await;
    let insert: Vec<&String> = keys
        .keys()
        .filter(|k| k.starts_with("binlogs/insert_log/"))
        .collect();
    let delta: Vec<&String> = keys
        .keys()
        .filter(|k| k.starts_with("binlogs/delta_log/"))
        .collect();
    assert!(
        !insert.is_empty() && !delta.is_empty(),
        "{:?}",
        keys.keys().collect::<Vec<_>>()
    );
    for k in &insert {
        let parts: Vec<&str> = k.split('/').collect();
        assert_eq!(parts.len(), 8, "{k}");
        assert_eq!(parts[4], parts[5], "group dir = segment id: {k}");
        assert!(parts[2..].iter().all(|p| p.parse::<i64>().is_ok()), "{k}");
    }
    for k in &delta {
        let parts: Vec<&str> = k.split('/').collect();
        assert_eq!(parts.len(), 7, "{k}");
        assert_eq!(parts[4], parts[5], "{k}");
    }
    for f in [
        "backup_meta",
        "collection_meta",
        "partition_meta",
        "segment_meta",
        "full_meta",
    ] {
        assert!(
            keys.contains_key(&format!("meta/{f}.json")),
            "meta/{f}.json missing"
        );
    }
    let full: serde_json::Value = serde_json::from_slice(&keys["meta/full_meta.json"]).unwrap();
    assert_eq!(full["state_code"], 0);
    assert_eq!(full["name"], backup.as_str());
    let c = &full["collection_backups"][0];
    assert_eq!(c["collection_name"], coll.as_str());
    assert!(c["collection_id"].is_i64(), "ids are bare JSON numbers");
    assert_eq!(c["has_index"], true);
    assert_eq!(c["index_infos"][0]["index_type"], "IVF_FLAT");
    let field_types: Vec<i64> = c["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["data_type"].as_i64().unwrap())
        .collect();
    assert_eq!(
        field_types,
        vec![5, 101, 21, 23],
        "int64 pk, float vector, varchar, JSON"
    );
    let rows: i64 = c["partition_backups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["segment_backups"].as_array().unwrap())
        .map(|s| s["num_of_rows"].as_i64().unwrap())
        .sum();
    assert_eq!(rows, 10_000, "rows backed up, deletes included");
    let seg = &c["partition_backups"][0]["segment_backups"][0];
    assert!(
        seg["binlogs"][0].get("fieldID").is_none(),
        "field 0 has no fieldID key (omitempty)"
    );
    assert!(
        seg["binlogs"][0]["binlogs"][0]["log_path"]
            .as_str()
            .unwrap()
            .starts_with("files/insert_log/")
    );
    let backup_meta: serde_json::Value =
        serde_json::from_slice(&keys["meta/backup_meta.json"]).unwrap();
    assert!(
        backup_meta.get("collection_backups").is_none(),
        "backup_meta.json holds only the top level"
    );
    // The manifest's hashes match the objects.
    assert_exit(
        &mbx(state.path(), &["verify", &format!("milvus_a:{dir}")]),
        0,
    );

    // list / get / a second create with the same name
    let out = mbx(state.path(), &["list", "--remote", "milvus_a"]);
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&backup));
    let out = mbx(
        state.path(),
        &["--json", "get", "--remote", "milvus_a", "-n", &backup],
    );
    assert_exit(&out, 0);
    let again = mbx(
        state.path(),
        &["create", "--remote", "milvus_a", "-c", &coll, "-n", &backup],
    );
    assert_exit(&again, 2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // 2. transfer
    let out = mbx(
        state.path(),
        &[
            "--json",
            "transfer",
            &format!("milvus_a:backup/{backup}"),
            "milvus_b:backup/",
            "--verify",
        ],
    );
    assert_exit(&out, 0);

    // 3. restore
    let out = mbx(
        state.path(),
        &[
            "--json", "restore", "--remote", "milvus_b", "-n", &backup, "--suffix", "_bak",
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        s["restore"]["collections"][0]["rows"], seeded["rows"],
        "{s}"
    );
    assert_same_collection("a", &coll, "b", &format!("{coll}_bak"));

    // Restoring onto an existing collection is refused; delete removes the backup.
    let out = mbx(
        state.path(),
        &[
            "restore", "--remote", "milvus_b", "-n", &backup, "--suffix", "_bak",
        ],
    );
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_exit(
        &mbx(
            state.path(),
            &["delete", "--remote", "milvus_a", "-n", &backup],
        ),
        0,
    );
    assert!(read_tree(&a, &dir).await.is_empty());
    assert_exit(
        &mbx(
            state.path(),
            &["delete", "--remote", "milvus_a", "-n", &backup],
        ),
        2,
    );
}
