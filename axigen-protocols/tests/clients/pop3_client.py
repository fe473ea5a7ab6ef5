"""Drives the POP3 server with Python's poplib (a real client).

Usage: pop3_client.py SCENARIO HOST PORT USER PASSWORD [CAFILE]

Scenarios (the test, tests/pop3_session.rs, checks the store afterwards):
  stls      CAPA, USER refused before TLS, STLS, login, the transaction
            commands, DELE+RSET, DELE 1 and QUIT. Needs CAFILE.
  plain     AUTH PLAIN with an initial response, with the "+ " continuation
            and cancelled with "*"; prints the UIDL listing.
  drop      logs in, marks every message deleted and drops the connection.
  badpass   a new wrong password each time until the server says to wait.
  longline  a too long line gets -ERR and the session goes on.
  disabled  the login is refused (POP3 disabled for the account).

Each scenario prints lines "key: value" for the test to check.
"""

import base64
import poplib
import socket
import ssl
import sys

scenario, host, port, user, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
cafile = sys.argv[6] if len(sys.argv) > 6 else None


def refused(call, *args):
    try:
        reply = call(*args)
    except poplib.error_proto as e:
        return e.args[0].decode()
    raise AssertionError(f"accepted: {reply}")


def plain(u, p):
    return base64.b64encode(b"\0" + u.encode() + b"\0" + p.encode()).decode()


if scenario == "stls":
    p = poplib.POP3(host, port)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps, caps
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION"):
        assert cap in caps, (cap, caps)
    assert caps["EXPIRE"] == ["NEVER"], caps
    print("user before tls:", refused(p.user, user))
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    p.stls(context)
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps and caps.get("SASL") == ["PLAIN"], caps
    print("bad pass:", refused(lambda: (p.user(user), p.pass_("wrong"))))
    p.user(user)
    print("login:", p.pass_(password).decode())
    count, size = p.stat()
    print("stat:", count, size)
    resp, listing, _ = p.list()
    print("list:", b",".join(listing).decode())
    print("list 2:", p.list(2).decode())
    resp, uids, _ = p.uidl()
    print("uidl:", b",".join(uids).decode())
    print("uidl 1:", p.uidl(1).decode())
    resp, lines, _ = p.retr(1)
    print("retr 1 lines:", len(lines))
    assert b".leading dot" in lines and b"..two dots" in lines, lines
    assert lines[-1] == b"last line", lines
    resp, lines, _ = p.retr(2)
    assert "Gr\u00fc\u00dfe aus K\u00f6ln".encode() in lines, lines
    print("8bit: ok")
    resp, lines, _ = p.top(1, 1)
    assert lines[0].startswith(b"From:") and lines.count(b"") == 1 and lines[-1] == b".leading dot", lines
    print("top 1 1 lines:", len(lines))
    resp, lines, _ = p.top(3, 0)
    assert lines[-1] == b"", lines
    print("retr 9:", refused(p.retr, 9))
    print("dele 3:", p.dele(3).decode())
    print("retr 3:", refused(p.retr, 3))
    print("stat after dele:", p.stat())
    print("rset:", p.rset().decode())
    print("stat after rset:", p.stat())
    p.dele(1)
    print("quit:", p.quit().decode())

elif scenario == "plain":
    p = poplib.POP3(host, port)
    print("auth:", p._shortcmd("AUTH PLAIN " + plain(user, password)).decode())
    resp, uids, _ = p.uidl()
    print("uidl:", b",".join(uids).decode())
    p.quit()
    p = poplib.POP3(host, port)
    p._putcmd("AUTH PLAIN")
    line, _ = p._getline()
    assert line == b"+ " or line == b"+", line
    p._putcmd("*")
    print("cancel:", refused(p._getresp))
    print("wrong:", refused(p._shortcmd, "AUTH PLAIN " + plain(user, "wrong")))
    p._putcmd("AUTH PLAIN")
    line, _ = p._getline()
    assert line.startswith(b"+"), line
    p._putcmd(plain(user, password))
    print("continued:", p._getresp().decode())
    print("stat:", p.stat())
    p.quit()

elif scenario == "drop":
    p = poplib.POP3(host, port)
    p.user(user)
    p.pass_(password)
    count, _ = p.stat()
    for n in range(1, count + 1):
        p.dele(n)
    print("marked:", count)
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()

elif scenario == "badpass":
    for attempt in range(5):
        p = poplib.POP3(host, port)
        p.user(user)
        print(f"attempt {attempt}:", refused(p.pass_, f"wrong-{attempt}"))
        p.quit()

elif scenario == "longline":
    p = poplib.POP3(host, port)
    print("long:", refused(p._shortcmd, "NOOP " + "x" * 1000))
    print("very long:", refused(p._shortcmd, "X" * 20000))
    p.user(user)
    print("login:", p.pass_(password).decode())
    print("noop:", p.noop().decode())
    p.quit()

elif scenario == "disabled":
    p = poplib.POP3(host, port)
    p.user(user)
    print("login:", refused(p.pass_, password))
    print("stat:", refused(p.stat))
    p.quit()

else:
    raise SystemExit(f"unknown scenario {scenario}")
