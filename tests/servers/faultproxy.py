#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 reverse proxy for mbx's tests (Python 3.11 standard library only).

It sits between mbx and a real S3 server (s3s-fs on loopback) and, when told to, answers requests with
S3-style errors, resets connections part-way through a body, stalls, or throttles bandwidth, so a test can
check that mbx retries and resumes, and (from the byte counters) how much it re-sent after each fault.

usage: faultproxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:UPORT --control 127.0.0.1:CPORT
                     [--seed N] [--pidfile F]

Only 127.0.0.1 is accepted. Prints one line `ready` on stdout once both listeners are up; logs go to stderr.
SIGTERM or SIGINT stops it. Requests are forwarded byte for byte (SigV4 signs the Host header, so clients
sign for the proxy's address), one at a time per connection; bodies are streamed, never buffered.

Control port (HTTP, JSON bodies):
  POST /config        replace the config with the JSON object in the body ({} turns every fault off). Also
                      reseeds the random generator (config "seed", else --seed) and restarts the max_faults
                      count, so the same request sequence gets the same faults.
  GET  /config        the current config.
  GET  /stats         {"requests": {METHOD: n}, "responses": {"STATUS": n},
                       "faults": {"error": n, "reset": n, "stall": n},
                       "upstream_body_bytes": {METHOD: n}, "downstream_body_bytes": {METHOD: n},
                       "discarded_body_bytes": {METHOD: n}, "connections": n}
  POST /reset-stats   zero every counter.

Config keys (all optional; faults apply only to requests matching only_methods and path_contains):
  error_rate, error_status (503)  answer with that status and an S3 XML error; the body is read and dropped
                                  (with Expect: 100-continue: answered at once, then the connection closes).
  reset_rate                      requests with a body: forward a random prefix, then RST both connections.
  stall_rate, stall_seconds (5), stall_then_reset, stall_at_response
                                  pause at a random point of the request body (no body, or stall_at_response:
                                  after upstream answered, before the response head goes to the client), then
                                  go on, or RST both connections (upstream has then done the request: a lost
                                  answer).
  bandwidth                       bytes/s shared by all body bytes in both directions (0: unlimited).
  only_methods, path_contains     e.g. ["PUT", "POST"], "partNumber=" (a substring of the request target).
  max_faults                      stop injecting after that many faults.
Body byte counts exclude chunked framing; upstream_body_bytes counts bytes handed to the upstream socket.
"""
import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus

CHUNK = 64 * 1024  # read size: with drain() after every write, memory stays a few chunks per connection
HEAD_LIMIT = 64 * 1024  # largest request/response head accepted
CHUNKED_CUT_SPAN = 1 << 20  # a chunked body's length is unknown: its cut point falls in its first MiB
FAULT_KINDS = ("error", "reset", "stall")
STAT_KEYS = ("requests", "responses", "faults", "upstream_body_bytes", "downstream_body_bytes",
             "discarded_body_bytes")
S3_ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
             503: ("SlowDown", "Please reduce your request rate.")}
DEFAULTS = {"error_rate": 0.0, "error_status": 503, "reset_rate": 0.0, "stall_rate": 0.0,
            "stall_seconds": 5.0, "stall_then_reset": False, "stall_at_response": False, "bandwidth": 0, "only_methods": None,
            "path_contains": None, "max_faults": None, "seed": None}


def log(msg):
    print(f"faultproxy: {msg}", file=sys.stderr, flush=True)


class Reset(Exception):
    """Both sockets of an exchange were reset on purpose."""


@dataclass
class Fault:
    kind: str
    cut: int | None = None  # body offset where it fires; None: before the response
    seconds: float = 0.0
    then_reset: bool = False


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return is_int(v) or isinstance(v, float)


RATE = ("a number in 0..1", lambda v: is_number(v) and 0 <= v <= 1)
CHECKS = {  # key: (what it must be, test); null means "the default" for every key
    "error_rate": RATE, "reset_rate": RATE, "stall_rate": RATE,
    "error_status": ("an integer in 400..599", lambda v: is_int(v) and 400 <= v <= 599),
    "stall_seconds": ("a number >= 0", lambda v: is_number(v) and v >= 0),
    "bandwidth": ("a number >= 0", lambda v: is_number(v) and v >= 0),
    "stall_then_reset": ("true or false", lambda v: isinstance(v, bool)),
    "stall_at_response": ("true or false", lambda v: isinstance(v, bool)),
    "only_methods": ("a list of strings",
                     lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v)),
    "path_contains": ("a string", lambda v: isinstance(v, str)),
    "max_faults": ("an integer >= 0", lambda v: is_int(v) and v >= 0),
    "seed": ("an integer", is_int),
}


def validate_config(raw):
    """The full config (defaults filled in) from a JSON object, or ValueError saying what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("config must be a JSON object")
    cfg = dict(DEFAULTS)
    for key, value in raw.items():
        if key not in CHECKS:
            raise ValueError(f"unknown config key {key!r}")
        if value is not None:
            what, ok = CHECKS[key]
            if not ok(value):
                raise ValueError(f"{key} must be {what}")
            cfg[key] = value
    if cfg["only_methods"]:
        cfg["only_methods"] = [m.upper() for m in cfg["only_methods"]]
    return cfg


class Message:
    """A parsed request or response head; `raw` is what gets forwarded, unchanged."""

    def __init__(self, raw):
        self.raw = raw
        lines = raw[:-4].decode("latin-1").split("\r\n")
        self.start = lines[0].split(" ", 2)
        if len(self.start) < 2:
            raise ValueError(f"bad start line {lines[0]!r}")
        self.headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line {line!r}")
            key, value = name.strip().lower(), value.strip()
            # Repeated headers are joined with commas, as RFC 9110 allows.
            self.headers[key] = f"{self.headers[key]}, {value}" if key in self.headers else value

    def header(self, name):
        return self.headers.get(name, "")

    def has_token(self, name, token):
        return token in (t.strip().lower() for t in self.header(name).split(","))


async def read_head(reader):
    """The next message head, or None on a clean EOF between messages."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial.strip():
                raise
            return None
        raw = raw.lstrip(b"\r\n")  # RFC 9112 tolerates stray CRLFs before a request
        if raw:
            return Message(raw)


def framing(msg, no_body=False):
    """How a body is delimited: ("length", n), ("chunked", None), ("eof", None), or (None, 0): no body."""
    if no_body:
        return None, 0
    te = msg.header("transfer-encoding")
    if te:
        if te.split(",")[-1].strip().lower() != "chunked":
            raise ValueError(f"unsupported transfer-encoding {te!r}")
        return "chunked", None
    cl = msg.header("content-length")
    if cl:
        if not cl.isdigit():
            raise ValueError(f"bad content-length {cl!r}")
        return ("length", int(cl)) if int(cl) > 0 else (None, 0)
    # A response without either runs to EOF; a request without either has no body.
    return ("eof", None) if msg.start[0].startswith("HTTP/") else (None, 0)


class TokenBucket:
    """Shared by every connection and both directions, so `bandwidth` caps the proxy's total body rate."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.burst = max(1024.0, self.rate / 10)
        self.step = int(min(CHUNK, max(1024, self.rate / 20)))  # small slices keep slow rates smooth
        self.tokens, self.stamp = self.burst, time.monotonic()

    async def take(self, n):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        # Tokens may go negative: each taker sleeps until its own debt is repaid, which queues concurrent
        # takers behind each other without a lock.
        self.tokens -= n
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


class Sink:
    """Where one body goes: counts its bytes, throttles them, and fires a fault at byte offset `cut`."""

    def __init__(self, proxy, writer, counter, method, cut=None, on_cut=None, throttle=True):
        self.proxy, self.writer, self.counter, self.method = proxy, writer, counter, method
        self.cut, self.on_cut, self.throttle, self.sent = cut, on_cut, throttle, 0

    async def frame(self, data):
        """Chunked framing: forwarded, not counted as body."""
        if self.writer is not None:
            self.writer.write(data)
            await self.writer.drain()

    async def body(self, data):
        if self.cut is not None and self.sent + len(data) > self.cut:
            split = self.cut - self.sent
            await self._send(data[:split])
            await self.fire()
            data = data[split:]
        await self._send(data)

    async def fire(self):
        if self.cut is not None:
            self.cut = None
            await self.on_cut()

    async def _send(self, data):
        bucket = self.proxy.bucket if self.throttle else None
        step = bucket.step if bucket else max(len(data), 1)
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            if bucket:
                await bucket.take(len(piece))
            if self.writer is not None:
                self.writer.write(piece)
                await self.writer.drain()
            self.counter[self.method] += len(piece)
            self.sent += len(piece)


async def copy_exact(reader, sink, n):
    while n:
        data = await reader.read(min(CHUNK, n))
        if not data:
            raise asyncio.IncompleteReadError(b"", n)
        n -= len(data)
        await sink.body(data)


async def copy_body(reader, sink, kind, length):
    """Stream one body from reader into sink, framing included."""
    if kind == "length":
        await copy_exact(reader, sink, length)
    elif kind == "eof":
        while data := await reader.read(CHUNK):
            await sink.body(data)
    elif kind == "chunked":
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            await sink.frame(line)
            if size == 0:
                break
            await copy_exact(reader, sink, size)
            await sink.frame(await reader.readexactly(2))
        while True:  # trailers, up to the empty line
            line = await reader.readuntil(b"\r\n")
            await sink.frame(line)
            if line == b"\r\n":
                break
    await sink.fire()  # a chunked body shorter than its cut point still gets its fault, at the end


def rst(writer):
    """Close a connection with a TCP reset (SO_LINGER 0), not a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # already closed
    writer.transport.abort()


def reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status HTTPStatus does not name, e.g. 599
        return "Error"


def error_response(status, method, target, close):
    code, message = S3_ERRORS.get(status, ("InternalError" if status >= 500 else "InvalidRequest",
                                           "Fault injected by faultproxy."))
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<Resource>{target.split('?')[0]}</Resource><RequestId>faultproxy</RequestId></Error>").encode()
    head = (f"HTTP/1.1 {status} {reason(status)}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nx-amz-request-id: faultproxy\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    return head.encode() + (b"" if method == "HEAD" else body)


class Session:
    """One client connection and the upstream connection it uses, one request at a time."""

    def __init__(self, proxy, creader, cwriter):
        self.p, self.creader, self.cwriter = proxy, creader, cwriter
        self.ureader = self.uwriter = None

    async def run(self):
        try:
            while await self.one_request():
                pass
        except (Reset, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # resets we caused, and peers that went away: the normal end of a faulted exchange
        except ValueError as e:
            log(f"bad HTTP, closing connection: {e}")
        finally:
            for w in (self.cwriter, self.uwriter):
                if w is not None:
                    w.close()

    async def one_request(self):
        """Relay one request and its response; True if the client connection stays open."""
        req = await read_head(self.creader)
        if req is None:
            return False
        method, target = req.start[0], req.start[1]
        kind, length = framing(req)
        self.p.stats["requests"][method] += 1
        fault = self.p.decide(method, target, kind, length)
        keep = req.start[-1] == "HTTP/1.1" and not req.has_token("connection", "close")
        if fault and fault.kind == "error":
            return await self.answer_error(req, method, target, kind, length, keep)
        if not await self.connect_upstream():
            return False
        self.uwriter.write(req.raw)
        await self.uwriter.drain()
        at_response = fault if fault and fault.cut is None else None
        body = self.start_body(method, kind, length, None if at_response else fault) if kind else None
        try:
            keep = await self.relay_response(method, at_response) and keep
            if body is not None and not await body_finished(body):
                # Upstream answered before taking the whole body: the connection state is unknown.
                body.cancel()
                await asyncio.wait({body})  # it reads the client stream, which graceful_close drains
                await self.graceful_close()
                return False
        finally:
            if body is not None and not body.done():
                body.cancel()
        return keep

    def start_body(self, method, kind, length, fault):
        """Forward the request body in its own task, so 100 Continue and early responses get through."""
        cut, on_cut = (fault.cut, lambda: self.fault_action(fault)) if fault else (None, None)
        sink = Sink(self.p, self.uwriter, self.p.stats["upstream_body_bytes"], method, cut, on_cut)

        async def send():
            try:
                await copy_body(self.creader, sink, kind, length)
            except Exception:
                # Client gone or fault fired: end the exchange, or upstream would wait for the rest forever.
                self.reset_both()
                raise

        task = asyncio.create_task(send())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # its errors are handled above
        return task

    async def relay_response(self, method, stall):
        while True:
            resp = await read_head(self.ureader)
            if resp is None:
                raise ConnectionError("upstream closed before responding")
            status = int(resp.start[1])
            if not 100 <= status < 200 or status == 101:
                break
            self.cwriter.write(resp.raw)  # 100 Continue: Expect is handled end to end by the upstream
            await self.cwriter.drain()
        if stall:
            await self.fault_action(stall)
        self.p.stats["responses"][str(status)] += 1
        self.cwriter.write(resp.raw)
        kind, length = framing(resp, no_body=method == "HEAD" or status in (204, 304) or status < 200)
        if kind:
            sink = Sink(self.p, self.cwriter, self.p.stats["downstream_body_bytes"], method)
            await copy_body(self.ureader, sink, kind, length)
        else:
            await self.cwriter.drain()
        keep = resp.start[0] == "HTTP/1.1" and not resp.has_token("connection", "close")
        return keep and kind != "eof" and status != 101

    async def fault_action(self, fault):
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            if not fault.then_reset:
                return
        self.reset_both()
        raise Reset()

    async def answer_error(self, req, method, target, kind, length, keep):
        # With Expect: 100-continue the client waits for our word before sending the body: answer at once,
        # then close, since we cannot know whether it will send the body anyway.
        expect = req.has_token("expect", "100-continue")
        keep = keep and not expect
        if kind and not expect:
            sink = Sink(self.p, None, self.p.stats["discarded_body_bytes"], method, throttle=False)
            await copy_body(self.creader, sink, kind, length)
        self.p.stats["responses"][str(self.p.config["error_status"])] += 1
        self.cwriter.write(error_response(self.p.config["error_status"], method, target, not keep))
        await self.cwriter.drain()
        if not keep:
            await self.graceful_close()
        return keep

    async def connect_upstream(self):
        # Reuse the upstream connection unless it was closed while idle.
        if self.uwriter is not None and not self.uwriter.is_closing() and not self.ureader.at_eof():
            return True
        if self.uwriter is not None:
            self.uwriter.close()
        try:
            self.ureader, self.uwriter = await asyncio.open_connection(*self.p.upstream, limit=HEAD_LIMIT)
            return True
        except OSError as e:
            log(f"upstream {self.p.upstream[0]}:{self.p.upstream[1]}: {e}")
            self.p.stats["responses"]["502"] += 1
            self.cwriter.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await self.graceful_close()
            return False

    def reset_both(self):
        rst(self.cwriter)
        rst(self.uwriter)

    async def graceful_close(self):
        """Close the client connection without losing what we just wrote to it: half-close, then drop what
        the client still sends (closing with unread input sends a RST, which can destroy the response)."""
        try:
            await self.cwriter.drain()
            self.cwriter.write_eof()
            async with asyncio.timeout(2):
                while await self.creader.read(CHUNK):
                    pass
        except (OSError, TimeoutError):
            pass
        self.cwriter.close()


async def body_finished(task):
    """True if the request body went upstream in full (a moment's grace: its last write may be finishing)."""
    done, _ = await asyncio.wait({task}, timeout=0.2)
    return bool(done) and not task.cancelled() and task.exception() is None


class Proxy:
    def __init__(self, upstream, seed):
        self.upstream, self.seed, self.tasks = upstream, seed, set()
        self.reset_stats()
        self.set_config({})

    def reset_stats(self):
        self.stats = {k: Counter() for k in STAT_KEYS}
        self.connections = 0

    def snapshot(self):
        out = {k: dict(v) for k, v in self.stats.items()}
        out["faults"] = {k: self.stats["faults"][k] for k in FAULT_KINDS}
        out["connections"] = self.connections
        return out

    def set_config(self, raw):
        self.config = validate_config(raw)
        seed = self.config["seed"] if self.config["seed"] is not None else self.seed
        self.rng = random.Random(seed)
        self.faults_since_config = 0
        self.bucket = TokenBucket(self.config["bandwidth"]) if self.config["bandwidth"] else None

    def decide(self, method, target, kind, length):
        """The fault for this request, if any. Requests outside only_methods/path_contains draw no random
        numbers, so unrelated traffic does not shift which of the matching requests get faults."""
        c = self.config
        if c["only_methods"] and method not in c["only_methods"]:
            return None
        if c["path_contains"] and c["path_contains"] not in target:
            return None
        if c["max_faults"] is not None and self.faults_since_config >= c["max_faults"]:
            return None
        # Four draws per request whatever the outcome, so one rate does not change another's sequence.
        r_error, r_reset, r_stall, r_cut = (self.rng.random() for _ in range(4))
        cut = int(r_cut * (length if kind == "length" else CHUNKED_CUT_SPAN)) if kind else None
        if r_error < c["error_rate"]:
            fault = Fault("error")
        elif kind and r_reset < c["reset_rate"]:
            fault = Fault("reset", cut)
        elif r_stall < c["stall_rate"]:
            at = None if c["stall_at_response"] else cut
            fault = Fault("stall", at, c["stall_seconds"], c["stall_then_reset"])
        else:
            return None
        self.faults_since_config += 1
        self.stats["faults"][fault.kind] += 1
        where = f" at body byte {fault.cut}" if fault.cut is not None else " at the response"
        log(f"{fault.kind}{where}: {method} {target[:120]}")
        return fault

    async def handle_client(self, reader, writer):
        self.connections += 1
        task = asyncio.current_task()
        self.tasks.add(task)  # so shutdown can cancel live connections
        try:
            await Session(self, reader, writer).run()
        except asyncio.CancelledError:
            pass  # shutdown; finishing normally keeps asyncio from logging the cancellation as an error
        finally:
            self.tasks.discard(task)

    async def handle_control(self, reader, writer):
        try:
            status, obj = await self.control_request(reader)
        except ValueError as e:  # includes bad JSON
            status, obj = 400, {"error": str(e)}
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        data = json.dumps(obj).encode()
        writer.write(f"HTTP/1.1 {status} {reason(status)}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def control_request(self, reader):
        head = await read_head(reader)
        if head is None:
            raise ConnectionError("no request")
        n = int(head.header("content-length") or 0)
        if n > 1 << 20:
            raise ValueError("body too large")
        body = await reader.readexactly(n)
        route = (head.start[0], head.start[1].split("?")[0])
        if route == ("POST", "/config"):
            self.set_config(json.loads(body or b"{}"))
            log(f"config: {json.dumps({k: v for k, v in self.config.items() if v != DEFAULTS[k]})}")
            return 200, {"ok": True, "config": self.config}
        if route == ("GET", "/config"):
            return 200, self.config
        if route == ("GET", "/stats"):
            return 200, self.snapshot()
        if route == ("POST", "/reset-stats"):
            self.reset_stats()
            return 200, {"ok": True}
        return 404, {"error": f"no route {route[0]} {route[1]}"}


def loopback_addr(value):
    host, _, port = value.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: expected 127.0.0.1:PORT (loopback only)")
    return host, int(port)


async def serve(args):
    proxy = Proxy(args.upstream, args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = [await asyncio.start_server(proxy.handle_client, *args.listen, limit=HEAD_LIMIT),
               await asyncio.start_server(proxy.handle_control, *args.control, limit=HEAD_LIMIT)]
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    log(f"{args.listen[1]} -> {args.upstream[1]}, control {args.control[1]}, seed {args.seed}")
    print("ready", flush=True)
    await stop.wait()
    for s in servers:
        s.close()
    for t in list(proxy.tasks):
        t.cancel()
    await asyncio.gather(*proxy.tasks, return_exceptions=True)
    log("stopped")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=loopback_addr, required=True)
    ap.add_argument("--upstream", type=loopback_addr, required=True)
    ap.add_argument("--control", type=loopback_addr, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pidfile")
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
