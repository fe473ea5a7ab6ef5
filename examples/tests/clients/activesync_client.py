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
  send KEY FOLDER FORWARD_ITEM REPLY_ITEM
                     SendMail (with Bcc), SmartForward and SmartReply to ann, and a refused relay.
  manage KEY INBOX ITEM
                     FolderCreate/Update/Delete and MoveItems of ITEM out of INBOX.
  ping KEY FOLDER HEARTBEAT MARKER
                     Ping FOLDER; creates the file MARKER just before sending; reports status and seconds.
  restart KEY FOLDER SYNCKEY
                     Sync FOLDER with an old SYNCKEY (its status), then FolderSync and Sync of
                     FOLDER from 0: how many items it gets.
  itemops KEY FOLDER SUBJECT
                     Sync FOLDER from 0, then ItemOperations on the message called SUBJECT: fetches
                     (plain, MIME, truncated, AllOrNone), its first attachment (whole and a Range),
                     and the refusals (unknown item, wrong collection, bad FileReference, bad
                     Range, unknown store, malformed requests).
  empty KEY FOLDER SYNCKEY [subfolders]
                     ItemOperations EmptyFolderContents of FOLDER (with DeleteSubFolders when the
                     last argument is "subfolders"), then Sync from SYNCKEY (not when it is "-")
                     and FolderSync from 0.

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
from pyactivesync._codepages import CODEPAGES, PAGE_INDEX, REVERSE
from pyactivesync.models import BodyType

# pyactivesync's ItemOperations table stops at Part; EmptyFolderContents and
# DeleteSubFolders are MS-ASWBXML code page 20 tokens 0x12 and 0x13.
for _name, _token in (("EmptyFolderContents", 0x12), ("DeleteSubFolders", 0x13)):
    CODEPAGES["ItemOperations"].setdefault(_name, _token)
    REVERSE[PAGE_INDEX["ItemOperations"]].setdefault(_token, _name)

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


def item_operations(*operations):
    """One raw ItemOperations request; the parsed response."""
    w = WBXMLWriter()
    w.tag("ItemOperations", "ItemOperations", children=list(operations))
    return WBXMLReader(client._transport.post("ItemOperations", user, w.render())).parse()


def fetch_op(*children, store="Mailbox"):
    store_tag = [wtag("ItemOperations", "Store", text=store)] if store is not None else []
    return wtag("ItemOperations", "Fetch", children=store_tag + list(children))


def fetch_status(nodes, kind="Fetch"):
    """The top-level Status and the Status of each operation."""
    root = find(nodes, "ItemOperations.ItemOperations")
    top = text_of(next((n for n in root[2] if n[0] == "ItemOperations.Status"), None)) if root else None
    ops = [text_of(next((c for c in n[2] if c[0] == "ItemOperations.Status"), None))
           for n in find_all(nodes, f"ItemOperations.{kind}")]
    return {"top": top, "ops": ops}


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
    elif action == "send":
        from email.message import EmailMessage
        client._transport.policy_key = arg
        client._provisioned = True
        folder, forward_item, reply_item = rest[0], rest[1], rest[2]
        msg = EmailMessage()
        msg["From"] = user
        msg["To"] = "ann@example.com"
        msg["Bcc"] = "zed@example.com"
        msg["Subject"] = "From the phone"
        msg.set_content("Written on the phone.")
        client.send_mail(msg)
        out["send"] = "1"

        def compose(command, item, subject, text):
            m = EmailMessage()
            m["From"] = user
            m["To"] = "ann@example.com"
            m["Subject"] = subject
            m.set_content(text)
            mime = m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            w = WBXMLWriter()
            w.tag("ComposeMail", command, children=[
                wtag("ComposeMail", "ClientId", text=f"{command}-{item}".replace(":", "-")),
                wtag("ComposeMail", "SaveInSentItems"),
                wtag("ComposeMail", "Source", children=[
                    wtag("ComposeMail", "FolderId", text=folder), wtag("ComposeMail", "ItemId", text=item)]),
                wtag("ComposeMail", "MIME", opaque=mime),
            ])
            raw = client._transport.post(command, user, w.render())
            return text_of(find(WBXMLReader(raw).parse(), "ComposeMail.Status")) if raw else "1"

        out["forward"] = compose("SmartForward", forward_item, "Fw: Delivery 5", "See below.")
        out["reply"] = compose("SmartReply", reply_item, "Re: Delivery 6", "Thanks.")
        out["missing"] = compose("SmartReply", f"{folder}:999999", "Re: nothing", "x")
        far = EmailMessage()
        far["From"] = user
        far["To"] = "someone@remote.example"
        far["Subject"] = "Not relayed"
        far.set_content("x")
        try:
            client.send_mail(far)
            out["relay"] = "1"
        except StatusError as e:
            out["relay"] = e.code
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
    elif action == "restart":
        # After the administrator removed the partnership: the old Sync key
        # of FOLDER, then a clean start of the hierarchy and of FOLDER.
        client._transport.policy_key = arg
        client._provisioned = True
        folder, stale_key = rest[0], rest[1]
        try:
            client.sync_folder(folder, stale_key)
            out["stale_sync"] = "1"
        except StatusError as e:
            out["stale_sync"] = e.code
        out["hierarchy"] = folder_sync("0")
        key = client.sync_folder(folder, "0").sync_key
        out["items"] = 0
        while True:
            r = client.sync_folder(folder, key, window_size=100)
            out["items"] += len(r.added)
            key = r.sync_key
            if not r.more_available:
                break
    elif action == "itemops":
        import base64
        client._transport.policy_key = arg
        client._provisioned = True
        folder, subject = rest[0], rest[1]
        key = client.sync_folder(folder, "0").sync_key
        synced = client.sync_folder(folder, key, window_size=100)
        item = next(i for i in synced.added if i.fields.get("Email.Subject") == subject)
        sid = item.server_id
        out["sync"] = {"id": sid, "file_reference": item.fields.get("AirSyncBase.FileReference"),
                       "display_name": item.fields.get("AirSyncBase.DisplayName"),
                       "method": item.fields.get("AirSyncBase.Method")}
        plain = client.fetch_item(folder, sid, body_type=BodyType.PLAIN_TEXT)
        out["plain"] = {"subject": plain.fields.get("Email.Subject"), "from": plain.fields.get("Email.From"),
                        "type": int(plain.body.type), "body": plain.body.data,
                        "truncated": plain.body.truncated,
                        "attachments": [{"name": a.display_name, "ref": a.file_reference, "method": a.method,
                                         "size": a.estimated_data_size, "inline": a.is_inline,
                                         "content_id": a.content_id} for a in plain.attachments]}
        mime = client.fetch_item(folder, sid, body_type=BodyType.MIME)
        out["mime"] = {"type": int(mime.body.type), "data": mime.body.data.decode("utf-8", "replace"),
                       "size": mime.body.estimated_data_size}
        # The response's envelope: Status, CollectionId, ServerId, Class.
        nodes = item_operations(fetch_op(wtag("AirSync", "CollectionId", text=folder),
                                         wtag("AirSync", "ServerId", text=sid)))
        out["envelope"] = {"status": fetch_status(nodes), "collection": text_of(find(nodes, "AirSync.CollectionId")),
                           "server_id": text_of(find(nodes, "AirSync.ServerId")),
                           "class": text_of(find(nodes, "AirSync.Class"))}
        # TruncationSize, and AllOrNone.
        for name, all_or_none in (("truncated", "0"), ("all_or_none", "1")):
            nodes = item_operations(fetch_op(
                wtag("AirSync", "CollectionId", text=folder), wtag("AirSync", "ServerId", text=sid),
                wtag("ItemOperations", "Options", children=[wtag("AirSyncBase", "BodyPreference", children=[
                    wtag("AirSyncBase", "Type", text="1"), wtag("AirSyncBase", "TruncationSize", text="5"),
                    wtag("AirSyncBase", "AllOrNone", text=all_or_none)])])))
            body = find(nodes, "AirSyncBase.Body")
            data = next((c for c in body[2] if c[0] == "AirSyncBase.Data"), None) if body else None
            out[name] = {"status": fetch_status(nodes), "truncated": text_of(find(nodes, "AirSyncBase.Truncated")),
                         "has_data": data is not None, "data": text_of(data) if data else None}
        ref = plain.attachments[0].file_reference if plain.attachments else out["sync"]["file_reference"]
        out["attachment"] = base64.b64encode(client.fetch_attachment(ref)).decode()
        nodes = item_operations(fetch_op(wtag("AirSyncBase", "FileReference", text=ref),
                                         wtag("ItemOperations", "Options", children=[
                                             wtag("ItemOperations", "Range", text="2-5")])))
        out["range"] = {"status": fetch_status(nodes), "range": text_of(find(nodes, "ItemOperations.Range")),
                        "total": text_of(find(nodes, "ItemOperations.Total")),
                        "data": text_of(find(nodes, "ItemOperations.Data")),
                        "content_type": text_of(find(nodes, "AirSyncBase.ContentType"))}
        # Refusals.
        refused = {}
        try:
            client.fetch_item(folder, f"{folder}:999999", body_type=BodyType.PLAIN_TEXT)
            refused["unknown_item"] = "1"
        except StatusError as e:
            refused["unknown_item"] = e.code
        other = str(int(folder) + 1000)
        refused["wrong_collection"] = fetch_status(item_operations(fetch_op(
            wtag("AirSync", "CollectionId", text=other), wtag("AirSync", "ServerId", text=sid))))["ops"]
        refused["bad_reference"] = fetch_status(item_operations(
            fetch_op(wtag("AirSyncBase", "FileReference", text=ref.rsplit(":", 1)[0] + ":99"))))["ops"]
        refused["garbage_reference"] = fetch_status(item_operations(
            fetch_op(wtag("AirSyncBase", "FileReference", text="not-a-reference"))))["ops"]
        refused["bad_range"] = fetch_status(item_operations(fetch_op(
            wtag("AirSyncBase", "FileReference", text=ref),
            wtag("ItemOperations", "Options", children=[wtag("ItemOperations", "Range", text="9-3")]))))["ops"]
        refused["past_end"] = fetch_status(item_operations(fetch_op(
            wtag("AirSyncBase", "FileReference", text=ref),
            wtag("ItemOperations", "Options", children=[wtag("ItemOperations", "Range", text="99999999-99999999")]))))["ops"]
        refused["unknown_store"] = fetch_status(item_operations(fetch_op(
            wtag("AirSyncBase", "FileReference", text=ref), store="DocumentLibrary")))["ops"]
        refused["no_store"] = fetch_status(item_operations(fetch_op(
            wtag("AirSyncBase", "FileReference", text=ref), store=None)))["ops"]
        refused["no_target"] = fetch_status(item_operations(fetch_op()))["ops"]
        refused["empty_request"] = fetch_status(item_operations())["top"]
        w = WBXMLWriter()
        w.tag("FolderHierarchy", "FolderSync", children=[wtag("FolderHierarchy", "SyncKey", text="0")])
        nodes = WBXMLReader(client._transport.post("ItemOperations", user, w.render())).parse()
        refused["wrong_root"] = text_of(find(nodes, "ItemOperations.Status"))
        nodes = WBXMLReader(client._transport.post("ItemOperations", user, b"\x03\x01\x6a\x00\x54\xff")).parse()
        refused["not_wbxml"] = text_of(find(nodes, "ItemOperations.Status"))
        # Two operations in one request: each answered, in order.
        nodes = item_operations(
            fetch_op(wtag("AirSync", "CollectionId", text=folder), wtag("AirSync", "ServerId", text=sid)),
            fetch_op(wtag("AirSync", "CollectionId", text=folder), wtag("AirSync", "ServerId", text=f"{folder}:999999")))
        refused["batch"] = fetch_status(nodes)["ops"]
        out["refused"] = refused
        out["key"] = synced.sync_key
    elif action == "empty":
        client._transport.policy_key = arg
        client._provisioned = True
        folder, sync_key = rest[0], rest[1]
        options = []
        if len(rest) > 2 and rest[2] == "subfolders":
            options = [wtag("ItemOperations", "Options", children=[wtag("ItemOperations", "DeleteSubFolders")])]
        nodes = item_operations(wtag("ItemOperations", "EmptyFolderContents",
                                     children=[wtag("AirSync", "CollectionId", text=folder)] + options))
        out["status"] = fetch_status(nodes, "EmptyFolderContents")
        out["collection"] = text_of(find(nodes, "AirSync.CollectionId"))
        deleted, added, key = [], [], sync_key
        while key != "-":
            r = client.sync_folder(folder, key, window_size=100)
            key = r.sync_key
            deleted += r.deleted
            added += [i.server_id for i in r.added]
            if not r.more_available:
                break
        out.update(key=key, deleted=deleted, added=added)
        out["folders"] = folders()
        missing = item_operations(wtag("ItemOperations", "EmptyFolderContents",
                                       children=[wtag("AirSync", "CollectionId", text="987654")]))
        out["missing"] = fetch_status(missing, "EmptyFolderContents")["ops"]
        no_id = item_operations(wtag("ItemOperations", "EmptyFolderContents"))
        out["no_id"] = fetch_status(no_id, "EmptyFolderContents")["ops"]
    else:
        sys.exit(f"unknown action {action}")
finally:
    client.close()
print(json.dumps(out))
