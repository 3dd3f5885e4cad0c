#!/usr/bin/env python3
"""Markdown tables from the raw figures of benches/transfer.sh.

usage: benches/report.py RESULTS_JSONL [RESULTS_MD]
Prints one table per dataset plus ratio lines, and writes the same text to RESULTS_MD when given.
Each line of RESULTS_JSONL is one timed command of one round: dataset, scale, round, tool, kind (copy, read,
verify, noop), objects, bytes (the dataset's), seconds, rss_mib, cpu_s (the command, children included),
servers_cpu_s (both S3 servers during the command), and cores (the machine's; os.cpu_count() when absent);
with a shaped link (MBX_BENCH_LINK), link_rtt_ms and link_mib_s (its round trip and cap each way).
"""
import json
import os
import statistics
import sys

# tool -> row label, in table order
LABELS = {
    "mbx": "`mbx transfer` A→B (defaults)",
    "mbx-bwlimit": "`mbx transfer --bwlimit` A→B (slow-link mode)",
    "rclone-default": "`rclone copy` A→B (defaults)",
    "rclone-tuned": "`rclone copy` A→B, tuned ¹",
    "rclone-wide": "`rclone copy` A→B, tuned wide ²",
    "two-hop": "two hops: `rclone copy` A→local disk, then local→B (tuned ¹)",
    "read-mbx": "limit, read A alone: `mbx verify` of A",
    "read-rclone": "limit, read A alone: `rclone md5sum --download --checkers 16`",
    "write-mbx": "limit, write B alone: `mbx transfer` local→B",
    "write-rclone": "limit, write B alone: `rclone copy` local→B (tuned ¹)",
    "mbx-verify": "`mbx verify` of B (reads B, checks the manifest)",
    "rclone-check": "`rclone check --download` (reads A and B; tuned ¹)",
    "mbx-rerun": "`mbx transfer` again, nothing to copy",
    "rclone-rerun": "`rclone copy` again, nothing to copy (tuned ¹)",
    "mbx-base": "`mbx transfer` A→B, the earlier build (MBX_BASE_BIN)",
    "fs-mbx": "pipeline: `mbx transfer` folder→folder, same disk",
    "fs-mbx-base": "pipeline: the earlier build (MBX_BASE_BIN), folder→folder",
    "cp-r": "pipeline: `cp -r` of the same folder",
    "cp-r-sync": "pipeline: `cp -r`, then `sync -f` (flushed to disk, as mbx does)",
    "link-up": "the link itself, up: 256 MiB to B in 8 parallel `curl` PUTs",
    "link-down": "the link itself, down: 256 MiB from A in 8 parallel `curl` ranged GETs",
}
RCLONE_COPIES = ("rclone-default", "rclone-tuned", "rclone-wide")
NOTES = """¹ `--transfers 16 --checkers 32 --s3-upload-concurrency 4 --s3-chunk-size 16M --multi-thread-streams 4`
² `--transfers 32 --checkers 64 --s3-upload-concurrency 8 --s3-chunk-size 32M --multi-thread-streams 4 --s3-no-head`

MiB/s is the dataset's size over the wall time (`rclone check` reads it twice, from A and from B); min and median
over the rounds. Peak RSS: the largest over the rounds; CPU: median, user + system, of the command (two-hop: both
rclone runs) and, separately, of the two S3 servers, which share the machine's cores with the tools. CPU busy: the
command's and the servers' CPU over (cores × wall time), median: near 100 %, the copy was bound by the machine's
CPU, and only spending less of it could make it faster."""


def med(xs):
    return statistics.median(xs) if xs else None


def summary(rows):
    rates = [r["bytes"] / 1048576 / r["seconds"] for r in rows]
    return {
        "rounds": len(rows),
        "kind": rows[0]["kind"],
        "min": min(rates),
        "median": med(rates),
        "seconds": med([r["seconds"] for r in rows]),
        "rss": max(r["rss_mib"] for r in rows),
        "cpu": med([r["cpu_s"] for r in rows]),
        "srv": med([r["servers_cpu_s"] for r in rows]),
        "busy": med([(r["cpu_s"] + r["servers_cpu_s"]) / (r.get("cores") or os.cpu_count() or 1) / r["seconds"]
                     for r in rows]),
        "cpu_per_gib": med([r["cpu_s"] / (r["bytes"] / 2**30) for r in rows]),
    }


def fmt_ratio(x):
    return f"{x:.2f}" if x < 10 else f"{x:.0f}"


def report(records):
    out = []
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    for ds in datasets:
        recs = [r for r in records if r["dataset"] == ds]
        tools = {t: summary([r for r in recs if r["tool"] == t]) for t in dict.fromkeys(r["tool"] for r in recs)}
        first = recs[0]
        rounds = max(r["round"] for r in recs)
        link = first.get("link_mib_s")
        data = next((r for r in recs if not r["tool"].startswith("link-")), first)
        shaped = f"; link {first['link_rtt_ms']} ms round trip, {link:.1f} MiB/s each way" if link else ""
        out.append(f"### dataset `{ds}` (scale {first['scale']:g}: {data['objects']:,} objects, "
                   f"{data['bytes'] / 1048576:,.1f} MiB; {rounds} interleaved rounds{shaped})\n")
        extra = " % of link | copier CPU s/GiB |" if link else ""
        out.append("| tool | MiB/s min | MiB/s median | seconds (median) | peak RSS MiB | CPU s | servers CPU s "
                   "| CPU busy |" + extra)
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if link else ""))
        order = [t for t in LABELS if t in tools] + [t for t in tools if t not in LABELS]
        for t in order:
            s = tools[t]
            rate = ("—", "—") if s["kind"] == "noop" else (f"{s['min']:.1f}", f"{s['median']:.1f}")
            cells = ""
            if link:
                share = "—" if s["kind"] == "noop" else f"{s['median'] / link:.0%}"
                cells = f" {share} | {s['cpu_per_gib']:.2f} |"
            out.append(f"| {LABELS.get(t, t)} | {rate[0]} | {rate[1]} | {s['seconds']:.2f} | {s['rss']:.0f} | "
                       f"{s['cpu']:.1f} | {s['srv']:.1f} | {s['busy']:.0%} |" + cells)
        out.append("")
        out.append("Ratios (medians, same run, same data):")
        m = tools.get("mbx")
        rc = [(tools[t]["median"], t) for t in RCLONE_COPIES if t in tools]
        if m and rc:
            best, bt = max(rc)
            line = f"- transfer: mbx / rclone best ({bt}, {best:.1f} MiB/s) = **{fmt_ratio(m['median'] / best)}×**"
            if "rclone-default" in tools:
                line += f"; mbx / rclone defaults = {fmt_ratio(m['median'] / tools['rclone-default']['median'])}×"
            out.append(line)
        reads = [(tools[t]["median"], t) for t in ("read-mbx", "read-rclone") if t in tools]
        writes = [(tools[t]["median"], t) for t in ("write-mbx", "write-rclone") if t in tools]
        if m and reads and writes:
            (r, rt), (w, wt) = max(reads), max(writes)
            limit = min(r, w)
            out.append(f"- transfer: mbx / limit = **{m['median'] / limit:.2f}** (limit = min(read A alone "
                       f"{r:.1f} MiB/s by {rt}, write B alone {w:.1f} MiB/s by {wt}) = {limit:.1f} MiB/s)")
        srv_reads = [tools[t]["srv"] for t in ("read-mbx", "read-rclone") if t in tools]
        srv_writes = [tools[t]["srv"] for t in ("write-mbx", "write-rclone") if t in tools]
        if m and srv_reads and srv_writes:
            cores = recs[0].get("cores") or os.cpu_count() or 1
            floor = (min(srv_reads) + min(srv_writes)) / cores
            out.append(f"- transfer: the servers' CPU floor / mbx time = **{floor / m['seconds']:.2f}** (reading A "
                       f"and writing B alone cost the servers {min(srv_reads):.1f} + {min(srv_writes):.1f} CPU s; on "
                       f"{cores} cores no A→B copy can take less than {floor:.2f} s, even one that cost nothing)")
        if m and link:
            line = f"- transfer: mbx / link cap = **{m['median'] / link:.0%}**"
            checks = [(tools[t]["median"], t) for t in ("link-up", "link-down") if t in tools]
            if checks:
                floor, ft = min(checks)
                line += (f"; mbx / what the link carried with the servers behind it ({ft}, {floor:.1f} MiB/s) = "
                         f"**{m['median'] / floor:.0%}**")
            out.append(line)
            if rc:
                best, bt = max(rc)
                if best < 0.9 * link:
                    out.append(f"- rclone's best ({bt}) reaches {best / link:.0%} of the link: mbx / it = "
                               f"**{fmt_ratio(m['median'] / best)}×**")
        bw = [r for r in recs if r["tool"] == "mbx-bwlimit" and r.get("bwlimit_mib_s")]
        if bw:
            lim = bw[0]["bwlimit_mib_s"]
            out.append(f"- slow-link mode: `mbx transfer --bwlimit {lim:g}MiB` / its limit = "
                       f"**{tools['mbx-bwlimit']['median'] / lim:.0%}**")
        if m and "two-hop" in tools:
            out.append(f"- transfer: mbx / manual two hops = {fmt_ratio(m['median'] / tools['two-hop']['median'])}×")
        if "mbx-verify" in tools and "rclone-check" in tools:
            a, b = tools["rclone-check"]["seconds"], tools["mbx-verify"]["seconds"]
            out.append(f"- verify: `rclone check --download` / `mbx verify` time = **{fmt_ratio(a / b)}×** "
                       f"({a:.2f} s / {b:.2f} s)")
        if "mbx-rerun" in tools and "rclone-rerun" in tools:
            a, b = tools["rclone-rerun"]["seconds"], tools["mbx-rerun"]["seconds"]
            out.append(f"- no-op re-run: rclone / mbx time = **{fmt_ratio(a / b)}×** ({a:.2f} s / {b:.2f} s)")
        for new, old in (("mbx", "mbx-base"), ("fs-mbx", "fs-mbx-base")):
            if new in tools and old in tools:
                a, b = tools[new]["median"], tools[old]["median"]
                out.append(f"- this build / the earlier one ({new}) = **{a / b:.2f}** ({a:.1f} / {b:.1f} MiB/s)")
        if "fs-mbx-base" in tools and "cp-r-sync" in tools:
            a, b = tools["fs-mbx-base"]["median"], tools["cp-r-sync"]["median"]
            out.append(f"- pipeline: the earlier build / `cp -r` + `sync` = {a / b:.2f} ({a:.1f} / {b:.1f} MiB/s)")
        if "fs-mbx" in tools and "cp-r" in tools:
            a, b = tools["fs-mbx"]["median"], tools["cp-r"]["median"]
            out.append(f"- pipeline: mbx folder→folder / `cp -r` = **{a / b:.2f}** ({a:.1f} / {b:.1f} MiB/s)")
        if "fs-mbx" in tools and "cp-r-sync" in tools:
            a, b = tools["fs-mbx"]["median"], tools["cp-r-sync"]["median"]
            out.append(
                f"- pipeline: mbx folder→folder / `cp -r` + `sync` = **{a / b:.2f}** ({a:.1f} / {b:.1f} MiB/s)"
            )
        out.append("")
    out.append(NOTES)
    return "\n".join(out)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    if not records:
        sys.exit(f"no results in {sys.argv[1]}")
    text = report(records)
    print(text)
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
