"""Settings, ResolveRecipients and Search with pyactivesync, printed as JSON.

Usage: activesync_settings.py HOST:PORT USER PASSWORD DEVICE_ID

Provisions, then:
  settings   DeviceInformation Set, UserInformation Get, Oof Get and Set
             (pyactivesync's get_oof/set_oof), DevicePassword Set,
             RightsManagementInformation Get, and malformed requests.
  resolve    pyactivesync's resolve_recipients for an address, an alias and a
             bare name, and one raw request with several To (unknown, remote)
             asking for certificates.
  gal        pyactivesync's search_gal by local part, address and alias, and
             queries that find nothing.
  find       Find (16.1, pyactivesync's find_mailbox/find_gal) in the mailbox
             and the GAL, and malformed Find requests.
  mailbox    Search in the Mailbox store: FreeText (subject, sender, body),
             Range/Total, DateReceived (pyactivesync's search_mailbox), an
             ItemOperations fetch of a result's LongId, and the refusals.

The server uses its self-signed development certificate, so certificates are
not verified.
"""

import json
import sys
import warnings

from pyactivesync import Client, StatusError
from pyactivesync._codepages import CODEPAGES, PAGE_INDEX, REVERSE
from pyactivesync._wbxml import WBXMLReader, WBXMLWriter, find, find_all, leaves, text_of, wtag

# pyactivesync's tables lack these MS-ASWBXML tokens (code pages 18 and 15).
_EXTRA = {
    "Settings": [
        ("DevicePassword", 0x14), ("Password", 0x15), ("UserInformation", 0x1D), ("EmailAddresses", 0x1E),
        ("SmtpAddress", 0x1F), ("EnableOutboundSMS", 0x21), ("MobileOperator", 0x22),
        ("PrimarySmtpAddress", 0x23), ("Accounts", 0x24), ("Account", 0x25), ("AccountId", 0x26),
        ("AccountName", 0x27), ("UserDisplayName", 0x28), ("SendDisabled", 0x29),
        ("RightsManagementInformation", 0x2B),
    ],
    "Search": [("LessThan", 0x1A), ("GreaterThan", 0x1B)],
}
for _page, _tokens in _EXTRA.items():
    for _name, _token in _tokens:
        CODEPAGES[_page].setdefault(_name, _token)
        REVERSE[PAGE_INDEX[_page]].setdefault(_token, _name)

warnings.filterwarnings("ignore")  # urllib3: unverified HTTPS to the test server

server, user, password, device_id = sys.argv[1:5]
client = Client(server, user, password, device_id=device_id, verify_ssl=False, device_type="TestPhone")
client._transport.session.trust_env = False
out = {}


def post(cmd, root_page, root_name, children):
    w = WBXMLWriter()
    w.tag(root_page, root_name, children=children)
    return WBXMLReader(client._transport.post(cmd, user, w.render())).parse()


def status_error(call):
    try:
        call()
        return "1"
    except StatusError as e:
        return f"{e.command}:{e.code}"


def settings(children):
    nodes = post("Settings", "Settings", "Settings", children)
    top = find(nodes, "Settings.Settings")
    result = {"status": text_of(_direct(top[2], "Settings.Status"))}
    for name, _, kids in top[2]:
        if name != "Settings.Status":
            result[name.split(".")[1]] = {"status": text_of(_direct(kids, "Settings.Status")), "data": leaves(kids)}
    return result


def _direct(nodes, path):
    return next((n for n in nodes if n[0] == path), None)


client.provision()
folders = {f.name: f.id for f in client.list_folders()}
inbox = folders["Inbox"]

# -- Settings ------------------------------------------------------------------
s = {}
s["device"] = settings([
    wtag("Settings", "DeviceInformation", children=[wtag("Settings", "Set", children=[
        wtag("Settings", "Model", text="Pixel 8"),
        wtag("Settings", "IMEI", text="356938035643809"),
        wtag("Settings", "FriendlyName", text="Ops phone"),
        wtag("Settings", "OS", text="Android 14"),
        wtag("Settings", "OSLanguage", text="en-GB"),
        wtag("Settings", "PhoneNumber", text="+441234567890"),
        wtag("Settings", "UserAgent", text="TestPhone/2.0"),
        wtag("Settings", "MobileOperator", text="Operator"),
    ])]),
])
s["user"] = settings([wtag("Settings", "UserInformation", children=[wtag("Settings", "Get")])])
s["addresses"] = [
    text_of(n)
    for n in find_all(
        post("Settings", "Settings", "Settings",
             [wtag("Settings", "UserInformation", children=[wtag("Settings", "Get")])]),
        "Settings.SmtpAddress",
    )
]
s["get_oof"] = status_error(client.get_oof)
from pyactivesync.models import OofState  # noqa: E402

s["set_oof"] = status_error(lambda: client.set_oof(OofState.ENABLED, reply_message="Away"))
s["password"] = settings([
    wtag("Settings", "DevicePassword", children=[wtag("Settings", "Set", children=[
        wtag("Settings", "Password", text="recovery-1234")])]),
])
s["rights"] = settings([wtag("Settings", "RightsManagementInformation", children=[wtag("Settings", "Get")])])
s["batch"] = settings([
    wtag("Settings", "UserInformation", children=[wtag("Settings", "Get")]),
    wtag("Settings", "Oof", children=[wtag("Settings", "Get", children=[wtag("Settings", "BodyType", text="Text")])]),
    wtag("Settings", "DevicePassword", children=[wtag("Settings", "Get")]),
])
s["no_operation"] = settings([wtag("Settings", "Oof")])
s["wrong_root"] = text_of(find(post("Settings", "Search", "Search", []), "Settings.Status"))
out["settings"] = s

# -- ResolveRecipients ---------------------------------------------------------
def recipients(address):
    return [[r.type, r.display_name, r.email_address] for r in client.resolve_recipients(address)]


r = {name: recipients(name) for name in ["ann@example.com", "info@example.com", "ann", "Ann Example <ANN@example.com>"]}
nodes = post("ResolveRecipients", "ResolveRecipients", "ResolveRecipients", [
    wtag("ResolveRecipients", "To", text="nobody@example.com"),
    wtag("ResolveRecipients", "To", text="someone@remote.example"),
    wtag("ResolveRecipients", "To", text="ann@example.com"),
    wtag("ResolveRecipients", "Options", children=[wtag("ResolveRecipients", "CertificateRetrieval", text="2")]),
])
r["raw"] = {
    "status": text_of(find(nodes, "ResolveRecipients.Status")),
    "responses": [
        {
            "to": text_of(_direct(kids, "ResolveRecipients.To")),
            "status": text_of(_direct(kids, "ResolveRecipients.Status")),
            "count": text_of(_direct(kids, "ResolveRecipients.RecipientCount")),
            "address": text_of(find(kids, "ResolveRecipients.EmailAddress")),
            "cert_status": text_of(find(find(kids, "ResolveRecipients.Certificates")[2], "ResolveRecipients.Status"))
            if find(kids, "ResolveRecipients.Certificates") else None,
            "cert_count": text_of(find(kids, "ResolveRecipients.CertificateCount")),
        }
        for _, _, kids in find_all(nodes, "ResolveRecipients.Response")
    ],
}
r["empty"] = text_of(find(post("ResolveRecipients", "ResolveRecipients", "ResolveRecipients", []),
                          "ResolveRecipients.Status"))
out["resolve"] = r

# -- GAL -----------------------------------------------------------------------
g = {}
for q in ["ann", "ann@example.com", "info", "ANN", "an", "ghost", "carol@remote.example"]:
    g[q] = [[e.display_name, e.email_address, e.alias] for e in client.search_gal(q)]
out["gal"] = g


# -- Mailbox -------------------------------------------------------------------
def search(query_children, options=None, name="Mailbox"):
    store = [wtag("Search", "Name", text=name), wtag("Search", "Query", children=query_children)]
    if options is not None:
        store.append(wtag("Search", "Options", children=options))
    nodes = post("Search", "Search", "Search", [wtag("Search", "Store", children=store)])
    st = find(nodes, "Search.Store")
    if st is None:
        return {"top": text_of(find(nodes, "Search.Status"))}
    return {
        "top": text_of(find(nodes, "Search.Status")),
        "status": text_of(_direct(st[2], "Search.Status")),
        "range": text_of(_direct(st[2], "Search.Range")),
        "total": text_of(_direct(st[2], "Search.Total")),
        "results": [
            {
                "class": text_of(_direct(kids, "AirSync.Class")),
                "long_id": text_of(_direct(kids, "Search.LongId")),
                "collection": text_of(_direct(kids, "AirSync.CollectionId")),
                "subject": text_of(find(kids, "Email.Subject")),
                "from": text_of(find(kids, "Email.From")),
                "body": text_of(find(kids, "AirSyncBase.Data")),
                "truncated": text_of(find(kids, "AirSyncBase.Truncated")),
            }
            for _, _, kids in find_all(nodes, "Search.Result")
            if kids
        ],
    }


def text_query(text, collection=inbox):
    children = [wtag("AirSync", "Class", text="Email")]
    if collection is not None:
        children.append(wtag("AirSync", "CollectionId", text=collection))
    children.append(wtag("Search", "FreeText", text=text))
    return [wtag("Search", "And", children=children)]


m = {}
m["budget"] = search(text_query("BUDGET"))
m["first"] = search(text_query("budget"), [wtag("Search", "Range", text="0-0")])
m["second"] = search(text_query("budget"), [wtag("Search", "Range", text="1-1")])
m["sender"] = search(text_query("carol"))
m["words"] = search(text_query("numbers budget"))
m["everywhere"] = search(text_query("archived", collection=None))
m["deep"] = search(text_query("archived", collection=folders["Archive"]), [wtag("Search", "DeepTraversal")])
m["shallow"] = search(text_query("archived", collection=folders["Archive"]))
m["inbox_only"] = search(text_query("archived"))
m["nothing"] = search(text_query("zebra"))
m["truncated"] = search(text_query("carol"), [
    wtag("AirSyncBase", "BodyPreference", children=[
        wtag("AirSyncBase", "Type", text="1"), wtag("AirSyncBase", "TruncationSize", text="5")]),
])
m["after"] = sorted(r.get("Email.Subject", "") for r in
                    client.search_mailbox(inbox, date_received_after="2000-01-01T00:00:00.000Z"))
m["future"] = client.search_mailbox(inbox, date_received_after="2999-01-01T00:00:00.000Z")
fetched = client.fetch_item(inbox, m["sender"]["results"][0]["long_id"]) if m["sender"]["results"] else None
m["fetched_subject"] = fetched.fields.get("Email.Subject") if fetched else None
m["unknown_folder"] = search(text_query("budget", collection="999999"))
m["contacts_folder"] = search(text_query("budget", collection=folders["Contacts"]))
m["or"] = search([wtag("Search", "Or", children=[wtag("Search", "FreeText", text="x")])])
m["bad_range"] = search(text_query("budget"), [wtag("Search", "Range", text="5-2")])
m["library"] = search(text_query("budget"), name="DocumentLibrary")
m["no_store"] = text_of(find(post("Search", "Search", "Search", []), "Search.Status"))
out["mailbox"] = m

# -- Find (16.1) -----------------------------------------------------------------
def found(call):
    try:
        r = call()
    except StatusError as e:
        return {"error": f"{e.command}:{e.code}"}
    return {
        "total": r.total,
        "range": r.range,
        "items": [{"server_id": i.server_id, "collection": i.collection_id, **i.fields} for i in r.items],
    }


def raw_find(children):
    nodes = post("Find", "Find", "Find", children)
    return {
        "status": text_of(_direct(find(nodes, "Find.Find")[2], "Find.Status")),
        "response_status": text_of(find(nodes, "Find.Response.Status")) if find(nodes, "Find.Response") else None,
    }


f = {}
f["budget"] = found(lambda: client.find_mailbox("budget"))
f["inbox_first"] = found(lambda: client.find_mailbox("Budget", folder_id=inbox, max_results=1))
f["deep"] = found(lambda: client.find_mailbox("archived", folder_id=folders["Archive"], deep_traversal=True))
f["shallow"] = found(lambda: client.find_mailbox("archived", folder_id=folders["Archive"]))
f["nothing"] = found(lambda: client.find_mailbox("zebra"))
f["not_zero"] = found(lambda: client.find_mailbox("budget", range_start=1, max_results=1))
f["unknown_folder"] = found(lambda: client.find_mailbox("budget", folder_id="999999"))
f["gal"] = found(lambda: client.find_gal("info@example.com"))
f["gal_none"] = found(lambda: client.find_gal("ghost@example.com"))
f["no_search_id"] = raw_find([wtag("Find", "ExecuteSearch", children=[
    wtag("Find", "MailBoxSearchCriterion", children=[
        wtag("Find", "Query", children=[wtag("Find", "FreeText", text="budget")])])])])
f["no_text"] = raw_find([wtag("Find", "SearchId", text="6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    wtag("Find", "ExecuteSearch", children=[wtag("Find", "MailBoxSearchCriterion", children=[
        wtag("Find", "Query", children=[wtag("AirSync", "Class", text="Email")])])])])
out["find"] = f

print(json.dumps(out))
