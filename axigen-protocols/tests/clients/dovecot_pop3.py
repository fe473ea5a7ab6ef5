"""Dovecot's POP3 server as a remote mailbox for the RPOP tests.

Usage: dovecot_pop3.py DIR CERT KEY

Writes a configuration under DIR/dovecot with one user `remote`
(password `remote-pw`, Maildir DIR/dovecot/home/remote/Maildir owned by
nobody), POP3 with STLS and pop3s on free loopback ports, plaintext login
allowed, starts `dovecot -F`, prints "ready POP3_PORT POP3S_PORT MAILDIR"
and stops Dovecot when stdin closes.
"""

import os
import socket
import subprocess
import sys
import time

dir_, cert, key = sys.argv[1:4]
base = os.path.join(dir_, "dovecot")
for d in ("run", "state", "home"):
    os.makedirs(os.path.join(base, d), exist_ok=True)
# The mail process runs as nobody: it must reach its home.
os.chmod(dir_, 0o755)
os.chmod(base, 0o755)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


pop3, pop3s = free_port(), free_port()
with open(os.path.join(base, "passwd"), "w") as f:
    f.write("remote:{PLAIN}remote-pw\n")
with open(os.path.join(base, "dovecot.conf"), "w") as f:
    f.write(f"""protocols = pop3
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={base}/home/%u
}}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
""")
maildir = os.path.join(base, "home", "remote", "Maildir")
for d in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(maildir, d), exist_ok=True)
subprocess.run(["chown", "-R", "nobody:nogroup", os.path.join(base, "home")], check=True)
dovecot = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", os.path.join(base, "dovecot.conf")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", pop3s), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("dovecot did not start: " + open(os.path.join(base, "dovecot.log")).read())
        time.sleep(0.05)
print("ready", pop3, pop3s, maildir, flush=True)
sys.stdin.read()
dovecot.terminate()
dovecot.wait()
