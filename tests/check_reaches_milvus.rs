//! `mbx check milvus_a` against the live test Milvus: the server's version and what mbx does there, Milvus's
//! binlogs under root_path, the backup root, and the resumable upload path all pass.

mod support;

use serde_json::Value;
use support::*;

#[test]
fn check_reports_the_milvus_version_and_passes() {
    if skip_without_servers() {
        return;
    }
    // The live servers exist only when scripts/test.sh started them (MBX_TEST_MILVUS=1).
    let addr = milvus_addr("a");
    let state = tempfile::tempdir().unwrap();
    let out = mbx(state.path(), &["check", "milvus_a", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_exit(&out, 0);
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let step = |name: &str| {
        events
            .iter()
            .find(|e| e["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {stdout}"))
            .clone()
    };
    let milvus = step("milvus");
    assert_eq!(milvus["status"], "ok", "{milvus}");
    let detail = milvus["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("Milvus 2.3.") && detail.contains(&addr),
        "{detail}"
    );
    assert!(detail.contains("create tested"), "{detail}");
    for name in ["binlogs", "backup-root", "multipart"] {
        let e = step(name);
        assert!(e["status"] == "ok" || e["status"] == "warn", "{e}");
    }
}
