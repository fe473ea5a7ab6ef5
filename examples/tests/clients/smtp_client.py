#!/usr/bin/env python3
"""Real-client SMTP checks against the reference server, driven by
examples/tests/smtp_e2e.rs. Each case speaks to the server with Python's
smtplib (or a raw socket where smtplib cannot express the case), prints one
JSON object with what it observed, and exits 0; the Rust test asserts.

usage: smtp_client.py CASE HOST PORT [ARGS...]
"""

import json
import smtplib
import socket
import ssl
import sys
import time


def out(**kw):
    print(json.dumps(kw))
    sys.exit(0)


def tls_context():
    ctx = ssl.create_default_context()
    # The development certificate is self-signed.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(subject, body, sender="sender@remote.example", to="user@example.com", extra=""):
    return (
        f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n{extra}\r\n{body}"
    )


def case_plain(host, port, rcpt, subject):
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        code, ehlo = s.ehlo("client.example")
        refused = s.sendmail("sender@remote.example", [rcpt], message(subject, "Hello over plain SMTP.\r\n", to=rcpt))
        out(ehlo=ehlo.decode(), refused={k: [v[0], v[1].decode()] for k, v in refused.items()})


def case_starttls(host, port, rcpt, subject):
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        before = s.has_extn("starttls")
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        after = s.has_extn("starttls")
        s.sendmail("sender@remote.example", [rcpt], message(subject, "Hello over STARTTLS.\r\n", to=rcpt))
        out(offered_before=before, offered_after=after, cipher=s.sock.cipher()[0])


def case_submission(host, port, user, password, sender, rcpts, subject):
    rcpts = rcpts.split(",")
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        auth_before_tls = s.has_extn("auth")
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        s.login(user, password)
        try:
            refused = s.sendmail(sender, rcpts, message(subject, "Submitted.\r\n", sender=sender, to=rcpts[0]))
            out(auth_before_tls=auth_before_tls, refused={k: [v[0], v[1].decode()] for k, v in refused.items()})
        except smtplib.SMTPRecipientsRefused as e:
            out(auth_before_tls=auth_before_tls, all_refused={k: [v[0], v[1].decode()] for k, v in e.recipients.items()})
        except smtplib.SMTPSenderRefused as e:
            out(auth_before_tls=auth_before_tls, sender_refused=[e.smtp_code, e.smtp_error.decode()])


def case_bad_login(host, port, user, password):
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        try:
            s.login(user, password)
            out(result="accepted")
        except smtplib.SMTPAuthenticationError as e:
            out(result="refused", code=e.smtp_code, text=e.smtp_error.decode())


def case_multi(host, port, sender, rcpts, subject, size):
    """One message to several recipients, no SIZE announced."""
    rcpts = rcpts.split(",")
    body = ("y" * 70 + "\r\n") * (int(size) // 72 + 1)
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        s.mail(sender)  # no SIZE=: per-recipient limits then apply at DATA
        rcpt = {r: s.rcpt(r)[0] for r in rcpts}
        data = s.data(message(subject, body, sender=sender, to=rcpts[0]))
    out(rcpt=rcpt, data=data[0])


def case_dot_stuffing(host, port, rcpt, subject):
    body = "line one\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n"
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.sendmail("sender@remote.example", [rcpt], message(subject, body, to=rcpt))
    out(body=body)


def case_eightbit(host, port, rcpt, subject):
    body = "Grüße aus Köln – ünïcödé body.\r\n"
    raw = message(subject, body, to=rcpt, extra="Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        s.sendmail("sender@remote.example", [rcpt], raw.encode("utf-8"), mail_options=["BODY=8BITMIME"])
    out(eightbit=True)


def case_smtputf8(host, port, rcpt, subject):
    sender = "jörg@remote.example"
    raw = message(subject, "UTF-8 envelope.\r\n", sender=sender, to=rcpt, extra="Content-Type: text/plain; charset=utf-8\r\n")
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        offered = s.has_extn("smtputf8")
        s.sendmail(sender, [rcpt], raw.encode("utf-8"), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    out(offered=offered)


def case_bdat(host, port, rcpt, subject):
    raw = message(subject, "Sent in two BDAT chunks.\r\n.no stuffing here\r\n", to=rcpt).encode()
    half = len(raw) // 2
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        offered = s.has_extn("chunking")
        s.mail("sender@remote.example")
        s.rcpt(rcpt)
        s.send(f"BDAT {half}\r\n".encode() + raw[:half])
        first = s.getreply()
        s.send(f"BDAT {len(raw) - half} LAST\r\n".encode() + raw[half:])
        last = s.getreply()
    out(offered=offered, first=first[0], last=last[0])


def case_pipelining(host, port, rcpt, subject, count):
    """Several transactions, each written with one send() (RFC 2920)."""
    codes = []
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        f = sock.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline().decode()
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    return int(line[:3]), lines

        reply()  # greeting
        sock.sendall(b"EHLO client.example\r\n")
        _, ehlo = reply()
        for n in range(int(count)):
            body = message(f"{subject}-{n}", "pipelined\r\n", to=rcpt).encode()
            sock.sendall(
                f"MAIL FROM:<sender@remote.example>\r\nRCPT TO:<{rcpt}>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n".encode()
            )
            codes.append([reply()[0], reply()[0], reply()[0], reply()[0]])
            sock.sendall(body + b"\r\n.\r\n")
            codes[-1].append(reply()[0])
        sock.sendall(b"QUIT\r\n")
        codes.append([reply()[0]])
    out(pipelining="PIPELINING" in "".join(ehlo), codes=codes)


def case_rcpt(host, port, rcpt, size):
    """MAIL (with SIZE when given) and RCPT only; reports both replies."""
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        opts = [f"SIZE={size}"] if int(size) > 0 else []
        mail = s.mail("sender@remote.example", opts)
        rcpt_reply = s.rcpt(rcpt) if mail[0] == 250 else (0, b"")
        out(mail=[mail[0], mail[1].decode()], rcpt=[rcpt_reply[0], rcpt_reply[1].decode()])


def case_big(host, port, rcpt, size):
    """Sends a message of about SIZE bytes without announcing its size."""
    line = "x" * 76 + "\r\n"
    body = line * (int(size) // len(line) + 1)
    with smtplib.SMTP(host, int(port), timeout=60) as s:
        s.ehlo("client.example")
        s.mail("sender@remote.example")
        s.rcpt(rcpt)
        code, text = s.data(message("big", body, to=rcpt))
        # The session must still work after the refusal.
        noop = s.noop()[0]
    out(data=[code, text.decode()], noop=noop)


def case_injection(host, port):
    """STARTTLS with a command pipelined behind it in the same packet: the
    server must not execute the injected command after the handshake."""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO client.example\r\n")
        while True:
            line = f.readline()
            if line[3:4] == b" ":
                break
        sock.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
        ready = f.readline().decode()
        tls = tls_context().wrap_socket(sock, server_hostname="localhost")
        tls.settimeout(2)
        # Any reply now would be the answer to the injected MAIL FROM.
        try:
            stray = tls.recv(4096).decode()
        except socket.timeout:
            stray = ""
        tls.sendall(b"MAIL FROM:<after@tls.example>\r\n")
        tls.settimeout(30)
        after = tls.recv(4096).decode()
        out(ready=ready.strip(), stray=stray, after=after.strip())


def case_stream(host, port, rcpt, count):
    """Delivers COUNT messages one after another, printing the Message-ID of
    each acknowledged one as soon as the 250 arrives (for the kill -9 test)."""
    n = 0
    try:
        with smtplib.SMTP(host, int(port), timeout=30) as s:
            s.ehlo("client.example")
            while n < int(count):
                mid = f"stream-{n}"
                s.sendmail("sender@remote.example", [rcpt], message(mid, f"stream message {n}\r\n", to=rcpt))
                print(f"ACK {mid}", flush=True)
                n += 1
    except (smtplib.SMTPException, OSError) as e:
        print(f"STOPPED after {n}: {e}", flush=True)
    sys.exit(0)


def case_postmaster(host, port, rcpts):
    """One session, one message to each recipient (comma-separated, as
    given: `Postmaster` without a domain included): reports each RCPT
    reply and each DATA reply (whose text carries the message id)."""
    results = []
    with smtplib.SMTP(host, int(port), timeout=30) as s:
        s.ehlo("client.example")
        for rcpt in rcpts.split(","):
            s.mail("sender@remote.example")
            # smtplib.rcpt would add nothing to a bare name: sent as given.
            code, text = s.docmd(f"RCPT TO:<{rcpt}>")
            if code != 250:
                s.rset()
                results.append({"rcpt": rcpt, "rcpt_code": code, "rcpt_text": text.decode()})
                continue
            dcode, dtext = s.data(message(f"to-{rcpt}", "For the postmaster.\r\n", to=rcpt))
            results.append({"rcpt": rcpt, "rcpt_code": code, "data_code": dcode, "data_text": dtext.decode()})
    out(results=results)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    case, args = sys.argv[1], sys.argv[2:]
    CASES[case](*args)
