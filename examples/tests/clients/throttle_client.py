#!/usr/bin/env python3
"""Logins against the reference server's login throttle, with real clients,
driven by examples/tests/throttle_e2e.rs. Every connection is made from the
loopback address SOURCE (127.0.0.0/8 is all loopback on Linux), so that each
scenario is one client address of its own.

usage: throttle_client.py SCENARIO PROTOCOL SOURCE HOST PORT DOMAIN [ARGS...]

PROTOCOL is smtp (submission with STARTTLS, AUTH PLAIN via smtplib), imap
(STARTTLS, LOGIN via imaplib), pop3 (STLS, USER/PASS via poplib),
activesync (HTTPS OPTIONS with Basic credentials) or admin (HTTPS GET of the
admin API with Basic credentials).

Scenarios (each prints one JSON object; the Rust test asserts):
  stale N M [ADMIN_PASSWORD]
              a device retries the stale password of stale@DOMAIN N times,
              then user1..userM@DOMAIN (password "pw-userK") log in once
              each (for the admin API: the admin, stale then right, M
              times); prints the seconds of every attempt and its outcome.
  spray N     one wrong password tried on spray1..sprayN@DOMAIN; prints the
              seconds and outcome of each attempt.
"""

import base64
import http.client
import imaplib
import json
import poplib
import smtplib
import socket
import ssl
import sys
import time

scenario, protocol, source, host, port, domain = sys.argv[1:7]
port = int(port)
args = sys.argv[7:]


def tls():
    ctx = ssl.create_default_context()
    # The development certificate is self-signed.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SourcedIMAP(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(source, 0))


class SourcedPOP3(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(source, 0))


def login_smtp(user, password):
    with smtplib.SMTP(host, port, timeout=60, source_address=(source, 0)) as s:
        s.starttls(context=tls())
        s.ehlo()
        # One AUTH PLAIN per attempt (login() would try LOGIN after it).
        s.user, s.password = user, password
        try:
            code, _ = s.auth("PLAIN", s.auth_plain)
            return "ok" if code == 235 else f"refused {code}"
        except smtplib.SMTPAuthenticationError as e:
            return f"refused {e.smtp_code}"
        except smtplib.SMTPServerDisconnected:
            return "closed"
        except smtplib.SMTPResponseException as e:
            return f"refused {e.smtp_code}"


def login_imap(user, password):
    c = SourcedIMAP(host, port, timeout=60)
    try:
        c.starttls(ssl_context=tls())
        try:
            c.login(user, password)
            return "ok"
        except imaplib.IMAP4.error as e:
            text = str(e)
            return "unavailable" if "UNAVAILABLE" in text else "refused"
    finally:
        try:
            c.logout()
        except Exception:
            pass


def login_pop3(user, password):
    c = SourcedPOP3(host, port, timeout=60)
    try:
        c.stls(context=tls())
        try:
            c.user(user)
            c.pass_(password)
            return "ok"
        except poplib.error_proto as e:
            text = e.args[0].decode(errors="replace")
            return "unavailable" if "SYS/TEMP" in text else "refused"
    finally:
        try:
            c.quit()
        except Exception:
            pass


def login_http(path, method, user, password):
    c = http.client.HTTPSConnection(host, port, timeout=60, context=tls(), source_address=(source, 0))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    c.request(method, path, headers={"Authorization": f"Basic {token}", "User-Agent": "throttle-test"})
    status = c.getresponse().status
    c.close()
    # Past authentication any answer will do (a licence or policy may still
    # refuse the request itself).
    if status == 429:
        return "unavailable"
    if status == 401:
        return "refused"
    return "ok" if status < 500 else f"status {status}"


def login(user, password):
    if protocol == "smtp":
        return login_smtp(user, password)
    if protocol == "imap":
        return login_imap(user, password)
    if protocol == "pop3":
        return login_pop3(user, password)
    if protocol == "activesync":
        return login_http("/Microsoft-Server-ActiveSync", "OPTIONS", user, password)
    if protocol == "admin":
        return login_http("/api/v1/domains", "GET", user, password)
    raise SystemExit(f"unknown protocol {protocol}")


def timed(user, password):
    started = time.monotonic()
    outcome = login(user, password)
    return {"user": user, "seconds": round(time.monotonic() - started, 3), "outcome": outcome}


if scenario == "stale":
    n, m = int(args[0]), int(args[1])
    if protocol == "admin":
        stale = [timed("admin", "the old password") for _ in range(n)]
        others = [timed("admin", args[2]) for _ in range(m)]
    else:
        stale = [timed(f"stale@{domain}", "the old password") for _ in range(n)]
        others = [timed(f"user{k}@{domain}", f"pw-user{k}") for k in range(1, m + 1)]
    print(json.dumps({"stale": stale, "others": others}))
elif scenario == "spray":
    n = int(args[0])
    print(json.dumps({"spray": [timed(f"spray{k}@{domain}", "Winter2026!") for k in range(1, n + 1)]}))
else:
    raise SystemExit(f"unknown scenario {scenario}")
