#!/usr/bin/env python3
"""Render a milvus.yaml for one Milvus 2.3.5 standalone from the template the PyPI `milvus` wheel ships.

usage: milvus_config.py OUT_DIR GRPC_PORT S3_HOST:PORT BUCKET ROOT_PATH AK SK
Writes OUT_DIR/configs/{milvus.yaml,etcd.yaml} and creates OUT_DIR/{data,logs}.

Why each override:
* ports all derive from one base P so several instances coexist: P proxy gRPC (the only client port),
  P+1 proxy internal, P+2 rootCoord, P+3 queryCoord, P+4 queryNode, P+5 indexNode, P+6 dataCoord,
  P+7 dataNode, P+8/P+9 embedded etcd client/peer, P+10 metrics+/healthz (METRICS_PORT env, set by
  milvus.sh), P+11 natsmq (unused; rocksmq is the default mq).
* embedded etcd would listen on localhost:2379/2380 by default -> its own config file on 127.0.0.1.
* every component registers <comp>.ip in etcd (default: first non-loopback IP) -> 127.0.0.1, so all
  internal traffic stays on loopback (Milvus still *binds* its gRPC ports on all interfaces).
* storage: plain-http, path-style S3 (s3s-fs), region us-east-1.
* gracefulStopTimeout: defaults (1800 s / 30 s) would make SIGTERM hang; tests want it fast.
"""
import os
import re
import sys

import milvus  # ships data/config.yaml.template
import yaml


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    out_dir, p, endpoint, bucket, root_path, ak, sk = sys.argv[1:]
    p = int(p)
    out_dir = os.path.abspath(out_dir)
    data, logs, conf = (os.path.join(out_dir, d) for d in ("data", "logs", "configs"))
    for d in (data, logs, conf):
        os.makedirs(d, exist_ok=True)
    tpl = open(os.path.join(os.path.dirname(milvus.__file__), "data", "config.yaml.template")).read()
    values = {
        "etcd_port": p + 8, "etcd_log_level": "warn", "etcd_log_path": os.path.join(logs, "etcd.log"),
        "etcd_data_dir": os.path.join(data, "etcd.data"), "local_storage_dir": data,
        "rocksmq_data_dir": os.path.join(data, "rocksmq"), "root_coord_port": p + 2,
        "proxy_port": p, "proxy_internal_port": p + 1, "query_coord_port": p + 3,
        "query_node_port": p + 4, "index_coord_port": p + 5, "index_node_port": p + 5,
        "data_coord_port": p + 6, "data_node_port": p + 7, "system_log_path": logs,
        "server_pem_path": "server.pem", "server_key_path": "server.key", "ca_pem_path": "ca.pem",
        "authorization_enabled": "false", "tls_mode": 0,
    }

    def sub(m):  # template placeholders look like {{ name }} or {{ name(default) }}
        return str(values[re.split(r"[(:]", m.group(1).strip())[0].strip()])

    cfg = yaml.safe_load(re.sub(r"\{\{(.*?)\}\}", sub, tpl))

    etcd_cfg = os.path.join(conf, "etcd.yaml")
    with open(etcd_cfg, "w") as f:
        yaml.safe_dump({
            "name": "milvus-embed",
            "listen-client-urls": f"http://127.0.0.1:{p + 8}",
            "advertise-client-urls": f"http://127.0.0.1:{p + 8}",
            "listen-peer-urls": f"http://127.0.0.1:{p + 9}",
            "initial-advertise-peer-urls": f"http://127.0.0.1:{p + 9}",
            "initial-cluster": f"milvus-embed=http://127.0.0.1:{p + 9}",
        }, f)
    cfg["etcd"]["endpoints"] = f"127.0.0.1:{p + 8}"
    cfg["etcd"]["config"] = {"path": etcd_cfg}
    for comp in ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode"):
        cfg[comp]["ip"] = "127.0.0.1"
    cfg["natsmq"]["server"]["port"] = p + 11
    cfg["natsmq"]["server"]["storeDir"] = os.path.join(data, "nats")
    cfg["common"]["gracefulStopTimeout"] = 3
    cfg["queryNode"]["gracefulStopTimeout"] = 0
    cfg["indexNode"]["gracefulStopTimeout"] = 0
    cfg["log"]["level"] = "info"
    host, port = endpoint.rsplit(":", 1)
    cfg["common"]["storageType"] = "minio"
    cfg["minio"].update({"address": host, "port": int(port), "bucketName": bucket,
                         "rootPath": root_path, "accessKeyID": ak, "secretAccessKey": sk,
                         "useSSL": False, "useVirtualHost": False, "region": "us-east-1",
                         "useIAM": False, "cloudProvider": "aws", "logLevel": "warn"})
    with open(os.path.join(conf, "milvus.yaml"), "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    print(os.path.join(conf, "milvus.yaml"))


if __name__ == "__main__":
    main()
