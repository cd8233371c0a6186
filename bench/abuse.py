#!/usr/bin/env python3
"""bench/abuse.py PORT PID CA_FILE SECONDS -- hostile clients against a TLS + basic auth exporter.

Run by bench/load.sh. Two phases, measured from outside the process:

1. guessing: after one scrape with the right password (as a scraper that was running before the
   attack), 50 threads send GET /metrics with wrong passwords over TLS, one new connection per
   guess, for SECONDS, while one scraper sends the right password once a second and a probe
   asks /-/healthy twice a second. Prints the guesses answered, the scraper's and the probe's
   failures and their slowest answers.
2. non-readers: 100 connections send GET /metrics with the right password and never read;
   VmRSS of the exporter (from /proc/PID/status) is sampled every 0.5 s for 15 s, then the
   sockets are closed. Prints RSS before, at peak and at the end.

Only 127.0.0.1. The password and its bcrypt hash (cost 10) are in bench/load.sh.
"""

import base64
import json
import socket
import ssl
import sys
import threading
import time

PORT, PID, CA_FILE, SECONDS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
PASSWORD = "bench-password"


def context():
    ctx = ssl.create_default_context(cafile=CA_FILE)
    ctx.check_hostname = False
    return ctx


CTX = context()


def request(path, password=None, timeout=15.0, size=None):
    """Status code of one request over a new TLS connection, or the error's name; the length
    of the whole answer goes into `size` (a list) when given."""
    headers = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if password is not None:
        token = base64.b64encode(f"prometheus:{password}".encode()).decode()
        headers += f"Authorization: Basic {token}\r\n"
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as raw:
            with CTX.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall((headers + "\r\n").encode())
                data = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        if size is not None:
            size.append(len(data))
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else "empty"
    except Exception as error:  # noqa: BLE001 - every failure counts as one
        return type(error).__name__


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def guessing():
    stop = time.monotonic() + SECONDS
    guesses, statuses = [0], {}
    lock = threading.Lock()

    def attacker(n):
        i = 0
        while time.monotonic() < stop:
            i += 1
            answer = request("/metrics", f"wrong-{n}-{i}")
            with lock:
                guesses[0] += 1
                statuses[answer] = statuses.get(answer, 0) + 1

    def timed(path, password, interval, results):
        while time.monotonic() < stop:
            started = time.monotonic()
            answer = request(path, password)
            results.append((answer, time.monotonic() - started))
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    scrapes, probes = [], []
    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(50)]
    threads.append(threading.Thread(target=timed, args=("/metrics", PASSWORD, 1.0, scrapes)))
    threads.append(threading.Thread(target=timed, args=("/-/healthy", None, 0.5, probes)))
    rss_before = rss_kib()
    # The scraper was already scraping when the guessing began: its credentials are cached.
    warm = request("/metrics", PASSWORD)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def summary(results):
        failed = [answer for answer, _ in results if answer != 200]
        slowest = max((seconds for _, seconds in results), default=0.0)
        return {"total": len(results), "failed": len(failed), "failures": failed[:5], "slowest_s": round(slowest, 3)}

    return {
        "seconds": SECONDS,
        "scraper_before_the_attack": warm,
        "guesses": guesses[0],
        "guesses_per_s": round(guesses[0] / SECONDS, 1),
        "guess_answers": {str(key): value for key, value in statuses.items()},
        "scraper": summary(scrapes),
        "healthy_probe": summary(probes),
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_kib(),
    }


def non_readers():
    token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    request_bytes = f"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {token}\r\n\r\n".encode()
    size = []
    request("/metrics", PASSWORD, size=size)
    before = rss_kib()
    sockets = []
    for _ in range(100):
        raw = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        # A small receive buffer, as a client that does not read soon has.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        tls = CTX.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(request_bytes)
        sockets.append(tls)
    samples = []
    for _ in range(30):
        time.sleep(0.5)
        samples.append(rss_kib())
    probe = request("/-/healthy")
    for tls in sockets:
        try:
            tls.close()
        except OSError:
            pass
    time.sleep(1)
    return {
        "clients": 100,
        "answer_bytes": size[0] if size else 0,
        "rss_kib_before": before,
        "rss_kib_peak": max(samples),
        "rss_kib_end_while_held": samples[-1],
        "rss_kib_after_close": rss_kib(),
        "healthy_while_held": probe,
    }


if __name__ == "__main__":
    result = {"guessing": guessing(), "non_readers": non_readers()}
    print(json.dumps(result, indent=2))
