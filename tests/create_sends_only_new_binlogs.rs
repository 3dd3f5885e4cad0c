//! A second `mbx create` of a collection copies the binlogs the first backup already holds (same key, size and
//! source ETag, on the backup store's side) instead of reading them again from Milvus's storage; only what Milvus
//! wrote since (here: what its compaction rewrote) is read. The backup is whole: every object is read back and checked
//! against its manifest, which is what restore checks before it imports.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_backup_copies_unchanged_binlogs_from_the_first() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("inc").replace('-', "_");
    let (first, second) = (format!("{coll}_1"), format!("{coll}_2"));
    seeded_backup(state.path(), &coll, &first);
    let out = mbx(
        state.path(),
        &[
            "--json", "create", "--remote", "milvus_a", "-c", &coll, "-n", &second,
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    let b = &s["backup"];
    // Milvus may compact between the two backups: the binlogs of both with the same key are the ones found.
    let a = remote("milvus_a");
    let one = read_tree(&a, &format!("backup/{first}/binlogs")).await;
    let two = read_tree(&a, &format!("backup/{second}/binlogs")).await;
    let shared: Vec<&String> = two.keys().filter(|k| one.get(*k) == two.get(*k)).collect();
    assert!(!shared.is_empty(), "the two backups share binlogs");
    assert_eq!(b["found"], shared.len() as u64, "{s}");
    let shared_bytes: usize = shared.iter().map(|k| two[*k].len()).sum();
    assert_eq!(b["found_bytes"], shared_bytes as u64, "{s}");
    assert_eq!(b["copied"], two.len() as u64, "{s}");
    // Whole: every object against its manifest.
    assert_exit(
        &mbx(
            state.path(),
            &["verify", &format!("milvus_a:backup/{second}")],
        ),
        0,
    );
}
