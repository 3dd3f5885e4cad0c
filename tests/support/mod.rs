//! Shared helpers for the integration tests: the real servers started by `scripts/test.sh` (named in the
//! remotes file at `$MBX_TEST_REMOTES`), test data, and running the `mbx` binary.
#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use futures::TryStreamExt;
use mbx::config::RemotesConfig;
use mbx::remote::Remote;
use rand::{RngCore, SeedableRng};

/// The remotes file naming the test servers. Panics with the fix when it is missing: a test never skips.
pub fn remotes_file() -> PathBuf {
    match std::env::var_os("MBX_TEST_REMOTES") {
        Some(p) if PathBuf::from(&p).is_file() => PathBuf::from(p),
        _ => panic!(
            "MBX_TEST_REMOTES is not set or names no file: the integration tests run against real storage \
             servers that scripts/test.sh installs and starts. Run ./scripts/test.sh (CI={})",
            std::env::var("CI").unwrap_or_default()
        ),
    }
}

/// Opens a remote of the test servers.
pub fn remote(name: &str) -> Remote {
    let config = RemotesConfig::parse(
        &std::fs::read_to_string(remotes_file()).expect("read remotes file"),
        mbx::config::ConfigSource::File(remotes_file()),
        &std::env::vars().collect(),
    )
    .expect("parse remotes file");
    Remote::open(config.get(name).expect("remote in file")).expect("open remote")
}

/// A prefix no other test (or earlier run) uses.
pub fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t-{test}-{nanos:x}-{}", std::process::id())
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// A tree of objects: relative key → content.
pub type Tree = BTreeMap<String, Vec<u8>>;

/// A mixed tree: `small` objects of up to 64 KiB in nested folders, one empty object, and one object of
/// `large` bytes (multipart with a 5 MiB part size when large > 5 MiB).
pub fn mixed_tree(small: usize, large: usize) -> Tree {
    let mut t = Tree::new();
    for i in 0..small {
        let len = (i * 7919) % 65536;
        t.insert(
            format!("binlogs/insert_log/{}/{}/{i}", i % 3, i % 5),
            bytes(i as u64, len),
        );
    }
    t.insert("meta/empty.json".into(), Vec::new());
    if large > 0 {
        t.insert("binlogs/large.bin".into(), bytes(999, large));
    }
    t
}

/// Writes `tree` under `root/` on `remote`.
pub async fn put_tree(remote: &Remote, root: &str, tree: &Tree) {
    for (k, v) in tree {
        let key = format!("{root}/{k}");
        if k.ends_with('/') {
            remote
                .op()
                .create_dir(&key)
                .await
                .unwrap_or_else(|e| panic!("mkdir {key}: {e}"));
        } else {
            remote
                .op()
                .write(&key, v.clone())
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e}"));
        }
    }
}

/// Reads every object under `root/` on `remote` (mbx's `.mbx/` folder excluded).
pub async fn read_tree(remote: &Remote, root: &str) -> Tree {
    let dir = format!("{root}/");
    let entries: Vec<opendal::Entry> = remote
        .op()
        .lister_with(&dir)
        .recursive(true)
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("list");
    let mut t = Tree::new();
    for e in entries {
        let rel = e.path().strip_prefix(&dir).unwrap_or(e.path()).to_string();
        if rel.is_empty() || rel.starts_with(".mbx/") {
            continue;
        }
        if e.metadata().is_dir() {
            if remote.config().kind != mbx::config::RemoteKind::Fs {
                t.insert(rel, Vec::new());
            }
            continue;
        }
        let body = remote
            .op()
            .read(e.path())
            .await
            .unwrap_or_else(|err| panic!("read {}: {err}", e.path()));
        t.insert(rel, body.to_vec());
    }
    t
}

/// Asserts two trees are equal, naming the first difference instead of dumping megabytes.
pub fn assert_same_tree(got: &Tree, want: &Tree) {
    let gk: Vec<_> = got.keys().collect();
    let wk: Vec<_> = want.keys().collect();
    assert_eq!(gk, wk, "keys differ");
    for (k, v) in want {
        let g = &got[k];
        assert!(
            g == v,
            "content of {k} differs: {} bytes vs {} expected",
            g.len(),
            v.len()
        );
    }
}

/// Runs `mbx` with the test remotes file and a private state dir (journals).
pub fn mbx(state: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(remotes_file())
        .args(args)
        .env("MBX_STATE_DIR", state)
        // Never the user's own rclone or mc remotes.
        .env("MBX_NO_FOREIGN_REMOTES", "1")
        .output()
        .expect("run mbx")
}

/// The JSON summary line of a `--json` run.
pub fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .unwrap_or_else(|| {
            panic!(
                "no summary in output; status {:?}\nstdout: {stdout}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Panics with mbx's output unless it exited with `code`.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "mbx exited {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/servers/milvus_scenario.py` with the Milvus venv's python; returns its JSON report.
pub fn milvus_scenario(args: &[&str]) -> serde_json::Value {
    let python = std::env::var("MBX_TEST_MILVUS_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MBX_TEST_MILVUS_PYTHON is not set: the Milvus tests need the two Milvus 2.3.5 servers that \
             scripts/test.sh starts (MBX_TEST_MILVUS=1, the default). Run ./scripts/test.sh"
        )
    });
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/servers/milvus_scenario.py"
        ))
        .args(args)
        .output()
        .expect("run milvus_scenario.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "milvus_scenario.py {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON report")
}

/// The gRPC address of test Milvus `a` or `b`.
pub fn milvus_addr(which: &str) -> String {
    let var = format!("MBX_TEST_MILVUS_{}", which.to_uppercase());
    std::env::var(&var).unwrap_or_else(|_| panic!("{var} is not set: run ./scripts/test.sh"))
}

/// A remotes file: the test servers' plus `extra` TOML, written under `dir`.
pub fn remotes_file_with(dir: &std::path::Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(remotes_file()).expect("read remotes file");
    let path = dir.join("remotes.toml");
    std::fs::write(&path, format!("{text}\n{extra}\n")).expect("write remotes file");
    path
}

/// Runs `mbx` with the remotes file `config`.
pub fn mbx_with(config: &std::path::Path, state: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MBX_STATE_DIR", state)
        // Never the user's own rclone or mc remotes.
        .env("MBX_NO_FOREIGN_REMOTES", "1")
        .output()
        .expect("run mbx")
}

/// A `[remotes.NAME]` section for the S3 server of test remote `base` (its type, bucket and keys), reached at
/// `endpoint` (its own, or a proxy's in front of it), with `extra` options.
pub fn s3_remote_like(base: &str, name: &str, endpoint: &str, extra: &str) -> String {
    let mut text = format!(
        "[remotes.{name}]\ntype = \"{}\"\nendpoint = \"{endpoint}\"\n",
        remote(base).config().kind
    );
    for k in ["bucket", "access_key_id", "secret_access_key"] {
        text.push_str(&format!("{k} = \"{}\"\n", remote_option(base, k)));
    }
    text + extra + "\n"
}

/// The option `key` of remote `name` in the test remotes file.
pub fn remote_option(name: &str, key: &str) -> String {
    remote(name)
        .config()
        .options
        .get(key)
        .cloned()
        .unwrap_or_default()
}

/// Asserts that collection `b_coll` on test Milvus `b_side` answers like `a_coll` on `a_side` (row counts per
/// partition, deleted rows absent, a sample row, top-10 searches), as `milvus_scenario.py compare` checks.
pub fn assert_same_collection(a_side: &str, a_coll: &str, b_side: &str, b_coll: &str) {
    let report = milvus_scenario(&[
        "compare",
        "--a",
        &milvus_addr(a_side),
        "--a-collection",
        a_coll,
        "--b",
        &milvus_addr(b_side),
        "--b-collection",
        b_coll,
    ]);
    assert_eq!(report["ok"], true, "{report}");
}

/// Seeds collection `coll` on test Milvus `a` (`milvus_scenario.py seed`) and backs it up with `mbx create` as
/// backup `name` on remote `milvus_a`; returns the seed's report.
pub fn seeded_backup(state: &std::path::Path, coll: &str, name: &str) -> serde_json::Value {
    let seeded = milvus_scenario(&["seed", "--addr", &milvus_addr("a"), "--collection", coll]);
    assert_exit(
        &mbx(
            state,
            &["create", "--remote", "milvus_a", "-c", coll, "-n", name],
        ),
        0,
    );
    seeded
}

/// Whether this test must be skipped because the test servers are not running: never under `CI` (there a
/// missing server is a failure, with the fix), and otherwise with one line per test binary saying how to run
/// them, so that `cargo test` on a fresh checkout runs the unit tests and says what it left out.
pub fn skip_without_servers() -> bool {
    let ready = std::env::var_os("MBX_TEST_REMOTES").is_some_and(|p| PathBuf::from(p).is_file());
    if ready {
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    if ci {
        remotes_file(); // panics with the fix
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    // Straight to stderr: libtest captures `eprintln!` of passing tests, and this line must be seen.
    SAID.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the tests of {} need the real storage (and Milvus) servers that ./scripts/test.sh installs \
             and starts; run ./scripts/test.sh for the whole suite (under CI they fail instead)",
            std::env::args().next().unwrap_or_default()
        );
    });
    true
}

/// Two `fs` remotes, `fa` and `fb`, in folders under `dir`, beside the test servers; returns the remotes file.
pub fn fs_remotes(dir: &std::path::Path) -> PathBuf {
    let (a, b) = (dir.join("fa"), dir.join("fb"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    remotes_file_with(
        dir,
        &format!(
            "[remotes.fa]\ntype = \"fs\"\nroot = \"{}\"\n\n[remotes.fb]\ntype = \"fs\"\nroot = \"{}\"\n",
            a.display(),
            b.display()
        ),
    )
}

/// Starts `mbx` with the remotes file `config`, its output piped.
pub fn spawn_mbx_with(
    config: &std::path::Path,
    state: &std::path::Path,
    args: &[&str],
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MBX_STATE_DIR", state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mbx")
}

/// Waits (at most 60 s) until a journal under `state` records a landed part; false if `child` ended first.
pub fn wait_for_a_landed_part(child: &mut std::process::Child, state: &std::path::Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let landed = std::fs::read_dir(state.join("journals"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("{\"part\":")));
        if landed {
            return true;
        }
        if child.try_wait().expect("poll mbx").is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no part landed within 60 s");
}
