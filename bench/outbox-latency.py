#!/usr/bin/env python3
"""Invalidation latency of command-api's outbox: from a command's commit to its fence applied in Redis.

usage: outbox-latency.py COMMAND_URL REDIS_URL COUNT ALBUM_ID...

Runs COUNT sequential PATCH /albums/{id} commands (a new title each, round robin over the albums) through
command-api (http.client, one kept-alive connection) and after each polls, over a raw RESP socket with
AUTH, `GET catalog:{<album id lowercase>}:fence` (Sources/HotViews/ViewCache.swift's fenceKey) until it
holds at least the version the command answered with (its ETag, else the JSON body's version).

Two figures per command, in ms:
  after answer: fence seen - answer received. command-api answers after the commit, so this is the delay
    the outbox adds after the client already knows the command committed. The relay may deliver before
    the answer arrives; polling starts only once the answer is in, so such a fence is seen at the first
    poll: those commands are counted ("already there") and their figure is that first poll's round trip,
    never below 0 (a negative difference, impossible here by construction, would be clamped at 0).
  after send: fence seen - request sent: the whole way from the client's request to the fence.
Prints p50/p99/max of both, and one line "RESULT ..." for the calling script. Standard library only.
"""
import http.client
import json
import os
import socket
import ssl
import sys
import time
import urllib.parse

POLL_TIMEOUT = 10.0  # seconds a fence may take before the run fails
PREFIX = "catalog"


class Resp:
    """A minimal RESP2 client: commands as arrays of bulk strings; replies parsed as needed here."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if parts.scheme == "rediss":
            # TLS, verified against the URL's ssl_ca_certs (else the system's roots) and the host's name.
            query = urllib.parse.parse_qs(parts.query)
            context = ssl.create_default_context(cafile=query.get("ssl_ca_certs", [None])[0])
            self.sock = context.wrap_socket(self.sock, server_hostname=parts.hostname)
        self.file = self.sock.makefile("rb")
        if parts.password:
            args = ["AUTH", urllib.parse.unquote(parts.password)]
            if parts.username:
                args.insert(1, urllib.parse.unquote(parts.username))
            self.command(*args)
        db = parts.path.strip("/")
        if db and db != "0":
            self.command("SELECT", db)

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("Redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("unexpected RESP reply %r" % line)


def percentile(values, p):
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    command_url, redis_url, count, albums = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    # "env": the URL (a password in it) from CATALOG_REDIS, so that it is on no command line.
    if redis_url == "env":
        redis_url = os.environ["CATALOG_REDIS"]
    target = urllib.parse.urlsplit(command_url)
    conn = http_connection(target)
    redis = Resp(redis_url)

    after_answer, after_send, already = [], [], 0
    for n in range(count):
        album = albums[n % len(albums)]
        key = "%s:{%s}:fence" % (PREFIX, album.lower())
        body = json.dumps({"title": "Outbox latency %d.%d" % (int(time.time()), n)})
        sent = time.perf_counter()
        conn.request("PATCH", "/albums/" + album, body=body, headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ.get("CATALOG_TOKEN", "")})
        response = conn.getresponse()
        payload = response.read()
        answered = time.perf_counter()
        if response.status != 200:
            sys.exit("PATCH /albums/%s answered %d: %s" % (album, response.status, payload.decode(errors="replace")))
        etag = (response.getheader("ETag") or "").strip('"')
        version = int(etag) if etag.isdigit() else int(json.loads(payload)["version"])
        polls = 0
        while True:
            value = redis.command("GET", key)
            seen = time.perf_counter()
            polls += 1
            if value is not None and int(value) >= version:
                break
            if seen - answered > POLL_TIMEOUT:
                sys.exit("fence %s still %r %.0f s after version %d was answered" % (key, value, POLL_TIMEOUT, version))
        if polls == 1:
            already += 1
        after_answer.append(max(0.0, seen - answered) * 1000)
        after_send.append((seen - sent) * 1000)

    def line(name, values):
        print("%-34s p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms" % (
            name, percentile(values, 50), percentile(values, 99), max(values)))

    print("%d sequential PATCH commands over %d albums" % (count, len(albums)))
    line("fence seen - answer received", after_answer)
    line("fence seen - request sent", after_send)
    print("fence already there at the first poll after the answer: %d of %d" % (already, count))
    print("RESULT answer_p50=%.3f answer_p99=%.3f answer_max=%.3f send_p50=%.3f send_p99=%.3f send_max=%.3f already=%d" % (
        percentile(after_answer, 50), percentile(after_answer, 99), max(after_answer),
        percentile(after_send, 50), percentile(after_send, 99), max(after_send), already))


def http_connection(target):
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


if __name__ == "__main__":
    main()
