#!/usr/bin/env python3
"""Queries per second on one agent's DNS port, and the agent's CPU meanwhile.

Starts `node --dev` (HTTP 127.0.0.8:8500, DNS 127.0.0.8:8600), registers
`web` with 3 instances on 3 catalog nodes (each with a passing check),
then runs dnsperf (Debian's `dnsperf`) over UDP for 20 s with a query mix
of `web.service.consul` A, `web.service.consul` SRV, `node1.node.consul` A
and a name that is NXDOMAIN, and reads the agent's CPU time from
/proc/PID/stat over the same 20 s.

    cargo build --release && python3 benches/dns_qps.py target/release/node
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

NODE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/node")
IP = "127.0.0.8"
HTTP = f"{IP}:8500"
SECONDS = 20
QUERIES = [
    "web.service.consul A",
    "web.service.consul SRV",
    "node1.node.consul A",
    "nothing.service.consul A",
]


def put(path, body):
    request = urllib.request.Request(f"http://{HTTP}{path}", data=json.dumps(body).encode(),
                                     method="PUT")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def wait_for_leader():
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HTTP}/v1/status/leader", timeout=1) as r:
                if r.read().strip() not in (b'""', b""):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("the agent elected no leader in 30 s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    workdir = tempfile.mkdtemp()
    agent = subprocess.Popen(
        [NODE, "--dev", "--http-addr", HTTP, "--bind", f"{IP}:8300", "--dns-addr", f"{IP}:8600"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_leader()
        for i in range(1, 4):
            put("/v1/catalog/register", {
                "Node": f"node{i}", "Address": f"10.0.0.{i}",
                "Service": {"Service": "web", "ID": f"web{i}", "Port": 8080},
                "Check": {"CheckID": f"web{i}-alive", "Name": "alive", "Status": "passing",
                          "ServiceID": f"web{i}"},
            })
        queries = os.path.join(workdir, "queries.txt")
        with open(queries, "w") as out:
            out.write("\n".join(QUERIES) + "\n")
        before = cpu_seconds(agent.pid)
        perf = subprocess.run(
            ["dnsperf", "-s", IP, "-p", "8600", "-d", queries, "-l", str(SECONDS), "-c", "4",
             "-q", "64"], capture_output=True, text=True, check=True)
        used = cpu_seconds(agent.pid) - before
        qps = re.search(r"Queries per second:\s+([0-9.]+)", perf.stdout).group(1)
        lost = re.search(r"Queries lost:\s+(\d+)", perf.stdout).group(1)
        codes = re.search(r"Response codes:\s+(.*)", perf.stdout).group(1)
        print(f"queries/s {qps}  lost {lost}  codes {codes}")
        print(f"agent CPU {100 * used / SECONDS:.1f}% of a core over {SECONDS} s")
    finally:
        agent.kill()
        agent.wait()


if __name__ == "__main__":
    main()
