"""Drives a concord cluster with py-consul, a Consul client library from
PyPI that nobody on the team wrote: KV, a blocking query, a transaction,
status, the catalog, the Raft configuration and an agent join. Arguments: the HTTP addresses
(IP:PORT) of three servers. Exits 0 when every check passes; 2 when the
library is missing; 1 (with the failed check) otherwise."""

import base64
import sys
import threading
import time

try:
    import consul
except ImportError:
    print("py-consul is not installed: python3 -m pip install --user py-consul", file=sys.stderr)
    sys.exit(2)


def client(address, **options):
    host, port = address.rsplit(":", 1)
    return consul.Consul(host=host, port=int(port), **options)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def kv(a, b, c):
    check(a.kv.put("py/one", "uno") is True, "put answers True")
    index, entry = b.kv.get("py/one")
    check(entry["Value"] == b"uno", f"value read through another server: {entry}")
    check(entry["Key"] == "py/one" and entry["Flags"] == 0 and entry["LockIndex"] == 0, entry)
    check(entry["CreateIndex"] == entry["ModifyIndex"] and int(index) >= entry["ModifyIndex"], entry)
    check(a.kv.put("py/flags", "x", flags=42), "put with flags")
    check(c.kv.get("py/flags")[1]["Flags"] == 42, "flags kept")
    modify = entry["ModifyIndex"]
    check(c.kv.put("py/one", "dos", cas=modify + 1) is False, "a stale cas fails")
    check(c.kv.put("py/one", "dos", cas=modify) is True, "a current cas succeeds")
    check(a.kv.put("py/new", "x", cas=0) is True, "cas=0 creates")
    check(a.kv.put("py/new", "y", cas=0) is False, "cas=0 refuses an existing key")
    for key in ["py/tree/a", "py/tree/b", "py/tree/sub/c"]:
        check(a.kv.put(key, key), key)
    _, entries = b.kv.get("py/tree/", recurse=True)
    check([e["Key"] for e in entries] == ["py/tree/a", "py/tree/b", "py/tree/sub/c"], entries)
    _, keys = c.kv.get("py/tree/", keys=True, separator="/")
    check(keys == ["py/tree/a", "py/tree/b", "py/tree/sub/"], keys)
    index, missing = a.kv.get("py/missing")
    check(missing is None and int(index) >= 1, (index, missing))
    check(a.kv.delete("py/tree/", recurse=True) is True, "delete recurse")
    check(b.kv.get("py/tree/", recurse=True)[1] is None, "the tree is gone")
    _, entry = a.kv.get("py/one")
    check(a.kv.delete("py/one", cas=entry["ModifyIndex"] + 1) is False, "a stale delete-cas fails")
    check(a.kv.delete("py/one", cas=entry["ModifyIndex"]) is True, "a current delete-cas deletes")
    check(a.kv.get("py/one")[1] is None, "deleted")
    _, stale = client(sys.argv[2], consistency="stale").kv.get("py/flags")
    check(stale["Flags"] == 42, "a stale read")


def blocking(a, b, c):
    index, _ = b.kv.get("py/watch")
    result = {}

    def watch():
        result["answer"] = b.kv.get("py/watch", index=index, wait="60s")

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    check(watcher.is_alive(), "the blocking query returned before its key changed")
    started = time.time()
    c.kv.put("py/watch", "now")
    watcher.join(60)
    check(not watcher.is_alive(), "the blocking query was not woken")
    new_index, entry = result["answer"]
    check(entry["Value"] == b"now" and int(new_index) > int(index), result)
    check(time.time() - started < 60, "woken before its wait")


def txn(a, b):
    value = base64.b64encode(b"tx").decode()
    applied = a.txn.put([
        {"KV": {"Verb": "set", "Key": "py/txn", "Value": value}},
        {"KV": {"Verb": "get", "Key": "py/txn"}},
    ])
    check(applied["Errors"] is None, applied)
    check(base64.b64decode(applied["Results"][1]["KV"]["Value"]) == b"tx", applied)
    try:
        b.txn.put([{"KV": {"Verb": "check-not-exists", "Key": "py/txn"}}])
        check(False, "a failed transaction raises")
    except consul.ConsulException as error:
        check("409" in str(error) and '"OpIndex":0' in str(error), str(error))


def status(a, c, raft_addresses):
    leader = a.status.leader()
    peers = c.status.peers()
    check(leader in raft_addresses, (leader, raft_addresses))
    check(sorted(peers) == sorted(raft_addresses), peers)


def catalog_and_operator(a, b, c, raft_addresses):
    index, nodes = a.catalog.nodes()
    names = sorted(n["Node"] for n in nodes)
    check(names == ["c4", "s1", "s2", "s3"], names)
    check(int(index) >= max(n["ModifyIndex"] for n in nodes), (index, nodes))
    _, services = b.catalog.services()
    check(services == {"consul": []}, services)
    _, node = c.catalog.node("s2")
    port = int(raft_addresses[1].rsplit(":", 1)[1])
    check(node["Node"]["Node"] == "s2" and node["Services"]["consul"]["Port"] == port, node)
    started = time.time()
    again, _ = a.catalog.nodes(index=index, wait="1s")
    check(again == index and time.time() - started >= 1, (index, again))
    config = b.operator.raft_config()
    check(sorted(s["Address"] for s in config["Servers"]) == sorted(raft_addresses), config)
    check(sum(1 for s in config["Servers"] if s["Leader"]) == 1, config)
    check(c.agent.join(raft_addresses[0]) is True, "joining a member already known")


def services_and_health(a, b, c):
    web = lambda tag: {"service": "web", "id": "web", "tags": [tag], "port": 80}
    check_of = lambda status: {"name": "web alive", "status": status, "serviceid": "web"}
    check(a.catalog.register("ext1", "10.9.0.1", service=web("v1"), check=check_of("passing")),
          "register ext1")
    check(b.catalog.register("ext2", "10.9.0.2", service=web("v2"), check=check_of("warning")),
          "register ext2")
    index, nodes = c.catalog.service("web")
    check([n["Node"] for n in nodes] == ["ext1", "ext2"], nodes)
    first = nodes[0]
    check(first["ServiceID"] == "web" and first["ServicePort"] == 80 and first["Address"] == "10.9.0.1"
          and first["ServiceTags"] == ["v1"] and "consul-network-segment" in first["NodeMeta"], first)
    _, tagged = c.catalog.service("web", tag="v2")
    check([n["Node"] for n in tagged] == ["ext2"], tagged)
    _, healthy = a.health.service("web", passing=True)
    check([e["Node"]["Node"] for e in healthy] == ["ext1"], healthy)
    _, everyone = b.health.service("web")
    check([e["Service"]["ID"] for e in everyone] == ["web", "web"], everyone)
    check([[ch["Status"] for ch in e["Checks"]] for e in everyone] == [["passing"], ["warning"]],
          everyone)
    _, checks = c.health.checks("web")
    check(sorted(ch["Node"] for ch in checks) == ["ext1", "ext2"], checks)
    _, warning = a.health.state("warning")
    check([(ch["Node"], ch["CheckID"]) for ch in warning] == [("ext2", "web alive")], warning)
    _, on_node = b.health.node("ext1")
    check([ch["ServiceName"] for ch in on_node] == ["web"], on_node)
    _, node = c.catalog.node("ext1")
    check(list(node["Services"]) == ["web"] and node["Node"]["Address"] == "10.9.0.1", node)

    # A watch on web ignores another service's change and wakes on web's.
    started = time.time()
    check(a.catalog.register("ext3", "10.9.0.3", service={"service": "db", "port": 5432}), "db")
    again, _ = b.health.service("web", index=index, wait="1s")
    check(again == index and time.time() - started >= 1, ("db woke web", index, again))
    results = {}

    def watch():
        results["woken"] = c.health.service("web", index=index, wait="30s")

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.3)
    check(a.catalog.register("ext2", "10.9.0.2", service=web("v2"), check=check_of("passing")),
          "ext2 passing")
    watcher.join(40)
    woken_index, woken = results["woken"]
    check(int(woken_index) > int(index) and len(woken) == 2, results)
    _, healthy = a.health.service("web", passing=True)
    check([e["Node"]["Node"] for e in healthy] == ["ext1", "ext2"], healthy)
    for node in ("ext1", "ext2", "ext3"):
        check(a.catalog.deregister(node), f"deregister {node}")
    _, gone = c.catalog.service("web", consistency="consistent")
    check(gone == [], gone)


def main():
    http = sys.argv[1:4]
    raft = sys.argv[4:7]
    a, b, c = (client(address) for address in http)
    kv(a, b, c)
    blocking(a, b, c)
    txn(a, b)
    status(a, c, raft)
    catalog_and_operator(a, b, c, raft)
    services_and_health(a, b, c)
    print("py-consul: every check passed")


main()
