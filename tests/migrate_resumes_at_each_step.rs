//! `mbx migrate` runs create on A, transfer to B and restore on B as one job, on two real Milvus 2.3.5; stopped
//! after its create, in the middle of its transfer, or killed with -9 in the middle of its restore, the same
//! command goes on at that step and B ends up with the collection exactly as A has it (no row imported twice).

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};

use support::*;

fn migrate_args<'a>(coll: &'a str, suffix: &'a str) -> Vec<&'a str> {
    vec![
        "--json", "migrate", "--from", "milvus_a", "--to", "milvus_b", "-c", coll, "--suffix",
        suffix,
    ]
}

fn notes(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_goes_on_where_it_stopped() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("mg").replace('-', "_");
    let tag = std::process::id();

    // 1. Stopped after its create, and half-way through its transfer.
    let first = format!("mg{tag}a");
    seeded_backup(state.path(), &coll, &first);
    let (a, b) = (remote("milvus_a"), remote("milvus_b"));
    let objects = read_tree(&a, &format!("backup/{first}")).await;
    let binlogs: Vec<_> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("binlogs/"))
        .collect();
    assert!(binlogs.len() > 4, "too few binlogs to stop half-way");
    for (k, v) in binlogs.iter().take(binlogs.len() / 2) {
        b.op()
            .write(&format!("backup/{first}/{k}"), (*v).clone())
            .await
            .unwrap();
    }
    let mut args = migrate_args(&coll, "_m1");
    args.extend(["-n", &first]);
    let out = mbx(state.path(), &args);
    assert_exit(&out, 0);
    assert!(
        notes(&out).contains("1/3 create: done before"),
        "the backup was made again: {}",
        notes(&out)
    );
    assert_eq!(
        read_tree(&b, &format!("backup/{first}")).await.len(),
        objects.len(),
        "B does not hold the whole backup"
    );
    assert_same_collection("a", &coll, "b", &format!("{coll}_m1"));

    // 2. Killed with -9 in its restore: the same command finishes it; without --name, the migration remembers
    // the one the first run was given. (Short names: s3s-fs keeps a key's metadata in one file name.)
    let args = migrate_args(&coll, "_m2");
    let second = format!("mg{tag}b");
    let mut named = args.clone();
    named.extend(["-n", &second]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(remotes_file())
        .args(&named)
        .env("MBX_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(state.path().join("killed.stderr")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut imported = 0;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("\"note\"") && line.contains("imported") {
            imported += 1;
            if imported == 2 {
                child.kill().unwrap();
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(
        imported,
        2,
        "the migration ended before two imports: nothing to resume ({})",
        std::fs::read_to_string(state.path().join("killed.stderr")).unwrap_or_default()
    );
    let mut again = args.clone();
    again.push("--remove-source-backup");
    let out = mbx(state.path(), &again);
    assert_exit(&out, 0);
    let text = notes(&out);
    assert!(text.contains("1/3 create: done before"), "{text}");
    let name = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .and_then(|v| v["migrate"]["name"].as_str().map(str::to_string))
        .expect("a summary with the backup's name");
    assert_eq!(
        name, second,
        "the re-run did not go on with the same backup"
    );
    assert_same_collection("a", &coll, "b", &format!("{coll}_m2"));
    assert!(
        read_tree(&a, &format!("backup/{name}")).await.is_empty(),
        "--remove-source-backup left the backup on A"
    );
    assert!(!read_tree(&b, &format!("backup/{name}")).await.is_empty());
    // Done: the state is gone, so the same command would start a new migration.
    let left = std::fs::read_dir(state.path().join("migrations"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "a finished migration left its state behind");
}

/// `migrate --shard K/2`: two processes share one migration. Shard 1 starts first and waits for shard 0's
/// backup; each sends its share; shard 0 restores once both shares are merged, and B has the collection as A.
#[tokio::test(flavor = "multi_thread")]
async fn two_shards_share_one_migration() {
    if skip_without_servers() {
        return;
    }
    let coll = unique("ms").replace('-', "_");
    milvus_scenario(&["seed", "--addr", &milvus_addr("a"), "--collection", &coll]);
    let name = format!("ms{}", std::process::id());
    let spawn = |k: u32| {
        let state = tempfile::tempdir().unwrap();
        let mut args = migrate_args(&coll, "_sh");
        let shard = format!("{k}/2");
        args.extend(["-n", &name, "--shard", &shard]);
        let child = spawn_mbx_with(&remotes_file(), state.path(), &args);
        (state, child)
    };
    let (_s1, one) = spawn(1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_s0, zero) = spawn(0);
    let (one, zero) = (
        one.wait_with_output().unwrap(),
        zero.wait_with_output().unwrap(),
    );
    assert_exit(&one, 0);
    assert_exit(&zero, 0);
    assert!(
        notes(&one).contains("waiting for shard 0"),
        "{}",
        notes(&one)
    );
    assert!(notes(&one).contains("shard 0 restores"), "{}", notes(&one));
    assert!(notes(&zero).contains("3/3 restore"), "{}", notes(&zero));
    assert!(
        !notes(&one).contains("3/3 restore"),
        "shard 1 restored: {}",
        notes(&one)
    );
    let b = remote("milvus_b");
    assert!(
        b.op()
            .exists(&format!("backup/{name}/.mbx/manifest.json"))
            .await
            .unwrap(),
        "the shards' manifests are merged at B"
    );
    assert_same_collection("a", &coll, "b", &format!("{coll}_sh"));
}
