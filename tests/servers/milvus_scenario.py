#!/usr/bin/env python3
"""Seed and check Milvus 2.3.5 collections for mbx's integration tests. Run with the venv python that
milvus-setup.sh prints ($MBX_TEST_MILVUS_PYTHON). Prints one JSON object on stdout; on a failed check it
prints {"ok": false, "error": ...}, says why on stderr and exits 1.

  seed    --addr HOST:PORT --collection NAME [--database DB] [--drop]
      int64 pk `id`, float_vector(8) `vec`, varchar(64) `tag`, JSON `meta`; 2 shards; partition `p1`;
      10k rows in 6 batches with 3 flushes; deletes on flushed and on growing data, in both partitions,
      one of them after the 2nd flush (a segment with two delta logs); the last batch (9000..9999) is never
      deleted from, so its segments have no delta log. IVF_FLAT index, loaded.
      -> {"collection", "rows", "partitions": {"_default": n, "p1": n}, "deleted": [ids]}
  seed-keyed --addr HOST:PORT --collection NAME [--drop]
      int64 pk `id`, int64 partition key `k` (= id % 50), float_vector(8) `vec`; 16 partitions (Milvus's
      default is 64), property collection.ttl.seconds; 3000 rows, 2 flushes, ids 0..99 deleted; loaded.
      -> {"collection", "rows", "partitions"}
  compare-keyed --a HOST:PORT --a-collection NAME --b HOST:PORT --b-collection NAME
      checks what seed-keyed made: schema (with the partition key), properties, partitions, count(*), and
      count(k == v) for every key value (a filter on the key only looks in the partition the key hashes to).
  compare --a HOST:PORT --a-collection NAME --b HOST:PORT --b-collection NAME [--a-db DB] [--b-db DB]
      builds B's index (same as A's) if missing, loads both, and checks: schema, shard count, count(*),
      per-partition counts, the same ids present (so none of A's deleted ids came back), row 7777 equal
      (vec, tag, meta), top-10 search ids equal for 20 random queries.   -> {"ok": true, ...}
  inventory --addr HOST:PORT
      what exists: every database and the collections in each (to check that a refused restore created
      nothing).   -> {"databases": {"default": [names], ...}}

pymilvus 2.3.5 / Milvus 2.3.5 gotchas:
* collections default to Bounded consistency: a query right after insert/delete may not see it. Every
  read here passes consistency_level="Strong".
* count(*) (like any query/search) needs the collection loaded; load(timeout=) waits until 100 % loaded
  and honours its timeout.
* utility.wait_for_index_building_complete ignores a float timeout (it checks isinstance(timeout, int)):
  pass an int.
* a query without limit returns every match; keep id ranges small enough for the 64 MiB gRPC limit.
* pymilvus 2.3.5's utility.do_bulk_insert drops backup="true": a restore must build ImportRequest itself
  (see the harness notes) -- not needed here, but the reason mbx talks raw gRPC.
"""
import argparse
import json
import sys
import time

import numpy as np
from pymilvus import (Collection, CollectionSchema, DataType, FieldSchema, Partition, connections,
                      utility)

DIM = 8
N = 10_000
TIMEOUT = 180  # int on purpose, see the docstring
INDEX = {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": 16}}
# nprobe == nlist: the search is exhaustive, so A and B must return the same ids whatever their segments.
SEARCH = {"metric_type": "L2", "params": {"nprobe": 16}}
STRONG = {"consistency_level": "Strong", "timeout": TIMEOUT}


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def vectors(ids):
    # one deterministic vector per id, so anyone can recompute expectations
    return [np.random.default_rng(i).random(DIM, dtype=np.float32).tolist() for i in ids]


def rows(ids):
    ids = list(ids)
    return [ids, vectors(ids), [f"tag_{i % 10}" for i in ids], [{"i": i, "even": i % 2 == 0} for i in ids]]


def connect(alias, addr, database="default"):
    host, port = addr.rsplit(":", 1)
    if database != "default":
        connections.connect(alias, host=host, port=port, timeout=30)
        from pymilvus import db
        if database not in db.list_database(using=alias):
            db.create_database(database, using=alias)
        connections.disconnect(alias)
    connections.connect(alias, host=host, port=port, timeout=30, db_name=database)
    return alias


def count(coll, partition=None):
    target = Partition(coll, partition) if partition else coll
    return target.query("", output_fields=["count(*)"], **STRONG)[0]["count(*)"]


def present_ids(coll):
    got = set()
    for lo in range(0, N, 2500):
        got |= {r["id"] for r in coll.query(f"id >= {lo} and id < {lo + 2500}", output_fields=["id"], **STRONG)}
    return got


def ensure_loaded(coll, index):
    if not coll.has_index():
        coll.create_index("vec", index, timeout=TIMEOUT)
    utility.wait_for_index_building_complete(coll.name, using=coll._using, timeout=TIMEOUT)
    coll.load(timeout=TIMEOUT)


def fresh(args):
    """The connection and the name of the collection to seed, dropped first if --drop allows it."""
    using = connect("A", args.addr, args.database)
    name = args.collection
    if utility.has_collection(name, using=using):
        check(args.drop, f"collection {name} already exists on {args.addr} (pass --drop to replace it)")
        utility.drop_collection(name, using=using)
    return using, name


def both(args):
    """(connection, collection) on A and on B, for the compare commands."""
    ua, ub = connect("A", args.a, args.a_db), connect("B", args.b, args.b_db)
    for u, n, addr in ((ua, args.a_collection, args.a), (ub, args.b_collection, args.b)):
        check(utility.has_collection(n, using=u), f"no collection {n} on {addr}")
    return (ua, Collection(args.a_collection, using=ua)), (ub, Collection(args.b_collection, using=ub))


def seed(args):
    using, name = fresh(args)
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
        FieldSchema("tag", DataType.VARCHAR, max_length=64),
        FieldSchema("meta", DataType.JSON),
    ], description="mbx seed collection")
    c = Collection(name, schema, using=using, shards_num=2)
    c.create_partition("p1")
    parts = {"_default": set(), "p1": set()}
    deleted = set()

    def ins(lo, hi, part="_default"):
        c.insert(rows(range(lo, hi)), partition_name=part, timeout=TIMEOUT)
        parts[part] |= set(range(lo, hi))

    def delete(lo, hi):
        c.delete(f"id in [{','.join(map(str, range(lo, hi)))}]", timeout=TIMEOUT)
        deleted.update(range(lo, hi))

    t = time.time()
    ins(0, 2000); ins(2000, 4000)
    c.flush(timeout=TIMEOUT)
    delete(0, 100)                               # flushed data, _default
    ins(4000, 6000); ins(6000, 8000); ins(8000, 9000, "p1")
    delete(5000, 5050)                           # growing data, _default
    delete(8500, 8550)                           # growing data, p1
    c.flush(timeout=TIMEOUT)
    delete(8900, 8920)                           # flushed data, p1: its segment gets a second delta log
    ins(9000, 10000)                             # last batch: never deleted from -> no delta log
    c.flush(timeout=TIMEOUT)
    t_ingest = time.time() - t
    ensure_loaded(c, INDEX)
    t_index_load = time.time() - t - t_ingest
    want = {p: len(ids - deleted) for p, ids in parts.items()}
    total = sum(want.values())
    got_total = count(c)
    check(got_total == total, f"seed: count(*) on {name} is {got_total}, expected {total}")
    for p, n in want.items():
        got = count(c, p)
        check(got == n, f"seed: partition {p} of {name} has {got} rows, expected {n}")
    return {"collection": name, "rows": total, "partitions": want, "deleted": sorted(deleted),
            "insert_delete_flush_s": round(t_ingest, 1), "index_and_load_s": round(t_index_load, 1)}


def schema_of(coll):
    return [(f.name, f.dtype.name, f.is_primary, f.auto_id, f.is_partition_key, sorted(f.params.items()))
            for f in coll.schema.fields]


KEYS = 50        # distinct partition-key values in seed-keyed
KEYED_ROWS = 3000
TTL = {"collection.ttl.seconds": "864000"}


def seed_keyed(args):
    using, name = fresh(args)
    schema = CollectionSchema([
        FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
        FieldSchema("k", DataType.INT64, is_partition_key=True),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
    ], description="mbx partition-key collection")
    c = Collection(name, schema, using=using, shards_num=1, num_partitions=16)
    c.set_properties(TTL)

    def ins(lo, hi):
        ids = list(range(lo, hi))
        c.insert([ids, [i % KEYS for i in ids], vectors(ids)], timeout=TIMEOUT)

    ins(0, KEYED_ROWS // 2)
    c.flush(timeout=TIMEOUT)
    ins(KEYED_ROWS // 2, KEYED_ROWS)
    c.delete(f"id in [{','.join(map(str, range(100)))}]", timeout=TIMEOUT)
    c.flush(timeout=TIMEOUT)
    ensure_loaded(c, INDEX)
    n = count(c)
    check(n == KEYED_ROWS - 100, f"seed-keyed: count(*) on {name} is {n}, expected {KEYED_ROWS - 100}")
    return {"collection": name, "rows": n, "partitions": len(c.partitions)}


def properties_of(using, name):
    return connections._fetch_handler(using).describe_collection(name).get("properties") or {}


def compare_keyed(args):
    (ua, ca), (ub, cb) = both(args)
    check(schema_of(ca) == schema_of(cb), f"schemas differ: A {schema_of(ca)} B {schema_of(cb)}")
    pa, pb = properties_of(ua, ca.name), properties_of(ub, cb.name)
    check(pa == pb, f"properties differ: A {pa} B {pb}")
    na, nb = sorted(p.name for p in ca.partitions), sorted(p.name for p in cb.partitions)
    check(na == nb, f"partitions differ: A has {len(na)} {na[:3]}..., B has {len(nb)} {nb[:3]}...")
    ensure_loaded(ca, INDEX)
    ensure_loaded(cb, INDEX)
    check(count(ca) == count(cb), f"count(*) differs: A {count(ca)} B {count(cb)}")
    per_key = {}
    for v in range(KEYS):
        x, y = (len(c.query(f"k == {v}", output_fields=["id"], **STRONG)) for c in (ca, cb))
        check(x == y, f"count(k == {v}) differs: A {x} B {y} (rows in the wrong partition for their key)")
        per_key[v] = x
    check(sum(per_key.values()) == count(ca), f"the keys' counts add up to {sum(per_key.values())}, not count(*)")
    return {"ok": True, "a": f"{args.a}/{ca.name}", "b": f"{args.b}/{cb.name}", "rows": count(ca),
            "partitions": len(na), "properties": pb, "keys_checked": KEYS}


def compare(args):
    (ua, ca), (ub, cb) = both(args)
    check(schema_of(ca) == schema_of(cb), f"schemas differ: A {schema_of(ca)} B {schema_of(cb)}")
    sa, sb = (connections._fetch_handler(u).describe_collection(c.name)["num_shards"]
              for u, c in ((ua, ca), (ub, cb)))
    check(sa == sb, f"shard counts differ: A {sa} B {sb}")
    index = ca.indexes[0].params if ca.has_index() else INDEX
    t = time.time()
    ensure_loaded(ca, index)
    ensure_loaded(cb, index)
    index_load_s = round(time.time() - t, 1)

    na, nb = count(ca), count(cb)
    check(na == nb, f"count(*) differs: A {na} B {nb}")
    pa = sorted(p.name for p in ca.partitions)
    pb = sorted(p.name for p in cb.partitions)
    check(pa == pb, f"partitions differ: A {pa} B {pb}")
    parts = {}
    for p in pa:
        x, y = count(ca, p), count(cb, p)
        check(x == y, f"partition {p}: A has {x} rows, B has {y}")
        parts[p] = x

    ids_a, ids_b = present_ids(ca), present_ids(cb)
    deleted = set(range(N)) - ids_a
    back = sorted(deleted & ids_b)
    check(not back, f"{len(back)} ids deleted on A are present on B, e.g. {back[:10]}")
    check(ids_a == ids_b, f"id sets differ: only on A {sorted(ids_a - ids_b)[:10]}, "
                          f"only on B {sorted(ids_b - ids_a)[:10]}")

    fields = ["id", "vec", "tag", "meta"]
    ra = ca.query("id == 7777", output_fields=fields, **STRONG)
    rb = cb.query("id == 7777", output_fields=fields, **STRONG)
    check(len(ra) == 1 and len(rb) == 1, f"row 7777: A has {len(ra)}, B has {len(rb)}")
    ra, rb = ra[0], rb[0]
    check(np.allclose(ra["vec"], rb["vec"]), f"row 7777 vec differs: A {ra['vec']} B {rb['vec']}")
    check(ra["tag"] == rb["tag"], f"row 7777 tag differs: A {ra['tag']!r} B {rb['tag']!r}")
    check(ra["meta"] == rb["meta"], f"row 7777 meta differs: A {ra['meta']!r} B {rb['meta']!r}")

    qs = np.random.default_rng(7).random((20, DIM), dtype=np.float32).tolist()
    sra = ca.search(qs, "vec", SEARCH, limit=10, **STRONG)
    srb = cb.search(qs, "vec", SEARCH, limit=10, **STRONG)
    diff = [i for i, (x, y) in enumerate(zip(sra, srb)) if list(x.ids) != list(y.ids)]
    if diff:
        i = diff[0]
        raise Fail(f"top-10 search ids differ for {len(diff)}/20 queries, e.g. query {i}: "
                   f"A {list(sra[i].ids)} B {list(srb[i].ids)}")
    return {"ok": True, "a": f"{args.a}/{ca.name}", "b": f"{args.b}/{cb.name}", "rows": na,
            "partitions": parts, "deleted_absent": len(deleted), "sample_row": 7777,
            "search_queries_equal": 20, "index": index, "index_and_load_s": index_load_s}


def inventory(args):
    using = connect("A", args.addr)
    from pymilvus import db
    out = {}
    for name in db.list_database(using=using):
        db.using_database(name, using=using)
        out[name] = sorted(utility.list_collections(using=using))
    return {"databases": out}


def main():
    ap = argparse.ArgumentParser(description="Seed and check Milvus collections for mbx tests (see the docstring).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--addr", required=True)
    s.add_argument("--collection", required=True)
    s.add_argument("--database", default="default")
    s.add_argument("--drop", action="store_true")
    s = sub.add_parser("seed-keyed")
    s.add_argument("--addr", required=True)
    s.add_argument("--collection", required=True)
    s.add_argument("--database", default="default")
    s.add_argument("--drop", action="store_true")
    s = sub.add_parser("inventory")
    s.add_argument("--addr", required=True)
    for cmd in ("compare", "compare-keyed"):
        c = sub.add_parser(cmd)
        c.add_argument("--a", required=True)
        c.add_argument("--a-collection", required=True)
        c.add_argument("--b", required=True)
        c.add_argument("--b-collection", required=True)
        c.add_argument("--a-db", default="default")
        c.add_argument("--b-db", default="default")
    args = ap.parse_args()
    t = time.time()
    run = {"seed": seed, "seed-keyed": seed_keyed, "compare": compare, "compare-keyed": compare_keyed,
           "inventory": inventory}[args.cmd]
    try:
        out = run(args)
    except Fail as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        print(f"milvus_scenario.py {args.cmd}: FAILED: {e}", file=sys.stderr)
        return 1
    out["seconds"] = round(time.time() - t, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
