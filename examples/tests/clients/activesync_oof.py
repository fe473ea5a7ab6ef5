"""Out-of-office settings through pyactivesync's get_oof/set_oof, printed as JSON.

Usage: activesync_oof.py HOST:PORT USER PASSWORD DEVICE_ID OPERATIONS

OPERATIONS is a JSON list, run in order after provisioning:
  {"set": {"state": 0|1|2, "message": TEXT, "body_type": "Text"|"HTML",
           "applies_to": [...], "start": ISO, "end": ISO}}
      Settings Oof Set; the result is "1" or "Settings.Oof:STATUS".
  {"get": "Text"|"HTML"}
      Settings Oof Get (pyactivesync always asks for Text, so an HTML Get is
      sent as a raw Settings request); the result is the state, the times
      and one entry per audience.

The server uses its self-signed development certificate, so certificates are
not verified.
"""

import json
import sys
import warnings

from pyactivesync import Client, StatusError
from pyactivesync._wbxml import WBXMLReader, WBXMLWriter, find, find_all, text_of, wtag
from pyactivesync.models import OofState

warnings.filterwarnings("ignore")  # urllib3: unverified HTTPS to the test server

server, user, password, device_id, operations = sys.argv[1:6]
client = Client(server, user, password, device_id=device_id, verify_ssl=False, device_type="TestPhone")
client._transport.session.trust_env = False
client.provision()


def get_html():
    w = WBXMLWriter()
    w.tag("Settings", "Settings", children=[
        wtag("Settings", "Oof", children=[wtag("Settings", "Get", children=[wtag("Settings", "BodyType", text="HTML")])]),
    ])
    nodes = WBXMLReader(client._transport.post("Settings", user, w.render())).parse()
    messages = []
    for _, _, kids in find_all(nodes, "Settings.OofMessage"):
        scope = next((n[0].split(".")[1] for n in kids if n[0].startswith("Settings.AppliesTo")), "")
        messages.append({
            "applies_to": scope.replace("AppliesTo", ""),
            "enabled": text_of(find(kids, "Settings.Enabled")) == "1",
            "message": text_of(find(kids, "Settings.ReplyMessage")),
            "body_type": text_of(find(kids, "Settings.BodyType")),
        })
    return {"state": int(text_of(find(nodes, "Settings.OofState"))), "messages": messages}


results = []
for op in json.loads(operations):
    if "set" in op:
        a = op["set"]
        try:
            client.set_oof(
                OofState(a["state"]),
                start_time=a.get("start"),
                end_time=a.get("end"),
                reply_message=a.get("message"),
                body_type=a.get("body_type", "Text"),
                applies_to=a.get("applies_to", ("Internal", "ExternalKnown", "ExternalUnknown")),
            )
            results.append("1")
        except StatusError as e:
            results.append(f"{e.command}:{e.code}")
    elif op.get("get") == "HTML":
        results.append(get_html())
    else:
        s = client.get_oof()
        results.append({
            "state": int(s.state),
            "start": s.start_time,
            "end": s.end_time,
            "messages": [
                {"applies_to": m.applies_to, "enabled": m.enabled, "message": m.reply_message, "body_type": m.body_type}
                for m in s.messages
            ],
        })
print(json.dumps(results))
