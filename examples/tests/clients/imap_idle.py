#!/usr/bin/env python3
"""SMTP to IMAP IDLE through the reference server: log in over IMAP with
STARTTLS, select INBOX, IDLE, deliver a message with smtplib, and report how
long until the IDLE session saw it, then fetch it back.

usage: imap_idle.py IMAP_HOST IMAP_PORT SMTP_PORT USER PASSWORD
"""

import imaplib
import json
import smtplib
import ssl
import sys
import time

host, imap_port, smtp_port, user, password = sys.argv[1:6]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

m = imaplib.IMAP4(host, int(imap_port))
caps_before = m.capabilities
m.starttls(ssl_context=ctx)
m.login(user, password)
typ, data = m.select("INBOX")
exists_before = int(data[0])

tag = m._new_tag().decode()
m.send(f"{tag} IDLE\r\n".encode())
cont = m.readline()
assert cont.startswith(b"+"), cont

subject = f"idle-{time.time()}"
start = time.time()
with smtplib.SMTP(host, int(smtp_port), timeout=30) as s:
    s.sendmail("someone@remote.example", [user], f"From: <someone@remote.example>\r\nTo: <{user}>\r\nSubject: {subject}\r\n\r\nwake up\r\n")
delivered = time.time()
m.sock.settimeout(10)
line = m.readline()
seen = time.time()
m.send(b"DONE\r\n")
while True:
    resp = m.readline()
    if resp.startswith(tag.encode()):
        break
typ, data = m.fetch(str(exists_before + 1), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
header = data[0][1].decode()
m.logout()
print(json.dumps({
    "logindisabled_before_tls": "LOGINDISABLED" in caps_before,
    "idle_line": line.decode().strip(),
    "seconds_after_250": seen - delivered,
    "fetched_subject": header.strip(),
    "subject": subject,
}))
