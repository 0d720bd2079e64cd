#!/usr/bin/env python3
"""The agent's CPU with 1,000 TCP health checks at a 1 s interval.

Starts `node --dev` (HTTP and peer port on 127.0.0.9), a TCP listener for
the checks to dial, registers 1,000 services each with a TCP check, waits
10 s, then reads the agent's CPU time from /proc/PID/stat over 30 s.

    cargo build --release && python3 benches/thousand_checks.py target/release/node
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

NODE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/node")
HTTP = "127.0.0.9:8500"
TARGET = ("127.0.0.9", 9000)


def main():
    workdir = tempfile.mkdtemp()
    agent = subprocess.Popen(
        [NODE, "--dev", "--http-addr", HTTP, "--bind", "127.0.0.9:8300", "--dns-addr", ""],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(TARGET)
        listener.listen(4096)

        def accept():
            while True:
                conn, _ = listener.accept()
                conn.close()
        threading.Thread(target=accept, daemon=True).start()
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{HTTP}/v1/status/leader").read()
                break
            except OSError:
                time.sleep(0.1)
        for i in range(1000):
            body = json.dumps({"Name": f"svc{i}", "Port": TARGET[1], "Check": {
                "TCP": f"{TARGET[0]}:{TARGET[1]}", "Interval": "1s", "Timeout": "1s"}}).encode()
            request = urllib.request.Request(
                f"http://{HTTP}/v1/agent/service/register", data=body, method="PUT")
            urllib.request.urlopen(request).read()

        def cpu_seconds():
            fields = open(f"/proc/{agent.pid}/stat").read().split(")")[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        time.sleep(10)
        start_cpu, start = cpu_seconds(), time.time()
        time.sleep(30)
        used, elapsed = cpu_seconds() - start_cpu, time.time() - start
        passing = json.load(urllib.request.urlopen(f"http://{HTTP}/v1/health/state/passing"))
        rss_kb = open(f"/proc/{agent.pid}/status").read().split("VmRSS:")[1].split()[0]
        print(f"agent CPU: {100 * used / elapsed:.1f}% of one core over {elapsed:.0f} s; "
              f"{len(passing)} passing checks in the catalog; RSS {rss_kb} kB")
    finally:
        agent.kill()
        agent.wait()


main()
