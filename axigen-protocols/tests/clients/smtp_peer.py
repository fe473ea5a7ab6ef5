"""A real SMTP server (aiosmtpd) for axigen-protocols/tests/smtp_client.rs.

Usage: smtp_peer.py OUTDIR

Listens on 127.0.0.1 at a port chosen by the system and prints it on the
first line of standard output; stops when standard input is closed.
Recipients are accepted, deferred (451) or refused (550) by local part:
`defer*` and `reject*`. Each message is written to OUTDIR as NNN.eml (the
content as received, dot-stuffing undone) and NNN.json (envelope).
"""

import asyncio
import json
import os
import sys
import threading

from aiosmtpd.smtp import SMTP

outdir = sys.argv[1]


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("defer"):
            return "451 4.2.0 Mailbox busy, try again later"
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(outdir, "%03d" % self.count)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json.tmp", "w") as f:
            json.dump(
                {
                    "from": envelope.mail_from,
                    "rcpt": envelope.rcpt_tos,
                    "mail_options": envelope.mail_options,
                    "helo": session.host_name,
                },
                f,
            )
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Message accepted"


def stop_on_eof():
    sys.stdin.read()
    os._exit(0)


async def main():
    loop = asyncio.get_running_loop()
    handler = Handler()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="peer.test",
            decode_data=False,
            enable_SMTPUTF8=True,
            data_size_limit=100000,
        ),
        "127.0.0.1",
        0,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    threading.Thread(target=stop_on_eof, daemon=True).start()
    await asyncio.Event().wait()


asyncio.run(main())
