//! `mbx check NAME` runs one step per operation mbx needs, each a line (or a `--json` event) that says ok,
//! warn, skip or FAIL, and exits 1 when one failed. Storage remotes also get the resumable upload probe; a
//! remote with a `[remotes.NAME.milvus]` table also gets the Milvus server, its binlogs and the backup root.

mod support;

use serde_json::Value;
use support::*;

/// The `--json` events of a run, by step name.
fn steps(out: &std::process::Output) -> Vec<(String, String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("step"), s("status"), s("detail"))
        })
        .collect()
}

fn status_of(steps: &[(String, String, String)], name: &str) -> (String, String) {
    steps
        .iter()
        .find(|(s, _, _)| s == name)
        .map(|(_, st, d)| (st.clone(), d.clone()))
        .unwrap_or_else(|| panic!("no step '{name}' in {steps:?}"))
}

#[test]
fn a_storage_remote_gets_the_resumable_upload_probe() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let out = mbx(state.path(), &["check", "s3a", "--json"]);
    assert_exit(&out, 0);
    let s = steps(&out);
    for name in ["write", "stat", "read", "list", "delete"] {
        assert_eq!(status_of(&s, name).0, "ok", "{s:?}");
    }
    let (status, detail) = status_of(&s, "multipart");
    assert_eq!(status, "ok", "{detail}");
    assert!(detail.contains("s3 multipart"), "{detail}");
    // GCS has no resumable upload in mbx: skipped, said so, and not a failure.
    let out = mbx(state.path(), &["check", "gcs", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(status_of(&steps(&out), "multipart").0, "skip");
    assert!(!steps(&out).iter().any(|(n, _, _)| n == "milvus"));
}

#[test]
fn a_milvus_remote_checks_the_server_binlogs_and_backup_root() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let root = unique("check-root");
    let extra = format!(
        "[remotes.mv_down]\ntype = \"minio\"\nendpoint = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
         secret_access_key = \"{}\"\n[remotes.mv_down.milvus]\naddress = \"127.0.0.1:1\"\n\
         root_path = \"{root}\"\nbackup_root = \"{root}-backup\"\n",
        remote_option("s3a", "endpoint"),
        remote_option("s3a", "bucket"),
        remote_option("s3a", "access_key_id"),
        remote_option("s3a", "secret_access_key"),
    );
    let config = remotes_file_with(state.path(), &extra);
    let run = || mbx_with(&config, state.path(), &["check", "mv_down", "--json"]);

    // No Milvus there: that step fails (exit 1); an empty root_path is a warning; the backup root takes writes.
    let out = run();
    assert_exit(&out, 1);
    let s = steps(&out);
    let (status, detail) = status_of(&s, "milvus");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("127.0.0.1:1"), "{detail}");
    let (status, detail) = status_of(&s, "binlogs");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("no binlogs yet"), "{detail}");
    let (status, detail) = status_of(&s, "backup-root");
    assert_eq!(status, "ok", "{detail}");
    assert!(detail.contains(&format!("{root}-backup/")), "{detail}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let op = remote("s3a").op().clone();
    // Something else under root_path: the wrong folder, a failure naming what is there.
    rt.block_on(op.write(&format!("{root}/other/x"), b"x".to_vec()))
        .unwrap();
    let (status, detail) = status_of(&steps(&run()), "binlogs");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("other/") && detail.contains("root_path"),
        "{detail}"
    );
    // Milvus's layout: passes.
    rt.block_on(op.write(&format!("{root}/insert_log/1/2/3/4"), b"x".to_vec()))
        .unwrap();
    let (status, detail) = status_of(&steps(&run()), "binlogs");
    assert_eq!(status, "ok", "{detail}");
    // The backup root probe was removed.
    let left: Vec<_> = rt
        .block_on(op.list(&format!("{root}-backup/")))
        .unwrap_or_default();
    assert!(
        left.iter().all(|e| !e.path().contains(".mbx-check-")),
        "{left:?}"
    );
}
