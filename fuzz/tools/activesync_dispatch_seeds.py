#!/usr/bin/env python3
"""Writes the seed corpus of the activesync_dispatch fuzz target.

One seed per command (and a few gates), in the target's input format (see
fuzz_targets/activesync_dispatch.rs): six header bytes, the extra query,
then the body, mostly as an element program whose tags are looked up in the
crate's code page tables (axigen-activesync/src/wbxml/codepages.rs).

Run from anywhere: python3 fuzz/tools/activesync_dispatch_seeds.py
"""

import pathlib
import re

FUZZ = pathlib.Path(__file__).resolve().parent.parent
CODEPAGES = FUZZ.parent / "axigen-activesync/src/wbxml/codepages.rs"
OUT = FUZZ / "corpus/activesync_dispatch"

# Flags of byte 0.
SETUP, TREE, BASE64, KEY = 1, 2, 4, 8
WRONG_PASSWORD = 2 << 4
ODD = 128

# Command::ALL order (axigen-activesync/src/request.rs).
COMMANDS = [
    "Sync", "SendMail", "SmartForward", "SmartReply", "GetAttachment", "FolderSync", "FolderCreate",
    "FolderDelete", "FolderUpdate", "MoveItems", "GetItemEstimate", "MeetingResponse", "Search", "Settings",
    "Ping", "ItemOperations", "Provision", "ResolveRecipients", "ValidateCert", "Find",
]
# Byte 2: ProtocolVersion::ALL index.
V12_1, V14_0, V14_1, V16_0, V16_1 = range(5)

# Namespaces in page-number order (MS-ASWBXML).
PAGES = [
    "AirSync", "Contacts", "Email", "AirNotify", "Calendar", "Move", "GetItemEstimate", "FolderHierarchy",
    "MeetingResponse", "Tasks", "ResolveRecipients", "ValidateCert", "Contacts2", "Ping", "Provision",
    "Search", "Gal", "AirSyncBase", "Settings", "DocumentLibrary", "ItemOperations", "ComposeMail", "Email2",
    "Notes", "RightsManagement", "Find",
]

MIME = "From: u@example.com\r\nTo: someone@elsewhere.example\r\nSubject: hi\r\n\r\nhello\r\n"


def tables():
    source = CODEPAGES.read_text()
    pages = {}
    for number, body in re.findall(r"const PAGE_(\d+): &\[\(u8, &str\)\] =\s*&\[(.*?)\];", source, re.S):
        pages[int(number)] = [name for _, name in re.findall(r'\((0x[0-9A-Fa-f]+), "(\w+)"\)', body)]
    assert len(pages) == len(PAGES), "code page tables not found"
    return pages


TAGS = tables()


def text(value):
    data = value.encode()
    if len(data) < 15:
        return bytes([0xE0 | len(data)]) + data
    assert len(data) < 256
    return bytes([0xEF, len(data)]) + data


def program(children, page):
    """children: [(name, content)], name "Page:Tag" on another page; content
    is a text or a list of children."""
    out = b""
    for name, content in children:
        child_page = page
        if ":" in name:
            namespace, name = name.split(":")
            child_page = PAGES.index(namespace)
        index = TAGS[child_page].index(name)
        if child_page == page:
            assert index < 0x80
            out += bytes([index])
        else:
            out += bytes([0x80 | child_page, index])
        if isinstance(content, str):
            out += text(content)
        elif content:
            out += program(content, child_page)
        out += b"\xf8"
    return out


def seed(name, command, flags, body, version=V16_1, variant=0, odd=0, query=b"", page=None):
    header = bytes([flags, COMMANDS.index(command), version, variant, odd, len(query)])
    if flags & TREE:
        body = program(body, PAGES.index(page))
    (OUT / f"seed-{name}").write_bytes(header + query + body)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    deep = SETUP | TREE | KEY
    policy = [("Policies", [("Policy", [("PolicyType", "MS-EAS-Provisioning-WBXML")])])]
    seed("provision", "Provision", TREE, policy, page="Provision")
    seed("provision-wipe-ack", "Provision", deep, [("RemoteWipe", [("Status", "1")])], variant=3, page="Provision")
    seed("foldersync-0", "FolderSync", deep, [("SyncKey", "0")], page="FolderHierarchy")
    seed("foldersync-1-v12", "FolderSync", deep, [("SyncKey", "1")], version=V12_1, page="FolderHierarchy")
    seed("foldersync-unprovisioned", "FolderSync", TREE, [("SyncKey", "0")], page="FolderHierarchy")
    sync = [("Collections", [("Collection", [
        ("SyncKey", "1"), ("CollectionId", "1"), ("GetChanges", []), ("WindowSize", "2"),
        ("Options", [("FilterType", "0"), ("AirSyncBase:BodyPreference", [("Type", "2"), ("TruncationSize", "100")])]),
    ])])]
    seed("sync", "Sync", deep, sync, page="AirSync")
    sync_commands = [("Collections", [("Collection", [
        ("SyncKey", "1"), ("CollectionId", "1"), ("Commands", [
            ("Change", [("ServerId", "1:1"), ("ApplicationData", [("Email:Read", "1")])]),
            ("Delete", [("ServerId", "1:2")]),
        ]),
    ])])]
    seed("sync-commands", "Sync", deep, sync_commands, page="AirSync")
    estimate = [("Collections", [("Collection", [("AirSync:SyncKey", "1"), ("CollectionId", "1")])])]
    seed("getitemestimate", "GetItemEstimate", deep, estimate, page="GetItemEstimate")
    ping = [("HeartbeatInterval", "480"), ("Folders", [("Folder", [("Id", "1"), ("Class", "Email")])])]
    seed("ping", "Ping", deep, ping, page="Ping")
    # The Inbox loaded (byte 3, bit 5) has nothing new: the Ping waits out its heartbeat.
    quiet = [("HeartbeatInterval", "3540"), ("Folders", [("Folder", [("Id", "1"), ("Class", "Email")])])]
    seed("ping-heartbeat", "Ping", deep, quiet, variant=32, page="Ping")
    fetch = [
        ("Fetch", [("Store", "Mailbox"), ("AirSync:CollectionId", "1"), ("AirSync:ServerId", "1:2"),
                   ("Options", [("AirSyncBase:BodyPreference", [("Type", "4")])])]),
        ("Fetch", [("Store", "Mailbox"), ("AirSyncBase:FileReference", "1:2:0")]),
    ]
    seed("itemoperations", "ItemOperations", deep, fetch, page="ItemOperations")
    create = [("SyncKey", "1"), ("ParentId", "0"), ("DisplayName", "Projects"), ("Type", "12")]
    seed("foldercreate", "FolderCreate", deep, create, page="FolderHierarchy")
    update = [("SyncKey", "1"), ("ServerId", "6"), ("ParentId", "0"), ("DisplayName", "b")]
    seed("folderupdate", "FolderUpdate", deep, update, page="FolderHierarchy")
    seed("folderdelete", "FolderDelete", deep, [("SyncKey", "1"), ("ServerId", "7")], page="FolderHierarchy")
    move = [("Move", [("SrcMsgId", "1:1"), ("SrcFldId", "1"), ("DstFldId", "5")])]
    seed("moveitems", "MoveItems", deep, move, page="Move")
    send = [("ClientId", "1"), ("SaveInSentItems", []), ("MIME", MIME)]
    seed("sendmail", "SendMail", deep, send, page="ComposeMail")
    reply = [("ClientId", "2"), ("Source", [("FolderId", "1"), ("ItemId", "1:1")]), ("MIME", MIME)]
    seed("smartreply", "SmartReply", deep, reply, page="ComposeMail")
    seed("sendmail-mime-v12", "SendMail", SETUP | KEY, MIME.encode(), version=V12_1, query=b"SaveInSent=T")
    # Base64 query parameters: CollectionId (tag 1) and ItemId (tag 3).
    seed("smartforward-base64", "SmartForward", SETUP | KEY | BASE64, MIME.encode(), version=V14_1,
         query=b"\x01\x011\x03\x031:2")
    settings = [
        ("Oof", [("Get", [("BodyType", "Text")])]),
        ("DeviceInformation", [("Set", [("Model", "Fuzz"), ("OS", "FuzzOS 1")])]),
        ("UserInformation", [("Get", [])]),
        ("DevicePassword", [("Set", [("Password", "x")])]),
    ]
    seed("settings", "Settings", deep, settings, page="Settings")
    seed("settings-quarantined", "Settings", deep, settings[1:3], variant=1, page="Settings")
    resolve = [("To", "u@example.com"), ("To", "alias@example.com"), ("Options", [("CertificateRetrieval", "2")])]
    seed("resolverecipients", "ResolveRecipients", deep, resolve, page="ResolveRecipients")
    search = [("Store", [
        ("Name", "Mailbox"),
        ("Query", [("And", [("AirSync:CollectionId", "1"), ("FreeText", "body")])]),
        ("Options", [("Range", "0-9"), ("DeepTraversal", [])]),
    ])]
    seed("search-mailbox", "Search", deep, search, page="Search")
    seed("search-gal", "Search", deep, [("Store", [("Name", "GAL"), ("Query", "u")])], page="Search")
    seed("options", "Sync", ODD, b"", odd=1)
    autodiscover = (
        '<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
        'mobilesync/requestschema/2006"><Request><EMailAddress>u@example.com</EMailAddress>'
        "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/"
        "responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>"
    )
    seed("autodiscover", "Sync", ODD, autodiscover.encode(), odd=1 << 2)
    seed("wrong-password", "FolderSync", TREE | WRONG_PASSWORD, [("SyncKey", "0")], page="FolderHierarchy")
    seed("raw-invalid-wbxml", "Sync", SETUP | KEY, b"\x03\x01\x6a\x00\x45\x5c\x4f", version=V14_0)


if __name__ == "__main__":
    main()
