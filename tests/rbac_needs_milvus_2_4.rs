//! `--rbac` (users, roles, grants) needs BackupRBAC/RestoreRBAC, which Milvus has from 2.4: on the Milvus 2.3.5
//! the tests run, create and restore with `--rbac` are refused with the reason before anything is done, and a
//! backup made without `--rbac` cannot be restored with it. The requests themselves are pinned by the unit tests
//! of `milvus::rbac`.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn rbac_is_refused_where_milvus_cannot_do_it() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("rb").replace('-', "_");
    let name = format!("rb{}", std::process::id());
    seeded_backup(state.path(), &coll, &name);

    let other = format!("{name}x");
    let out = mbx(
        state.path(),
        &[
            "create", "--remote", "milvus_a", "-c", &coll, "-n", &other, "--rbac",
        ],
    );
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rbac") && err.contains("2.4.0"), "{err}");
    assert!(
        read_tree(&remote("milvus_a"), &format!("backup/{other}"))
            .await
            .is_empty(),
        "a refused create wrote something"
    );

    let out = mbx(
        state.path(),
        &[
            "restore", "--remote", "milvus_a", "-n", &name, "--suffix", "_rb", "--rbac",
        ],
    );
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without --rbac"), "{err}");
    let inventory = milvus_scenario(&["inventory", "--addr", &milvus_addr("a")]);
    let default = inventory["databases"]["default"].as_array().unwrap();
    assert!(
        !default
            .iter()
            .any(|c| c == &serde_json::json!(format!("{coll}_rb"))),
        "a refused restore created its collection"
    );
}
