//! What a milvus-backup operator reaches for, on a real Milvus 2.3.5: a backup of several databases with
//! `--filter`, a restore that moves a whole database into another (`-r db1.*:db2.*`) and renames a collection
//! of the default database, a schema-only backup (`--strategy meta_only`), an import into a collection that
//! already exists (`--skip-create-collection`), milvus-backup's own flag spellings, and the GC pause's warning
//! where Milvus has no such endpoint (2.3.5 answers 404).

mod support;

use support::*;

fn restore(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["restore", "--remote", "milvus_a"];
    all.extend_from_slice(args);
    mbx(state, &all)
}

#[tokio::test(flavor = "multi_thread")]
async fn databases_filters_renames_and_skip_create() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let tag = std::process::id();
    let (db1, db2, db3) = (
        format!("dba{tag}"),
        format!("dbb{tag}"),
        format!("dbc{tag}"),
    );
    let (c1, c2) = (format!("ca{tag}"), format!("cb{tag}"));
    milvus_scenario(&[
        "seed",
        "--addr",
        &milvus_addr("a"),
        "--collection",
        &c1,
        "--database",
        &db1,
    ]);
    milvus_scenario(&["seed", "--addr", &milvus_addr("a"), "--collection", &c2]);

    // One backup of two databases.
    let name = format!("db{tag}");
    let filter = format!("{db1}.*,default.{c2}");
    let out = mbx(
        state.path(),
        &[
            "create", "--remote", "milvus_a", "--filter", &filter, "-n", &name,
        ],
    );
    assert_exit(&out, 0);
    // Milvus 2.3.5 has no GC pause endpoint (404): a warning with the risk, not an error.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not pause Milvus's garbage collection") && err.contains("404"),
        "{err}"
    );
    let got = mbx(
        state.path(),
        &["--json", "get", "--remote", "milvus_a", "-n", &name],
    );
    assert_exit(&got, 0);
    let info: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&got.stdout).lines().last().unwrap()).unwrap();
    let mut held: Vec<String> = info["collection_backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}.{}",
                c["db_name"].as_str().unwrap(),
                c["collection_name"].as_str().unwrap()
            )
        })
        .collect();
    held.sort();
    let mut want = vec![format!("{db1}.{c1}"), format!("default.{c2}")];
    want.sort();
    assert_eq!(held, want);

    // A whole database into another, and a default-database collection renamed, in milvus-backup's spelling.
    let renames = format!("{db1}.*:{db2}.*,{c2}:{c2}_r");
    let out = restore(
        state.path(),
        &["-n", &name, "-r", &renames, "--rebuild_index"],
    );
    assert_exit(&out, 0);
    let compare = |a_db: &str, a: &str, b_db: &str, b: &str| {
        let report = milvus_scenario(&[
            "compare",
            "--a",
            &milvus_addr("a"),
            "--a-collection",
            a,
            "--a-db",
            a_db,
            "--b",
            &milvus_addr("a"),
            "--b-collection",
            b,
            "--b-db",
            b_db,
        ]);
        assert_eq!(report["ok"], true, "{report}");
    };
    compare(&db1, &c1, &db2, &c1);
    compare("default", &c2, "default", &format!("{c2}_r"));

    // A rename whose source the backup lacks is bad input, and so is a malformed one.
    for bad in [
        format!("nodb{tag}.*:x.*"),
        "a.b.c".to_string(),
        format!("{db1}.:x."),
    ] {
        let out = restore(state.path(), &["-n", &name, "-r", &bad]);
        assert_exit(&out, 2);
    }

    // Schemas only, restored into a third database; then the data imported into what that created.
    let meta = format!("dm{tag}");
    let filter = format!("{db1}.{c1}");
    let out = mbx(
        state.path(),
        &[
            "create",
            "--remote",
            "milvus_a",
            "--filter",
            &filter,
            "-n",
            &meta,
            "--strategy",
            "meta_only",
            "--no-gc-pause",
        ],
    );
    assert_exit(&out, 0);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("garbage collection"));
    let binlogs = read_tree(&remote("milvus_a"), &format!("backup/{meta}/binlogs"))
        .await
        .len();
    assert_eq!(binlogs, 0, "a meta_only backup copied binlogs");
    let into_db3 = format!("{db1}.*:{db3}.*");
    assert_exit(&restore(state.path(), &["-n", &meta, "-r", &into_db3]), 0);
    // Importing needs the collection to exist; then it lands in the one the meta-only restore made.
    let missing = format!("{db1}.*:nodb{tag}.*");
    let out = restore(
        state.path(),
        &[
            "-n",
            &name,
            "-c",
            &c1,
            "-r",
            &missing,
            "--skip_create_collection",
        ],
    );
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let dbs = milvus_scenario(&["inventory", "--addr", &milvus_addr("a")]);
    assert!(
        dbs["databases"].get(format!("nodb{tag}")).is_none(),
        "a refused --skip-create-collection restore created its database: {dbs}"
    );
    let out = restore(
        state.path(),
        &[
            "-n",
            &name,
            "-c",
            &c1,
            "-r",
            &into_db3,
            "--skip_create_collection",
        ],
    );
    assert_exit(&out, 0);
    compare(&db1, &c1, &db3, &c1);
    // --skip-create-collection and --drop-exist contradict each other (milvus-backup refuses it too).
    let out = restore(
        state.path(),
        &[
            "-n",
            &name,
            "-c",
            &c1,
            "-r",
            &into_db3,
            "--skip_create_collection",
            "--drop_exist_collection",
        ],
    );
    assert_exit(&out, 2);
}
