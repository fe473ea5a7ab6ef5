#!/usr/bin/env python3
"""Slow clients ("slowloris") against the reference server, driven by
examples/tests/slow_clients.rs: each scenario sends a request one byte at a
time, INTERVAL seconds apart, and reports when the server closed the
connection and what it said last.

usage: slow_client.py SCENARIO HOST PORT INTERVAL [SOURCE]

Scenarios:
  smtp_command   EHLO, a byte at a time
  smtp_data      a message's text after DATA, a byte at a time
  imap_command   a NOOP command line, a byte at a time
  pop3_command   a CAPA line, a byte at a time
  http_header    an HTTP request header, a byte at a time
  tls_handshake  a TLS ClientHello, a byte at a time
  hold           connects and waits (reports whether a greeting came)

Prints one JSON object: closed (bool), seconds (until closed, or until the
client gave up), sent (bytes sent), last (the server's last line).
"""

import json
import socket
import ssl
import sys
import time

scenario, host, port, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
GIVE_UP = 30.0

sock = socket.create_connection((host, port), timeout=GIVE_UP, source_address=(source, 0))
f = sock.makefile("rb")


def line():
    return f.readline().decode(errors="replace").rstrip("\r\n")


def reply_smtp():
    while True:
        text = line()
        if len(text) < 4 or text[3] != "-":
            return text


def client_hello():
    """The first flight of a real TLS client, captured from Python's ssl."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def trickle(data):
    """Sends DATA a byte at a time; returns (closed, seconds, sent)."""
    started = time.monotonic()
    sock.settimeout(interval)
    sent = 0
    for b in data:
        try:
            sock.sendall(bytes([b]))
            sent += 1
        except OSError:
            return True, time.monotonic() - started, sent
        try:
            chunk = sock.recv(4096)
            if chunk == b"":
                return True, time.monotonic() - started, sent
            trickle.last = chunk.decode(errors="replace").strip()
        except socket.timeout:
            pass
        except OSError:
            return True, time.monotonic() - started, sent
        if time.monotonic() - started > GIVE_UP:
            break
    # All sent: wait a little for the server to close.
    sock.settimeout(interval * 4)
    try:
        chunk = sock.recv(4096)
        if chunk == b"":
            return True, time.monotonic() - started, sent
    except OSError:
        pass
    return False, time.monotonic() - started, sent


trickle.last = ""
long_line = b"NOOP" + b" x" * 200

if scenario == "smtp_command":
    greeting = reply_smtp()
    closed, seconds, sent = trickle(b"EHLO " + b"client-" * 30 + b".example\r\n")
elif scenario == "smtp_data":
    reply_smtp()
    for cmd in [b"EHLO client.example", b"MAIL FROM:<a@remote.example>", b"RCPT TO:<slow@example.com>", b"DATA"]:
        sock.sendall(cmd + b"\r\n")
        reply_smtp()
    closed, seconds, sent = trickle(b"Subject: slow\r\n\r\n" + b"x" * 400 + b"\r\n.\r\n")
elif scenario == "imap_command":
    line()
    closed, seconds, sent = trickle(b"a1 " + long_line + b"\r\n")
elif scenario == "pop3_command":
    line()
    closed, seconds, sent = trickle(b"CAPA" + b" " * 200 + b"\r\n")
elif scenario == "http_header":
    closed, seconds, sent = trickle(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n")
elif scenario == "tls_handshake":
    closed, seconds, sent = trickle(client_hello())
elif scenario == "hold":
    sock.settimeout(2)
    try:
        greeting = sock.recv(4096)
    except socket.timeout:
        greeting = None
    print(json.dumps({"greeting": None if greeting is None else greeting.decode(errors="replace").strip(),
                      "closed": greeting == b""}), flush=True)
    # Keep the connection until the test kills the process.
    time.sleep(GIVE_UP)
    sys.exit(0)
else:
    raise SystemExit(f"unknown scenario {scenario}")

print(json.dumps({"closed": closed, "seconds": round(seconds, 2), "sent": sent, "last": trickle.last}))
