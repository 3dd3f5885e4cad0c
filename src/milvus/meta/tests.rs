//! Golden tests of the meta files against milvus-backup's encoding.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::layout::{go_clean, go_join};
use super::*;
use std::time::Duration;

const C: i64 = 449577123456789001;
const P: i64 = 449577123456789002;
const S: i64 = 449577123456789010;
const ID: &str = "0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11";
const VCH: &str = "by-dev-rootcoord-dml_0_449577123456789001v0";

fn kv(k: &str, v: &str) -> KeyValuePair {
    KeyValuePair {
        key: k.into(),
        value: v.into(),
    }
}

fn binlog(path: String, size: i64, id: i64) -> Binlog {
    Binlog {
        log_path: path,
        log_size: size,
        log_id: id,
        ..Binlog::default()
    }
}

fn field_binlog(field: i64, size: i64, log: i64) -> FieldBinlog {
    FieldBinlog {
        field_id: field,
        binlogs: vec![binlog(
            format!("files/insert_log/{C}/{P}/{S}/{field}/{log}"),
            size,
            log,
        )],
    }
}

fn example_segment() -> SegmentBackupInfo {
    SegmentBackupInfo {
        segment_id: S,
        collection_id: C,
        partition_id: P,
        num_of_rows: 3000,
        binlogs: vec![
            field_binlog(0, 8133, 449577123456789101),
            field_binlog(1, 544, 449577123456789102),
            field_binlog(100, 8133, 449577123456789103),
            field_binlog(101, 2180, 449577123456789104),
            field_binlog(102, 2144, 449577123456789105),
        ],
        deltalogs: vec![FieldBinlog {
            field_id: 0,
            binlogs: vec![binlog(
                format!("files/delta_log/{C}/{P}/{S}/449577123456789201"),
                400,
                449577123456789201,
            )],
        }],
        size: 21534,
        group_id: S,
        ..SegmentBackupInfo::default()
    }
}

/// The §1.6 scenario: one collection, one partition, one segment, HNSW.
fn example() -> BackupInfo {
    let schema = CollectionSchema {
        name: "hello_milvus".into(),
        description: "demo".into(),
        fields: vec![
            FieldSchema {
                field_id: 100,
                name: "pk".into(),
                is_primary_key: true,
                data_type: DataType::INT64,
                ..FieldSchema::default()
            },
            FieldSchema {
                field_id: 101,
                name: "random".into(),
                data_type: DataType::DOUBLE,
                ..FieldSchema::default()
            },
            FieldSchema {
                field_id: 102,
                name: "embeddings".into(),
                data_type: DataType::FLOAT_VECTOR,
                type_params: vec![kv("dim", "8")],
                ..FieldSchema::default()
            },
        ],
        ..CollectionSchema::default()
    };
    let mut params = BTreeMap::new();
    // Inserted out of order on purpose: output must be sorted.
    params.insert(
        "params".to_string(),
        r#"{"M":8,"efConstruction":64}"#.to_string(),
    );
    params.insert("metric_type".to_string(), "L2".to_string());
    params.insert("index_type".to_string(), "HNSW".to_string());
    let coll = CollectionBackupInfo {
        id: ID.into(),
        collection_id: C,
        db_name: "default".into(),
        collection_name: "hello_milvus".into(),
        schema: Some(schema),
        shards_num: 1,
        consistency_level: ConsistencyLevel::BOUNDED,
        partition_backups: vec![PartitionBackupInfo {
            partition_id: P,
            partition_name: "_default".into(),
            collection_id: C,
            segment_backups: vec![example_segment()],
            size: 21534,
            load_state: "NotLoad".into(),
        }],
        backup_timestamp: 449577999000000000,
        size: 21534,
        has_index: true,
        index_infos: vec![IndexInfo {
            field_name: "embeddings".into(),
            index_name: "_default_idx_102".into(),
            index_type: "HNSW".into(),
            params,
            index_id: 449577123456789050,
            ..IndexInfo::default()
        }],
        load_state: "NotLoad".into(),
        backup_physical_timestamp: 1694085634,
        channel_checkpoints: BTreeMap::from([(VCH.to_string(), "Ci1ieS1kZXYt".to_string())]),
        created_timestamp: 449577100000000000,
        virtual_channel_names: vec![VCH.into()],
        physical_channel_names: vec!["by-dev-rootcoord-dml_0".into()],
        ..CollectionBackupInfo::default()
    };
    BackupInfo {
        id: ID.into(),
        name: "my_backup".into(),
        collection_backups: vec![coll],
        size: 21534,
        milvus_version: "v2.3.22".into(),
        database_backups: vec![DatabaseBackupInfo {
            db_name: "default".into(),
            db_id: 1,
            ..DatabaseBackupInfo::default()
        }],
        ..BackupInfo::default()
    }
}

fn s(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

const GOLDEN_BACKUP: &str = r#"{"id":"0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11","state_code":0,"name":"my_backup","size":21534,"milvus_version":"v2.3.22"}"#;

const GOLDEN_PARTITION: &str = r#"{"infos":[{"partition_id":449577123456789002,"partition_name":"_default","collection_id":449577123456789001,"size":21534,"load_state":"NotLoad"}]}"#;

fn golden_collection_obj(with_segments: bool) -> String {
    let part = if with_segments {
        format!(
            r#"{{"partition_id":449577123456789002,"partition_name":"_default","collection_id":449577123456789001,"segment_backups":[{}],"size":21534,"load_state":"NotLoad"}}"#,
            golden_segment_obj()
        )
    } else {
        r#"{"partition_id":449577123456789002,"partition_name":"_default","collection_id":449577123456789001,"size":21534,"load_state":"NotLoad"}"#.to_string()
    };
    format!(
        concat!(
            r#"{{"id":"0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11","collection_id":449577123456789001,"db_name":"default","collection_name":"hello_milvus","#,
            r#""schema":{{"name":"hello_milvus","description":"demo","fields":["#,
            r#"{{"fieldID":100,"name":"pk","is_primary_key":true,"data_type":5}},"#,
            r#"{{"fieldID":101,"name":"random","data_type":11}},"#,
            r#"{{"fieldID":102,"name":"embeddings","data_type":101,"type_params":[{{"key":"dim","value":"8"}}]}}]}},"#,
            r#""shards_num":1,"consistency_level":2,"partition_backups":[{}],"#,
            r#""backup_timestamp":449577999000000000,"size":21534,"has_index":true,"#,
            r#""index_infos":[{{"field_name":"embeddings","index_name":"_default_idx_102","index_type":"HNSW","#,
            r#""params":{{"index_type":"HNSW","metric_type":"L2","params":"{{\"M\":8,\"efConstruction\":64}}"}},"index_id":449577123456789050}}],"#,
            r#""load_state":"NotLoad","backup_physical_timestamp":1694085634,"#,
            r#""channel_checkpoints":{{"by-dev-rootcoord-dml_0_449577123456789001v0":"Ci1ieS1kZXYt"}},"#,
            r#""created_timestamp":449577100000000000,"#,
            r#""virtual_channel_names":["by-dev-rootcoord-dml_0_449577123456789001v0"],"physical_channel_names":["by-dev-rootcoord-dml_0"]}}"#
        ),
        part
    )
}

fn golden_segment_obj() -> String {
    let fb = |f: i64, size: i64, log: i64| {
        let key = if f == 0 {
            String::new()
        } else {
            format!(r#""fieldID":{f},"#)
        };
        format!(
            r#"{{{key}"binlogs":[{{"log_path":"files/insert_log/{C}/{P}/{S}/{f}/{log}","log_size":{size},"log_id":{log}}}]}}"#
        )
    };
    format!(
        concat!(
            r#"{{"segment_id":449577123456789010,"collection_id":449577123456789001,"partition_id":449577123456789002,"num_of_rows":3000,"#,
            r#""binlogs":[{},{},{},{},{}],"#,
            r#""deltalogs":[{{"binlogs":[{{"log_path":"files/delta_log/449577123456789001/449577123456789002/449577123456789010/449577123456789201","log_size":400,"log_id":449577123456789201}}]}}],"#,
            r#""size":21534,"group_id":449577123456789010}}"#
        ),
        fb(0, 8133, 449577123456789101),
        fb(1, 544, 449577123456789102),
        fb(100, 8133, 449577123456789103),
        fb(101, 2180, 449577123456789104),
        fb(102, 2144, 449577123456789105),
    )
}

#[test]
fn golden_level_files() {
    let files = build_meta_files(&example()).unwrap();
    assert_eq!(s(&files.backup), GOLDEN_BACKUP);
    assert_eq!(
        s(&files.collection),
        format!(r#"{{"infos":[{}]}}"#, golden_collection_obj(false))
    );
    assert_eq!(s(&files.partition), GOLDEN_PARTITION);
    assert_eq!(
        s(&files.segment),
        format!(r#"{{"infos":[{}]}}"#, golden_segment_obj())
    );
    let full = format!(
        concat!(
            r#"{{"id":"0b7c2a4e-3f0e-4f61-9d5d-5f1f6f1c9a11","state_code":0,"name":"my_backup","#,
            r#""collection_backups":[{}],"size":21534,"milvus_version":"v2.3.22","#,
            r#""database_backups":[{{"db_name":"default","db_id":1}}]}}"#
        ),
        golden_collection_obj(true)
    );
    assert_eq!(s(&files.full), full);
    assert!(!files.full.ends_with(b"\n"));
    let order: Vec<&str> = files.in_write_order().iter().map(|(n, _)| *n).collect();
    assert_eq!(order, META_WRITE_ORDER);
    assert_eq!(META_WRITE_ORDER[4], FULL_META_FILE);
}

#[test]
fn full_meta_round_trips_byte_for_byte() {
    let files = build_meta_files(&example()).unwrap();
    let back = read_backup(Some(&files.full), &files.backup, None, None, None).unwrap();
    assert_eq!(back, example());
    assert_eq!(to_go_json(&back).unwrap(), files.full);
}

#[test]
fn l0_segments_only_in_full_meta() {
    let mut info = example();
    let l0 = SegmentBackupInfo {
        segment_id: 7,
        collection_id: C,
        partition_id: ALL_PARTITION_ID,
        is_l0: true,
        size: 10,
        deltalogs: vec![FieldBinlog::default()],
        ..SegmentBackupInfo::default()
    };
    info.collection_backups[0].l0_segments = vec![l0];
    let files = build_meta_files(&info).unwrap();
    assert!(!s(&files.collection).contains("l0_segments"));
    assert!(!s(&files.segment).contains(r#""segment_id":7,"#));
    // An empty FieldBinlog is `{}`, hence Go's `"deltalogs":[{}]`.
    assert!(s(&files.full).contains(
        r#""l0_segments":[{"segment_id":7,"collection_id":449577123456789001,"partition_id":-1,"deltalogs":[{}],"size":10,"is_l0":true}]"#
    ));
    // Level-only read cannot see them (as upstream).
    let back = read_backup(
        None,
        &files.backup,
        Some(&files.collection),
        Some(&files.partition),
        Some(&files.segment),
    )
    .unwrap();
    assert!(back.collection_backups[0].l0_segments.is_empty());
}

#[test]
fn empty_backup_files() {
    let info = BackupInfo {
        name: "b".into(),
        ..BackupInfo::default()
    };
    let files = build_meta_files(&info).unwrap();
    assert_eq!(s(&files.backup), r#"{"state_code":0,"name":"b","size":0}"#);
    assert_eq!(s(&files.collection), "{}");
    assert_eq!(s(&files.partition), "{}");
    assert_eq!(s(&files.segment), "{}");
    assert_eq!(
        s(&to_go_json(&Binlog::default()).unwrap()),
        r#"{"log_size":0}"#
    );
    assert_eq!(
        s(&to_go_json(&CollectionBackupInfo::default()).unwrap()),
        r#"{"size":0,"has_index":false}"#
    );
}

#[test]
fn big_ids_exact() {
    let json = br#"{"state_code":0,"backup_timestamp":18446744073709551615,"collection_backups":[{"collection_id":9007199254740993,"size":0,"has_index":false}],"size":9223372036854775807}"#;
    let info: BackupInfo = from_go_json(json, FULL_META_FILE).unwrap();
    assert_eq!(info.backup_timestamp, u64::MAX);
    assert_eq!(info.size, i64::MAX);
    assert_eq!(info.collection_backups[0].collection_id, 9007199254740993);
    assert_eq!(to_go_json(&info).unwrap(), json.to_vec());
}

#[test]
fn html_and_separator_escaping() {
    let mut params = BTreeMap::new();
    params.insert("b<&>".to_string(), "x".to_string());
    params.insert(
        "a".to_string(),
        "\u{2028}\u{2029}\u{1}\u{8}\u{c}\n\t\"\\/\u{7f}é".to_string(),
    );
    let idx = IndexInfo {
        index_name: "<script>&".into(),
        params,
        ..IndexInfo::default()
    };
    let out = to_go_json(&idx).unwrap();
    assert_eq!(
        s(&out),
        r#"{"index_name":"\u003cscript\u003e\u0026","params":{"a":"\u2028\u2029\u0001\b\f\n\t\"\\/"#
            .to_string()
            + "\u{7f}é" + r#"","b\u003c\u0026\u003e":"x"}}"#
    );
    let back: IndexInfo = from_go_json(&out, "test").unwrap();
    assert_eq!(back, idx);
}

#[test]
fn map_keys_sorted_bytewise() {
    let coll = CollectionBackupInfo {
        channel_checkpoints: BTreeMap::from([
            ("b".to_string(), "1".to_string()),
            ("B".to_string(), "2".to_string()),
            ("a".to_string(), "3".to_string()),
            ("_".to_string(), "4".to_string()),
        ]),
        ..CollectionBackupInfo::default()
    };
    assert_eq!(
        s(&to_go_json(&coll).unwrap()),
        r#"{"size":0,"has_index":false,"channel_checkpoints":{"B":"2","_":"4","a":"3","b":"1"}}"#
    );
}

#[test]
fn read_level_files_recomputes_sizes() {
    let mut info = example();
    // Second partition with two segments; stale sizes everywhere.
    let mut seg2 = example_segment();
    seg2.segment_id = 11;
    seg2.partition_id = 12;
    seg2.group_id = 11;
    seg2.size = 100;
    let mut seg3 = seg2.clone();
    seg3.segment_id = 13;
    seg3.group_id = 13;
    seg3.size = 5;
    info.collection_backups[0]
        .partition_backups
        .push(PartitionBackupInfo {
            partition_id: 12,
            partition_name: "p2".into(),
            collection_id: C,
            segment_backups: vec![seg2, seg3],
            size: 999,
            load_state: String::new(),
        });
    info.collection_backups[0].size = 1;
    info.size = 2;
    let files = build_meta_files(&info).unwrap();
    let back = read_backup(
        None,
        &files.backup,
        Some(&files.collection),
        Some(&files.partition),
        Some(&files.segment),
    )
    .unwrap();
    let coll = &back.collection_backups[0];
    assert_eq!(coll.partition_backups.len(), 2);
    assert_eq!(coll.partition_backups[0].size, 21534);
    assert_eq!(coll.partition_backups[1].size, 105);
    assert_eq!(coll.partition_backups[1].segment_backups.len(), 2);
    assert_eq!(coll.size, 21639);
    assert_eq!(back.size, 21639);
    assert_eq!(coll.schema, info.collection_backups[0].schema);

    let missing = read_backup(
        None,
        &files.backup,
        Some(&files.collection),
        None,
        Some(&files.segment),
    );
    assert!(matches!(
        missing,
        Err(MetaError::MissingLevelFile {
            file: PARTITION_META_FILE
        })
    ));
}

#[test]
fn read_v04_style_backup() {
    let backup = br#"{"id":"x","state_code":2,"errorMessage":"","start_time":1690000000000,"end_time":1690000001000,"progress":100,"name":"old_backup","backup_timestamp":1690000000000,"size":7,"milvus_version":"v2.2.11"}"#;
    // v0.4.x collection_meta: full clone incl. partitions and segments, old fields.
    let collection = br#"{"infos":[{"id":"x","state_code":2,"errorMessage":"","start_time":1,"end_time":2,"progress":100,"collection_id":449577123456789001,"db_name":"default","collection_name":"c","schema":{"name":"c","fields":[{"fieldID":100,"name":"pk","is_primary_key":true,"data_type":5,"default_value_proto":"\b\u0001"},{"fieldID":101,"name":"v","data_type":101,"type_params":[{"key":"dim","value":"4"}],"default_value":null}]},"shards_num":2,"partition_backups":[{"partition_id":5,"partition_name":"_default","collection_id":449577123456789001,"segment_backups":[{"segment_id":9}],"size":3}],"backup_timestamp":449577999000000000,"size":3,"has_index":false,"load_state":"Loaded"}]}"#;
    let partition = br#"{"infos":[{"partition_id":5,"partition_name":"_default","collection_id":449577123456789001,"size":3},{"partition_id":6,"collection_id":1,"size":1}]}"#;
    let segment = br#"{"infos":[{"segment_id":9,"collection_id":449577123456789001,"partition_id":5,"num_of_rows":10,"binlogs":[{"binlogs":[{"log_path":"files/insert_log/449577123456789001/5/9/0/1","log_size":4}]}],"statslogs":[{"fieldID":100,"binlogs":[{"log_path":"files/stats_log/x","log_size":1}]}],"deltalogs":null,"size":4,"backuped":true},{"segment_id":10,"collection_id":449577123456789001,"partition_id":5,"size":6,"backuped":true}]}"#;
    let info = read_backup(
        None,
        backup,
        Some(collection),
        Some(partition),
        Some(segment),
    )
    .unwrap();
    assert_eq!(info.state_code, BackupTaskStateCode::SUCCESS);
    assert_eq!(info.name, "old_backup");
    assert_eq!(info.size, 10);
    let coll = &info.collection_backups[0];
    assert_eq!(coll.size, 10);
    assert_eq!(coll.load_state, "Loaded");
    let fields = &coll.schema.as_ref().unwrap().fields;
    assert_eq!(fields[0].default_value_proto, "\u{8}\u{1}");
    assert_eq!(fields[1].default_value, None);
    assert_eq!(coll.partition_backups.len(), 1);
    let part = &coll.partition_backups[0];
    assert_eq!(part.size, 10);
    assert_eq!(part.segment_backups.len(), 2);
    let seg = &part.segment_backups[0];
    assert_eq!(seg.group_id, 0);
    assert!(seg.backuped);
    assert_eq!(seg.statslogs.len(), 1);
    assert!(seg.deltalogs.is_empty());
    assert_eq!(seg.binlogs[0].field_id, 0);
    assert_eq!(seg.binlogs[0].binlogs[0].log_id, 0);

    // group_id 0: objects sit at insert_log/C/P/S/F/L, one partition-level import pair.
    let dir = backup_dir("backup", "old_backup");
    assert_eq!(
        insert_log_key(&dir, seg, 0, 1),
        "backup/old_backup/binlogs/insert_log/449577123456789001/5/9/0/1"
    );
    assert_eq!(
        partition_import_dirs(&dir, coll.collection_id, part).unwrap(),
        vec![ImportDirs {
            insert_dir: "backup/old_backup/binlogs/insert_log/449577123456789001/5/".into(),
            delta_dir: "backup/old_backup/binlogs/delta_log/449577123456789001/5/".into(),
        }]
    );
}

#[test]
fn collection_meta_variants_read_alike() {
    let info = example();
    let files = build_meta_files(&info).unwrap();
    let head = read_backup(
        None,
        &files.backup,
        Some(&files.collection),
        Some(&files.partition),
        Some(&files.segment),
    )
    .unwrap();
    // <= v0.5.9: full clone of the collection.
    let clone = to_go_json(&CollectionLevelBackupInfo {
        infos: info.collection_backups.clone(),
    })
    .unwrap();
    // l0compact: partitions cleared.
    let mut bare = info.collection_backups[0].clone();
    bare.partition_backups.clear();
    let bare = to_go_json(&CollectionLevelBackupInfo { infos: vec![bare] }).unwrap();
    for variant in [clone, bare] {
        let got = read_backup(
            None,
            &files.backup,
            Some(&variant),
            Some(&files.partition),
            Some(&files.segment),
        )
        .unwrap();
        assert_eq!(got, head);
    }
    // Level files do not carry database_backups/rbac (upstream loses them too).
    let mut expected = info;
    expected.database_backups.clear();
    assert_eq!(head, expected);
}

#[test]
fn layout_keys() {
    let dir = backup_dir("backup", "my_backup");
    assert_eq!(dir, "backup/my_backup/");
    assert_eq!(backup_dir("/root/backup/", "n"), "/root/backup/n/");
    assert_eq!(
        meta_key(&dir, FULL_META_FILE),
        "backup/my_backup/meta/full_meta.json"
    );
    let seg = example_segment();
    assert_eq!(
        insert_log_key(&dir, &seg, 101, 449577123456789104),
        format!("backup/my_backup/binlogs/insert_log/{C}/{P}/{S}/{S}/101/449577123456789104")
    );
    assert_eq!(
        delta_log_key(&dir, &seg, 449577123456789201),
        format!("backup/my_backup/binlogs/delta_log/{C}/{P}/{S}/{S}/449577123456789201")
    );
    assert_eq!(
        segment_insert_dir(&dir, &seg),
        format!("backup/my_backup/binlogs/insert_log/{C}/{P}/{S}/{S}/")
    );
    let l0 = SegmentBackupInfo {
        segment_id: 77,
        collection_id: 1,
        partition_id: ALL_PARTITION_ID,
        is_l0: true,
        group_id: 77,
        ..SegmentBackupInfo::default()
    };
    assert_eq!(
        delta_log_key(&dir, &l0, 5),
        "backup/my_backup/binlogs/delta_log/1/-1/77/5"
    );
    assert_eq!(
        segment_delta_dir(&dir, &l0),
        "backup/my_backup/binlogs/delta_log/1/-1/77/"
    );
    assert_eq!(
        l0_import_dir(&dir, &l0),
        "backup/my_backup/binlogs/delta_log/1/-1/77/"
    );
    assert_eq!(
        import_dirs(&dir, 1, 2, 3),
        ImportDirs {
            insert_dir: "backup/my_backup/binlogs/insert_log/1/2/3/".into(),
            delta_dir: "backup/my_backup/binlogs/delta_log/1/2/3/".into(),
        }
    );
    assert_eq!(go_clean("a//b/./c/../d/"), "a/b/d");
    assert_eq!(go_clean("/../a"), "/a");
    assert_eq!(go_join(&["", ""]), "");
}

#[test]
fn group_dirs_dedupe_and_mixed() {
    let dir = "b/n/";
    let seg = |id: i64, g: i64, l0: bool| SegmentBackupInfo {
        segment_id: id,
        collection_id: 1,
        partition_id: 2,
        group_id: g,
        is_l0: l0,
        ..SegmentBackupInfo::default()
    };
    let mut part = PartitionBackupInfo {
        partition_id: 2,
        collection_id: 1,
        segment_backups: vec![
            seg(10, 1, false),
            seg(11, 1, false),
            seg(12, 2, false),
            seg(13, 13, true),
        ],
        ..PartitionBackupInfo::default()
    };
    let dirs = partition_import_dirs(dir, 1, &part).unwrap();
    assert_eq!(
        dirs,
        vec![import_dirs(dir, 1, 2, 1), import_dirs(dir, 1, 2, 2)]
    );
    part.segment_backups.push(seg(14, 0, false));
    assert!(matches!(
        partition_import_dirs(dir, 1, &part),
        Err(MetaError::MixedGroupIds { .. })
    ));
    part.segment_backups = vec![seg(13, 13, true)];
    assert!(partition_import_dirs(dir, 1, &part).unwrap().is_empty());
}

#[test]
fn backup_name_validation() {
    let long_ok = "a".repeat(128);
    let long_bad = "a".repeat(129);
    let table: &[(&str, bool)] = &[
        ("my_backup", true),
        ("_x", true),
        ("_", true),
        ("A1_b2", true),
        ("backup_2024_01_02_03_04_05_123456789", true),
        (&long_ok, true),
        (&long_bad, false),
        ("", false),
        ("1abc", false),
        ("a-b", false),
        ("a b", false),
        (" a", false),
        ("a.b", false),
        ("a/b", false),
        ("é", false),
        ("aé", false),
    ];
    for (name, ok) in table {
        assert_eq!(validate_backup_name(name).is_ok(), *ok, "{name:?}");
    }
}

#[test]
fn default_names() {
    let t = UNIX_EPOCH + Duration::new(1_694_085_634, 7);
    assert_eq!(default_backup_name(t), "backup_2023_09_07_11_20_34_7");
    assert_eq!(
        default_backup_name(UNIX_EPOCH),
        "backup_1970_01_01_00_00_00_0"
    );
    let leap = UNIX_EPOCH + Duration::new(951_782_400 + 86_399, 999_999_999);
    assert_eq!(
        default_backup_name(leap),
        "backup_2000_02_29_23_59_59_999999999"
    );
    let name = default_backup_name(SystemTime::now());
    assert!(validate_backup_name(&name).is_ok());
}

#[test]
fn decode_errors_name_the_file() {
    let err = read_backup(None, b"{", None, None, None).unwrap_err();
    assert!(err.to_string().contains(BACKUP_META_FILE), "{err}");
    let err = from_go_json::<BackupInfo>(br#"{"size":"x"}"#, FULL_META_FILE).unwrap_err();
    assert!(err.to_string().contains(FULL_META_FILE), "{err}");
}
