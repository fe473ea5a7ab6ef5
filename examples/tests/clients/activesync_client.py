"""One ActiveSync device session with pyactivesync, printed as JSON.

Usage: activesync_client.py HOST:PORT USER PASSWORD DEVICE_ID ACTION [ARG]

Actions:
  provision          Provision (both phases) and list the folders.
  folders KEY        List the folders holding policy key KEY, without provisioning.
  refused            Expect the server to refuse the device; report the HTTP status and text.
  malformed KEY      Send a FolderSync whose body is not WBXML, holding KEY.
  resync KEY         FolderSync from key 0, then again with the key received, then retry the first key.
  wipe KEY           Expect a remote wipe instead of content; provision to receive it and acknowledge it.
  sync KEY FOLDER [SYNCKEY]
                     Sync FOLDER (from 0, or from SYNCKEY) in windows of 10 until nothing more.
  change KEY FOLDER SYNCKEY OPS
                     Apply OPS (JSON list of {"id","read","flagged","delete"}) through Sync.
  estimate KEY FOLDER SYNCKEY
                     GetItemEstimate.
  manage KEY INBOX ITEM
                     FolderCreate/Update/Delete and MoveItems of ITEM out of INBOX.
  ping KEY FOLDER HEARTBEAT MARKER
                     Ping FOLDER; creates the file MARKER just before sending; reports status and seconds.

The server uses its self-signed development certificate, so certificates are
not verified.
"""

import json
import sys
import warnings

import requests
from pyactivesync import Client, StatusError
from pyactivesync.models import EmailChange
from pyactivesync._wbxml import WBXMLReader, WBXMLWriter, find, find_all, text_of, wtag

warnings.filterwarnings("ignore")  # urllib3: unverified HTTPS to the test server

server, user, password, device_id, action = sys.argv[1:6]
arg = sys.argv[6] if len(sys.argv) > 6 else None
rest = sys.argv[7:]
client = Client(server, user, password, device_id=device_id, verify_ssl=False, device_type="TestPhone")
# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment
# override verify=False; this session ignores the environment.
client._transport.session.trust_env = False
out = {"action": action}


def folders():
    return sorted((f.id, f.parent_id, int(f.type), f.name) for f in client.list_folders())


def folder_sync(key):
    w = WBXMLWriter()
    w.tag("FolderHierarchy", "FolderSync", children=[wtag("FolderHierarchy", "SyncKey", text=key)])
    nodes = WBXMLReader(client._transport.post("FolderSync", user, w.render())).parse()
    return {
        "status": text_of(find(nodes, "FolderHierarchy.Status")),
        "key": text_of(find(nodes, "FolderHierarchy.SyncKey")),
        "adds": len(find_all(nodes, "FolderHierarchy.Add")),
    }


try:
    if action == "provision":
        out["key"] = client.provision()
        out["again"] = client.provision()
        out["folders"] = folders()
    elif action == "folders":
        client._transport.policy_key = arg
        client._provisioned = True
        try:
            out["folders"] = folders()
        except StatusError as e:
            out["status"] = e.code
    elif action == "refused":
        try:
            client.provision()
            out["status"] = 200
        except requests.HTTPError as e:
            out["status"] = e.response.status_code
            out["text"] = e.response.text
    elif action == "malformed":
        client._transport.policy_key = arg
        raw = client._transport.post("FolderSync", user, b"\x03\x01\x6a\x00\x45\xff\xff")
        nodes = WBXMLReader(raw).parse()
        out["status"] = text_of(find(nodes, "FolderHierarchy.Status"))
    elif action == "resync":
        client._transport.policy_key = arg
        first = folder_sync("0")
        second = folder_sync(first["key"])
        retry = folder_sync("0" if first["key"] is None else first["key"])
        stale = folder_sync("12345")
        out.update(first=first, second=second, retry=retry, stale=stale)
    elif action == "wipe":
        client._transport.policy_key = arg
        out["before"] = folder_sync("0")["status"]
        w = WBXMLWriter()
        w.tag("Provision", "Provision", children=[wtag("Provision", "Policies", children=[
            wtag("Provision", "Policy", children=[wtag("Provision", "PolicyType", text="MS-EAS-Provisioning-WBXML")])])])
        nodes = WBXMLReader(client._transport.post("Provision", user, w.render())).parse()
        out["told"] = [n[0] for n in nodes[0][2]] if nodes else []
        kind = "Provision.AccountOnlyRemoteWipe" if find(nodes, "Provision.AccountOnlyRemoteWipe") else "Provision.RemoteWipe"
        w = WBXMLWriter()
        w.tag("Provision", "Provision", children=[wtag("Provision", kind.split(".")[1], children=[
            wtag("Provision", "Status", text="1")])])
        nodes = WBXMLReader(client._transport.post("Provision", user, w.render())).parse()
        out["ack_status"] = text_of(find(nodes, "Provision.Status"))
    elif action == "manage":
        from pyactivesync.models import FolderType
        client._transport.policy_key = arg
        client._provisioned = True
        inbox, item = rest[0], rest[1]
        projects = client.create_folder("Projects")
        year = client.create_folder("2026", parent_id=projects.id, type=FolderType(12))
        client.update_folder(projects.id, "Clients")
        out["renamed"] = [f for f in folders() if f[0] in (projects.id, year.id)]
        out["moved_to"] = client.move_item(item, inbox, year.id)
        first = client.sync_folder(year.id, "0")
        second = client.sync_folder(year.id, first.sync_key)
        out["in_year"] = [i.server_id for i in second.added]
        try:
            client.delete_folder(inbox)
            out["inbox_delete"] = "1"
        except StatusError as e:
            out["inbox_delete"] = e.code
        try:
            client.create_folder("Clients")
            out["duplicate"] = "1"
        except StatusError as e:
            out["duplicate"] = e.code
        client.delete_folder(projects.id)
        out["after_delete"] = [f[3] for f in folders()]
        out["ids"] = [projects.id, year.id]
    elif action in ("sync", "change", "estimate", "ping"):
        client._transport.policy_key = arg
        client._provisioned = True
        folder = rest[0]
        if action == "sync":
            key = rest[1] if len(rest) > 1 else "0"
            batches, items, changed, deleted = 0, [], [], []
            if key == "0":
                key = client.sync_folder(folder, "0").sync_key
            while True:
                r = client.sync_folder(folder, key, window_size=10)
                batches += 1
                key = r.sync_key
                items += [{"id": i.server_id, "subject": i.fields.get("Email.Subject"), "read": i.fields.get("Email.Read"),
                           "from": i.fields.get("Email.From"), "body": i.fields.get("AirSyncBase.Data")} for i in r.added]
                changed += [{"id": i.server_id, "read": i.fields.get("Email.Read"),
                             "flagged": i.fields.get("Email.Status")} for i in r.changed]
                deleted += r.deleted
                if not r.more_available:
                    break
            out.update(key=key, batches=batches, items=items, changed=changed, deleted=deleted)
        elif action == "change":
            ops = json.loads(rest[2])
            changes = [EmailChange(server_id=o["id"], read=o.get("read"), flagged=o.get("flagged"),
                                   delete=o.get("delete", False)) for o in ops]
            r = client.apply_email_changes(folder, rest[1], changes)
            out.update(key=r.sync_key, statuses=r.statuses)
        elif action == "estimate":
            out["estimate"] = client.get_item_estimate(folder, rest[1])
        else:
            import time
            heartbeat, marker = int(rest[1]), rest[2]
            open(marker, "w").close()
            started = time.time()
            r = client.ping(folder, heartbeat=heartbeat, timeout=heartbeat + 30)
            out.update(status=r.status, folders=r.changed_folder_ids, seconds=time.time() - started,
                       returned_at=time.time())
    else:
        sys.exit(f"unknown action {action}")
finally:
    client.close()
print(json.dumps(out))
