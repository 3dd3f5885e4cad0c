//! `--shard K/N` splits one transfer between processes (or Kubernetes pods): each copies its share, with its own
//! journal, and `--shards N --finish` merges their manifests once every one completed. Here three shards run as
//! processes on one machine, one is killed mid-way and run again, and the merged tree is checked byte for byte.

mod support;

use std::path::Path;

use support::*;

fn run(config: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    mbx_with(config, state, &[&["--json", "transfer"], args].concat())
}

#[test]
fn three_shards_one_killed_and_run_again_make_the_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut tree = Tree::new();
    for i in 0..30 {
        tree.insert(
            format!("binlogs/insert_log/1/2/{i}/0/1"),
            bytes(i, 2000 + i as usize * 50),
        );
    }
    for i in 0..12 {
        tree.insert(
            format!("binlogs/insert_log/1/2/big{i}/0/1"),
            bytes(100 + i, 12 << 20),
        );
    }
    let config = write_tree(root, &tree);
    let state = |k: u32| root.join(format!("state{k}"));
    let (src, dst) = ("src:tree", "dst:copy");

    let mut copied = 0;
    for k in [0, 2] {
        let out = run(
            &config,
            &state(k),
            &[src, dst, "--shard", &format!("{k}/3")],
        );
        assert_exit(&out, 0);
        let s = summary(&out);
        copied += s["copied"].as_u64().unwrap();
        assert!(
            root.join(format!("dst/copy/.mbx/shards/3/{k}.json"))
                .exists(),
            "{s}"
        );
    }
    assert!(
        copied > 0 && copied < tree.len() as u64,
        "two shards copied a share: {copied}"
    );
    assert!(
        !root.join("dst/copy/.mbx/manifest.json").exists(),
        "no tree manifest before --finish"
    );
    let finish = |extra: &[&str]| {
        run(
            &config,
            &state(9),
            &[&[src, dst, "--shards", "3", "--finish"], extra].concat(),
        )
    };
    let out = finish(&[]);
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shards 1 of 3"),
        "{out:?}"
    );

    // Shard 1, slowed down, is killed once a part of a large object has landed.
    let mut child = spawn_mbx_with(
        &config,
        &state(1),
        &[
            "--json",
            "transfer",
            src,
            dst,
            "--shard",
            "1/3",
            "--bwlimit",
            "8MiB",
        ],
    );
    assert!(
        wait_for_a_landed_part(&mut child, &state(1)),
        "shard 1 ended before a part landed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_exit(&finish(&[]), 1);
    let out = run(&config, &state(1), &[src, dst, "--shard", "1/3"]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert!(
        s["resumed_bytes"].as_u64().unwrap() > 0 || s["skipped"].as_u64().unwrap() > 0,
        "{s}"
    );

    let out = finish(&["--verify"]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["verify"]["checked"], tree.len() as u64, "{s}");
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    assert!(
        !root.join("dst/copy/.mbx/shards/3/1.json").exists(),
        "shard manifests are removed"
    );
    for (k, v) in &tree {
        assert_eq!(
            &std::fs::read(root.join("dst/copy").join(k)).unwrap(),
            v,
            "{k}"
        );
    }
    assert_exit(&mbx_with(&config, &state(9), &["verify", dst]), 0);
    // A plain run of the whole transfer now has nothing to copy.
    let s = summary(&run(&config, &state(9), &[src, dst]));
    assert_eq!(s["copied"], 0, "{s}");
}

#[test]
fn shard_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("remotes.toml");
    std::fs::write(
        &config,
        format!(
            "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    for args in [
        &["l:a", "l:b", "--shard", "3/3"][..],
        &["l:a", "l:b", "--shard", "x"],
        &["l:a", "l:b", "--shards", "3"],
        &["l:a", "l:b", "--finish"],
        &["l:a", "l:b", "--shard", "0/2", "--finish", "--shards", "2"],
        &["l:a", "l:b", "--shard", "0/2", "--shards", "2"],
    ] {
        let out = run(&config, &dir.path().join("state"), args);
        assert_exit(&out, 2);
    }
}

/// Writes `tree` under `root/src/tree`, and a remotes file with fs remotes `src` and `dst` (empty); returns its
/// path.
fn write_tree(root: &Path, tree: &Tree) -> std::path::PathBuf {
    for (k, v) in tree {
        let p = root.join("src/tree").join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v).unwrap();
    }
    std::fs::create_dir_all(root.join("dst")).unwrap();
    let config = root.join("remotes.toml");
    let remote = |n: &str| {
        format!(
            "[remotes.{n}]\ntype = \"fs\"\nroot = \"{}\"\n",
            root.join(n).display()
        )
    };
    std::fs::write(&config, [remote("src"), remote("dst")].concat()).unwrap();
    config
}

/// A tree of small objects and a few larger ones under `root/src/tree`, with fs remotes `src` and `dst`;
/// returns the remotes file and the tree.
fn fs_tree(root: &Path, small: u64, large: u64) -> (std::path::PathBuf, Tree) {
    let mut tree = Tree::new();
    for i in 0..small {
        tree.insert(format!("binlogs/insert_log/1/2/{i}/0/1"), bytes(i, 2000));
    }
    for i in 0..large {
        tree.insert(
            format!("binlogs/insert_log/1/2/big{i}/0/1"),
            bytes(100 + i, 9 << 20),
        );
    }
    (write_tree(root, &tree), tree)
}

/// The merged tree at `root/dst/copy` is `tree`, with its manifest and without the shards', and verifies.
fn assert_merged(root: &Path, config: &Path, tree: &Tree) {
    assert!(
        root.join("dst/copy/.mbx/manifest.json").exists(),
        "the tree's manifest"
    );
    let left: Vec<_> = std::fs::read_dir(root.join("dst/copy/.mbx/shards/4"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "shard manifests left: {left:?}");
    for (k, v) in tree {
        assert_eq!(
            &std::fs::read(root.join("dst/copy").join(k)).unwrap(),
            v,
            "{k}"
        );
    }
    assert_exit(
        &mbx_with(config, &root.join("state-v"), &["verify", "dst:copy"]),
        0,
    );
}

/// `--shard K/N --finish`: a shard that completes before the others only says so; the last one to complete
/// merges the manifests, as `--shards N --finish` would.
#[test]
fn the_last_shard_to_complete_merges() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (config, tree) = fs_tree(root, 40, 3);
    for k in 0..4 {
        let state = root.join(format!("state{k}"));
        let out = run(
            &config,
            &state,
            &[
                "src:tree",
                "dst:copy",
                "--shard",
                &format!("{k}/4"),
                "--finish",
            ],
        );
        assert_exit(&out, 0);
        let merged = root.join("dst/copy/.mbx/manifest.json").exists();
        assert_eq!(
            merged,
            k == 3,
            "after shard {k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // With --json, notes are events on stdout.
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        let expected = if k == 3 {
            "completed last"
        } else {
            "the last of the 4 shards"
        };
        assert!(said.contains(expected), "shard {k}: {said}");
        if k == 3 {
            assert_eq!(
                summary(&out)["manifest"],
                "dst:copy/.mbx/manifest.json",
                "{said}"
            );
        }
    }
    assert_merged(root, &config, &tree);
}

/// Four shards run at once, each with `--finish`: however their ends fall (two may see all four manifests at
/// the same time), every one exits 0 and the tree is merged once, whole.
#[test]
fn shards_that_complete_together_merge_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (config, tree) = fs_tree(root, 200, 0);
    let children: Vec<_> = (0..4)
        .map(|k| {
            let state = root.join(format!("state{k}"));
            let args = [
                "--json",
                "transfer",
                "src:tree",
                "dst:copy",
                "--shard",
                &format!("{k}/4"),
                "--finish",
            ];
            spawn_mbx_with(&config, &state, &args)
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
    }
    assert_merged(root, &config, &tree);
}
