"""A remote SMTP host for the delivery tests, on aiosmtpd.

Usage: delivery_peer.py HOST PORT OUTDIR CERT KEY

Offers STARTTLS with CERT/KEY. Each EHLO appends the client's address to
OUTDIR.sessions (so connections can be counted). By local part: reject* gets 550, flaky*
gets 451 the first time and is accepted after, anything else is accepted.
Each accepted copy is written to OUTDIR/<recipient>.<n>: a JSON line (the
envelope sender, whether the session was TLS) and the message. Prints
"ready" once listening; stops when stdin closes.
"""

import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller

host, port, outdir, cert, key = sys.argv[1:6]
seen = set()


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # One line per EHLO with the client's address: connections are the
        # distinct addresses (EHLO is sent again after STARTTLS).
        session.host_name = hostname
        with open(outdir.rstrip("/") + ".sessions", "a") as f:
            f.write(f"{session.peer[0]}:{session.peer[1]}\n")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject"):
            return "550 5.1.1 no such user here"
        if local.startswith("flaky") and address not in seen:
            seen.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            n = len([f for f in os.listdir(outdir) if f.startswith(rcpt + ".")])
            meta = {"from": envelope.mail_from, "tls": session.ssl is not None}
            with open(os.path.join(outdir, f"{rcpt}.{n}"), "wb") as f:
                f.write(json.dumps(meta).encode() + b"\n" + envelope.original_content)
        return "250 2.0.0 accepted"


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(Handler(), hostname=host, port=int(port), tls_context=context, require_starttls=False)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
