//! Symbolic links on local (`fs`) remotes never carry a read or a write out of the root. In a source tree a link
//! is skipped with a warning and counted (as rclone does), unless `--follow-links` asks to copy what a link to a
//! file inside the root points to; a `.mbx` link at a destination stops the transfer before anything is written.

mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use support::*;

/// A remotes file under `dir` naming one fs remote, `l`, rooted at `root`.
fn local_file(dir: &Path, root: &Path) -> PathBuf {
    let file = dir.join("r.toml");
    std::fs::write(
        &file,
        format!(
            "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n",
            root.display()
        ),
    )
    .unwrap();
    file
}

fn events<'a>(out: &'a std::process::Output, event: &'a str) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

/// Every file below `dir`, as paths relative to it (links listed, not followed).
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            }
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.push(if t.is_dir() { format!("{rel}/") } else { rel });
        }
    }
    out.sort();
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    file: PathBuf,
}

/// `root/src` holds a file, a folder, and four links: to a file outside the root, to a file inside it, to a
/// folder inside it, and to nothing.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("src/sub")).unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("hostname"), b"the host's own file").unwrap();
    std::fs::write(root.join("src/a.txt"), b"a").unwrap();
    std::fs::write(root.join("src/sub/b.txt"), b"b").unwrap();
    std::fs::write(root.join("other/inside.txt"), b"inside").unwrap();
    symlink(outside.join("hostname"), root.join("src/leak")).unwrap();
    symlink(root.join("other/inside.txt"), root.join("src/in.txt")).unwrap();
    symlink(root.join("other"), root.join("src/dirlink")).unwrap();
    symlink(root.join("nothing-here"), root.join("src/dangling")).unwrap();
    let file = local_file(dir.path(), &root);
    Fixture {
        dir,
        root,
        outside,
        file,
    }
}

#[test]
fn links_in_a_local_source_are_skipped_with_a_warning() {
    let f = fixture();
    let out = mbx_with(
        &f.file,
        f.dir.path(),
        &["--json", "transfer", "l:src", "l:dst/"],
    );
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["skipped_links"], 4, "{}", summary(&out));
    let mut skipped: Vec<String> = events(&out, "skipped_link")
        .iter()
        .map(|e| e["key"].as_str().unwrap_or_default().to_string())
        .collect();
    skipped.sort();
    assert_eq!(skipped, ["dangling", "dirlink", "in.txt", "leak"]);
    assert_eq!(
        files_below(&f.root.join("dst/src")),
        [".mbx/", ".mbx/manifest.json", "a.txt", "sub/", "sub/b.txt"]
    );
    // Without --json: a warning on stderr for each, and the count in the summary line.
    let out = mbx_with(&f.file, f.dir.path(), &["transfer", "l:src", "l:dst2/"]);
    assert_exit(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipped leak") && err.contains("4 symbolic links skipped"),
        "{err}"
    );
}

#[test]
fn follow_links_copies_links_inside_the_root_only() {
    let f = fixture();
    let out = mbx_with(
        &f.file,
        f.dir.path(),
        &["--json", "transfer", "-L", "l:src", "l:dst/"],
    );
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["skipped_links"], 3, "{}", summary(&out));
    assert_eq!(
        std::fs::read(f.root.join("dst/src/in.txt")).unwrap(),
        b"inside"
    );
    assert!(!f.root.join("dst/src/leak").exists());
    // A re-run finds everything there.
    let again = mbx_with(
        &f.file,
        f.dir.path(),
        &["--json", "transfer", "-L", "l:src", "l:dst/"],
    );
    assert_exit(&again, 0);
    assert_eq!(summary(&again)["copied"], 0, "{}", summary(&again));
}

#[test]
fn a_source_reached_through_a_link_out_of_the_root_is_refused() {
    let f = fixture();
    symlink(&f.outside, f.root.join("out")).unwrap();
    for src in ["l:out", "l:out/", "l:out/hostname", "l:src/leak"] {
        let out = mbx_with(&f.file, f.dir.path(), &["transfer", src, "l:dst/"]);
        assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the root"), "{src}: {err}");
        assert!(!f.root.join("dst").exists(), "{src} wrote something");
    }
    let out = mbx_with(&f.file, f.dir.path(), &["ls", "l:out/"]);
    assert_exit(&out, 2);
}

/// mbx writes its manifest into `<tree>/.mbx/` and its temporary files into `<root>/.mbx/`: a link there must
/// not carry them out of the root either.
#[test]
fn a_mbx_folder_that_links_out_of_the_root_is_not_written_through() {
    let f = fixture();
    // The tree's own .mbx folder.
    std::fs::create_dir_all(f.root.join("dst/src")).unwrap();
    symlink(&f.outside, f.root.join("dst/src/.mbx")).unwrap();
    let out = mbx_with(&f.file, f.dir.path(), &["transfer", "l:src", "l:dst/"]);
    assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(files_below(&f.outside), ["hostname"]);
    assert!(!f.root.join("dst/src/a.txt").exists());
    // The root's .mbx folder (temporary files, partial uploads).
    let other = tempfile::tempdir().unwrap();
    let root2 = f.dir.path().join("root2");
    std::fs::create_dir_all(&root2).unwrap();
    symlink(other.path(), root2.join(".mbx")).unwrap();
    let file2 = f.dir.path().join("r2.toml");
    std::fs::write(
        &file2,
        format!(
            "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n[remotes.d]\ntype = \"fs\"\nroot = \"{}\"\n",
            f.root.display(),
            root2.display()
        ),
    )
    .unwrap();
    let out = mbx_with(&file2, f.dir.path(), &["transfer", "l:src", "d:x/"]);
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("leads outside the root"), "{err}");
    assert_eq!(files_below(other.path()), Vec::<String>::new());
    assert_eq!(files_below(&root2), [".mbx"]);
}

/// A destination object that is itself a link out of the root: a copy onto it (fs copies server-side within
/// one root) would write the file it points to.
#[test]
fn a_destination_object_that_links_out_of_the_root_is_not_written_through() {
    let f = fixture();
    std::fs::create_dir_all(f.root.join("dst/src")).unwrap();
    std::fs::write(f.outside.join("victim"), b"keep me").unwrap();
    symlink(f.outside.join("victim"), f.root.join("dst/src/a.txt")).unwrap();
    let out = mbx_with(&f.file, f.dir.path(), &["transfer", "l:src", "l:dst/"]);
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outside the root"), "{err}");
    assert_eq!(std::fs::read(f.outside.join("victim")).unwrap(), b"keep me");
}

/// Listing, verifying, reading a source and a dry run write nothing: no `.mbx/tmp`, no root made for a
/// mistyped one.
#[test]
fn reading_writes_nothing() {
    let f = fixture();
    let ok = mbx_with(&f.file, f.dir.path(), &["transfer", "l:src", "l:dst/"]);
    assert_exit(&ok, 0);
    std::fs::remove_dir_all(f.root.join(".mbx")).unwrap();
    let before = files_below(&f.root);
    for args in [
        vec!["ls", "-r", "l:"],
        vec!["verify", "l:dst/src"],
        vec!["transfer", "--dry-run", "l:src", "l:new/"],
        vec!["transfer", "--dry-run", "l:src", "missing:x/"],
    ] {
        let file = f.dir.path().join("r3.toml");
        std::fs::write(
            &file,
            format!(
                "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n[remotes.missing]\ntype = \"fs\"\nroot = \"{}\"\n",
                f.root.display(),
                f.dir.path().join("no-such-root").display()
            ),
        )
        .unwrap();
        let out = mbx_with(&file, f.dir.path(), &args);
        assert_exit(&out, 0);
        assert_eq!(files_below(&f.root), before, "{args:?} wrote something");
        assert!(!f.dir.path().join("no-such-root").exists(), "{args:?}");
    }
    // A mistyped root is not created, and says so.
    let typo = local_file(f.dir.path(), &f.dir.path().join("rot"));
    for args in [vec!["ls", "l:"], vec!["verify", "l:x"]] {
        let out = mbx_with(&typo, f.dir.path(), &args);
        assert_exit(&out, 2);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not exist"),
            "{args:?}"
        );
        assert!(!f.dir.path().join("rot").exists(), "{args:?} made the root");
    }
}

#[test]
fn ls_does_not_show_mbx_own_folder() {
    let f = fixture();
    assert_exit(
        &mbx_with(&f.file, f.dir.path(), &["transfer", "l:src", "l:dst/"]),
        0,
    );
    for args in [vec!["ls", "l:dst/src/"], vec!["ls", "-r", "l:"]] {
        let out = mbx_with(&f.file, f.dir.path(), &args);
        assert_exit(&out, 0);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("a.txt"), "{args:?}: {text}");
        assert!(!text.contains(".mbx"), "{args:?}: {text}");
    }
}
