//! What a transfer prints in each output mode, drawn by the CLI from the engine's typed events. Local folders
//! only: no servers needed.

use std::path::Path;
use std::process::{Command, Output};

fn mbx(dir: &Path, args: &[&str]) -> Output {
    let config = dir.join("remotes.toml");
    std::fs::write(
        &config,
        format!(
            "[remotes.src]\ntype = \"fs\"\nroot = \"{}\"\n\n[remotes.dst]\ntype = \"fs\"\nroot = \"{}\"\n",
            dir.join("src").display(),
            dir.join("dst").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env("MBX_STATE_DIR", dir.join("state"))
        .env("MBX_NO_FOREIGN_REMOTES", "1")
        .output()
        .expect("run mbx")
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("seg/{i}"), vec![b'a' + i as u8; 100 + i]))
        .collect();
    for (key, data) in &files {
        let path = dir.join("src/tree").join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    std::fs::create_dir_all(dir.join("dst")).unwrap();
    files
}

#[test]
fn quiet_prints_nothing_even_while_verifying() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = mbx(
        dir.path(),
        &["--quiet", "transfer", "src:tree", "dst:", "--verify"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("dst/tree/seg/4").is_file());
}

#[test]
fn json_is_one_event_per_line_for_each_stage() {
    let dir = tempfile::tempdir().unwrap();
    let files = tree(dir.path());
    let out = mbx(
        dir.path(),
        &["--json", "transfer", "src:tree", "dst:", "--verify"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == kind).collect()
    };
    let plan = of("plan");
    assert_eq!(plan.len(), 1, "{stdout}");
    assert_eq!(plan[0]["copy"], 5, "{stdout}");
    let copied = of("copied");
    assert_eq!(copied.len(), files.len(), "{stdout}");
    for (key, data) in &files {
        let line = copied
            .iter()
            .find(|e| e["key"] == format!("tree/{key}"))
            .unwrap_or_else(|| panic!("no copied event for {key}: {stdout}"));
        assert_eq!(line["size"], data.len() as u64);
        assert_eq!(line["blake3"], blake3::hash(data).to_hex().as_str());
    }
    assert_eq!(of("verified").len(), files.len(), "{stdout}");
    let summary = of("summary");
    assert_eq!(summary.len(), 1, "{stdout}");
    assert_eq!(summary[0]["copied"], 5);
    assert_eq!(
        events.last().map(|e| &e["event"]),
        Some(&serde_json::json!("summary")),
        "the summary comes last: {stdout}"
    );
}
