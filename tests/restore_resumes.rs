//! A restore killed after some segments were imported resumes: the next run skips those segments instead of
//! importing them twice, and the result equals the source.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};

use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn restore_killed_mid_import_resumes_without_duplicates() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("rr").replace('-', "_");
    let name = format!("{coll}_bk");
    seeded_backup(state.path(), &coll, &name);
    assert_exit(
        &mbx(
            state.path(),
            &[
                "transfer",
                &format!("milvus_a:backup/{name}"),
                "milvus_b:backup/",
            ],
        ),
        0,
    );

    let args = [
        "--json", "restore", "--remote", "milvus_b", "-n", &name, "--suffix", "_r",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(remotes_file())
        .args(args)
        .env("MBX_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut imported_before = 0;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("\"note\"") && line.contains("imported") {
            imported_before += 1;
            if imported_before == 2 {
                child.kill().unwrap(); // SIGKILL: no cleanup, no goodbye
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(
        imported_before, 2,
        "the restore ended before two imports: nothing to resume"
    );

    let out = mbx(state.path(), &args);
    assert_exit(&out, 0);
    let s = summary(&out);
    let c = &s["restore"]["collections"][0];
    assert!(
        c["skipped"].as_u64().unwrap() >= 2,
        "imports were repeated: {s}"
    );
    assert_same_collection("a", &coll, "b", &format!("{coll}_r"));
}
