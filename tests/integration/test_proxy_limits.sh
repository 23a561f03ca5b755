#!/usr/bin/env bash
# Load and resource limits of the egress proxy: 1,000 concurrent CONNECT
# tunnels, the request-head deadline (--header-timeout-ms), the connection
# cap (--max-conns), and recovery from fd exhaustion (EMFILE on accept,
# network.md §1.3 [LATER] behaviour).  Origin in a network namespace at
# 10.215.0.0/24.  Every loop is bounded in count and time.  TAP.
#   test_proxy_limits.sh BIN SRC
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init l 10.215.0 170
px_require prlimit
px_net_up
px_origin_start
O=$PX_ORIGIN
T=$PX_TMP

POLICY=$(px_write_policy limits.yaml <<'YAML'
version: 1
network_policies:
  origin:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8080, 9000]
        allowed_ips: ["@ORIGIN@/32"]
    binaries:
      - path: /**
YAML
)

# ---- 1,000 tunnels held open at once -------------------------------------
cat >"$T/many.py" <<'PY'
# Opens N tunnels to the echo origin, one echo each; when all N are open,
# a second echo on every one of them (all alive at once), then closes all.
import asyncio, os, sys, time
port, origin, n, proxy_pid = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])
EST = b"HTTP/1.1 200 Connection Established\r\n\r\n"
LIMIT = 60.0

def res(name, cond, detail=""):
    print(("PASS %s" % name) if cond else ("FAIL %s :: %s" % (name, detail)), flush=True)

async def main():
    t0 = time.monotonic()
    all_open = asyncio.Event()
    opened = 0
    errors = []
    peak = {"fds": 0}
    gate = asyncio.Semaphore(200)  # handshakes in flight, not tunnels open

    async def one(i):
        nonlocal opened
        try:
            async with gate:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n" % (origin, origin))
                await w.drain()
                est = await r.readexactly(len(EST))
                if est != EST:
                    raise RuntimeError("bad CONNECT answer %r" % est)
                msg = b"tunnel-%05d-first\n" % i
                w.write(msg)
                await w.drain()
                if await r.readexactly(len(msg)) != msg:
                    raise RuntimeError("bad first echo")
            opened += 1
            if opened == n:
                all_open.set()
            await all_open.wait()
            msg = b"tunnel-%05d-second\n" % i
            w.write(msg)
            await w.drain()
            if await r.readexactly(len(msg)) != msg:
                raise RuntimeError("bad second echo")
            return w
        except Exception as e:
            errors.append("%d: %r" % (i, e))
            if not all_open.is_set() and opened + len(errors) >= n:
                all_open.set()
            return None

    async def watch_peak():
        await all_open.wait()
        try:
            peak["fds"] = len(os.listdir("/proc/%d/fd" % proxy_pid))
        except OSError:
            pass

    try:
        ws = await asyncio.wait_for(asyncio.gather(watch_peak(), *(one(i) for i in range(n))), LIMIT)
    except asyncio.TimeoutError:
        res("%d concurrent tunnels within %ds" % (n, LIMIT), False,
            "timed out: %d opened, %d errors %r" % (opened, len(errors), errors[:3]))
        return
    elapsed = time.monotonic() - t0
    good = [w for w in ws[1:] if w is not None]
    res("%d tunnels open at once, each echoed twice (%.1fs)" % (n, elapsed),
        len(good) == n and not errors, "%d ok, %d errors: %r" % (len(good), len(errors), errors[:5]))
    # Each tunnel holds two sockets in the proxy: with all open, it holds
    # at least 2n descriptors.
    res("proxy held >= %d descriptors at the peak (%d)" % (2 * n, peak["fds"]), peak["fds"] >= 2 * n,
        "peak fds %d" % peak["fds"])
    for w in good:
        w.close()
    await asyncio.sleep(0.5)

asyncio.run(main())
PY

px_proxy_start "$POLICY" --workers 2
px_py_checks "1000 tunnels" "$T/many.py" "$PX_PORT" "$O" 1000 "$PX_PID"
# After they are all closed the proxy lets go of them: what may stay is its
# baseline (< 64) plus each worker's cache of spare splice pipes (at most
# 64 pipes = 128 fds per worker, proxy_int.h), nowhere near 2 x 1000.
max_fds=$((64 + 2 * 128))
open_fds=-1
for i in $(seq 50); do
  open_fds=$(ls "/proc/$PX_PID/fd" 2>/dev/null | wc -l)
  [ "$open_fds" -le "$max_fds" ] && break
  sleep 0.1
done
if [ "$open_fds" -ge 0 ] && [ "$open_fds" -le "$max_fds" ]; then
  ok "descriptors released after the 1000 tunnels closed ($open_fds open, <= $max_fds)"
else
  not_ok "descriptors released after the 1000 tunnels closed" "$open_fds fds still open (> $max_fds)"
fi
px_proxy_alive "proxy alive after 1000 tunnels"
px_in curl -sS -x "$PX_URL" --max-time 10 "http://$O:8080/after-load" -o /dev/null -w '%{http_code}' >"$T/after" 2>/dev/null
expect_eq "a request after the load is served" 200 "$(cat "$T/after")"
px_proxy_stop

# ---- the request-head deadline -------------------------------------------
cat >"$T/header_timeout.py" <<'PY'
# A: partial head, then silence.  C: a head trickled one byte every 100 ms
# (a deadline that reads extend would never fire).  B: a full CONNECT sent
# meanwhile must be served at once and keep its tunnel past the deadline.
import socket, sys, threading, time
port, origin, timeout_ms = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
EST = b"HTTP/1.1 200 Connection Established\r\n\r\n"

def res(name, cond, detail=""):
    print(("PASS %s" % name) if cond else ("FAIL %s :: %s" % (name, detail)), flush=True)

def wait_close(s, t0, out, key):
    got = b""
    s.settimeout(10)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except socket.timeout:
        out[key] = ("TIMEOUT", time.monotonic() - t0, got)
        return
    except ConnectionResetError:
        pass
    out[key] = ("CLOSED", time.monotonic() - t0, got)

out = {}
t0 = time.monotonic()
a = socket.create_connection(("127.0.0.1", port), 5)
a.sendall(b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s" % (origin, origin))
ta = threading.Thread(target=wait_close, args=(a, t0, out, "a"))
ta.start()

c = socket.create_connection(("127.0.0.1", port), 5)
tc = threading.Thread(target=wait_close, args=(c, t0, out, "c"))
tc.start()
def trickle():
    head = b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\nX-Slow: %s\r\n\r\n" % (origin, origin, b"s" * 200)
    try:
        for ch in head[:-4]:
            c.send(bytes([ch]))
            time.sleep(0.1)
            if "c" in out:
                return
    except OSError:
        pass
threading.Thread(target=trickle, daemon=True).start()

time.sleep(0.15)
b = socket.create_connection(("127.0.0.1", port), 5)
b.settimeout(5)
b.sendall(b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n" % (origin, origin))
est = b""
try:
    while len(est) < len(EST):
        d = b.recv(len(EST) - len(est))
        if not d:
            break
        est += d
    b.sendall(b"served-while-a-waits")
    echo1 = b.recv(100)
except OSError as e:
    echo1 = repr(e).encode()
tb = time.monotonic() - t0
res("a full request is served while a partial head is pending (%.2fs)" % tb,
    est == EST and echo1 == b"served-while-a-waits" and "a" not in out, "est=%r echo=%r a=%r" % (est, echo1, out.get("a")))

ta.join(12)
tc.join(12)
lo, hi = timeout_ms / 1000 * 0.8, timeout_ms / 1000 + 1.5
st, ea, got = out.get("a", ("?", -1, b""))
res("partial head is cut after --header-timeout-ms (%.2fs, expected %.1f..%.1fs)" % (ea, lo, hi),
    st == "CLOSED" and lo <= ea <= hi, "status=%s elapsed=%.2f" % (st, ea))
res("the cut connection gets no bytes", got == b"", repr(got[:100]))
st, ec, got = out.get("c", ("?", -1, b""))
res("a trickled head is cut at the same deadline (%.2fs)" % ec,
    st == "CLOSED" and lo <= ec <= hi and got == b"", "status=%s elapsed=%.2f got=%r" % (st, ec, got[:80]))

# B's tunnel outlives the head deadline.
time.sleep(max(0, timeout_ms / 1000 * 2 - (time.monotonic() - t0)))
try:
    b.sendall(b"still-open")
    echo2 = b.recv(100)
except OSError as e:
    echo2 = repr(e).encode()
res("an established tunnel is not subject to the head deadline", echo2 == b"still-open", repr(echo2))
b.close()
PY
px_proxy_start "$POLICY" --header-timeout-ms 500
px_py_checks "header timeout" "$T/header_timeout.py" "$PX_PORT" "$O" 500
px_proxy_alive "proxy alive after the header-timeout checks"
px_proxy_stop

# ---- --max-conns ------------------------------------------------------------
cat >"$T/max_conns.py" <<'PY'
import json, socket, sys, time
port, origin, n = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
EST = b"HTTP/1.1 200 Connection Established\r\n\r\n"
BODY = b'{"detail":"proxy connection limit reached","error":"too_many_connections"}'
WANT = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(BODY), BODY))

def res(name, cond, detail=""):
    print(("PASS %s" % name) if cond else ("FAIL %s :: %s" % (name, detail)), flush=True)

def read_all(s, limit=5):
    s.settimeout(limit)
    got = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return got, "EOF"
            got += d
    except socket.timeout:
        return got, "TIMEOUT"
    except ConnectionResetError:
        return got, "RESET"

def tunnel_echo(s, msg):
    s.settimeout(5)
    s.sendall(b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n" % (origin, origin))
    est = b""
    while len(est) < len(EST):
        d = s.recv(len(EST) - len(est))
        if not d:
            return est
        est += d
    s.sendall(msg)
    return est + s.recv(100)

held = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(n)]
time.sleep(0.5)  # accepted by now
extra = socket.create_connection(("127.0.0.1", port), 5)
got, how = read_all(extra)
extra.close()
res("connection %d (over --max-conns %d) gets the 503 too_many_connections answer" % (n + 1, n),
    got == WANT, "got %r (%s)" % (got, how))
res("the refused connection is closed", how in ("EOF", "RESET"), how)
# The held connections were not harmed: one of them still works.
try:
    r = tunnel_echo(held[0], b"held-one")
except OSError as e:
    r = repr(e).encode()
res("a connection held at the limit still works", r == EST + b"held-one", repr(r))
for s in held[:2]:
    s.close()
time.sleep(0.5)
ok = 0
for i in range(2):
    s = socket.create_connection(("127.0.0.1", port), 5)
    try:
        if tunnel_echo(s, b"new-%d" % i) == EST + b"new-%d" % i:
            ok += 1
    except OSError:
        pass
    held.append(s)
res("after closing 2, two new connections are accepted and served", ok == 2, "%d of 2" % ok)
s = socket.create_connection(("127.0.0.1", port), 5)
got, how = read_all(s)
s.close()
res("back at the limit, the next one is refused again", got.startswith(b"HTTP/1.1 503 "), "got %r (%s)" % (got[:60], how))
for s in held:
    s.close()
PY
px_proxy_start "$POLICY" --max-conns 4 --header-timeout-ms 60000
px_py_checks "max conns" "$T/max_conns.py" "$PX_PORT" "$O" 4
px_proxy_alive "proxy alive after the max-conns checks"
px_proxy_stop

# ---- fd exhaustion: EMFILE on accept, backoff, recovery -----------------------
cat >"$T/emfile.py" <<'PY'
import os, re, socket, sys, time
port, origin, pid, log = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
EST = b"HTTP/1.1 200 Connection Established\r\n\r\n"

def res(name, cond, detail=""):
    print(("PASS %s" % name) if cond else ("FAIL %s :: %s" % (name, detail)), flush=True)

def tunnel_echo(msg, timeout=3):
    s = socket.create_connection(("127.0.0.1", port), 3)
    s.settimeout(timeout)
    try:
        s.sendall(b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n" % (origin, origin))
        got = b""
        while len(got) < len(EST):
            d = s.recv(len(EST) - len(got))
            if not d:
                break
            got += d
        if got != EST:
            return got
        s.sendall(msg)
        return got + s.recv(100)
    finally:
        s.close()

def log_has(pat):
    try:
        return re.search(pat, open(log, errors="replace").read()) is not None
    except OSError:
        return False

base = len(os.listdir("/proc/%d/fd" % pid))
res("baseline: a tunnel works under RLIMIT_NOFILE=64 (%d fds in use)" % base,
    tunnel_echo(b"before") == EST + b"before")
# Idle connections until accept() runs out of descriptors (bounded).
idle = []
deadline = time.monotonic() + 20
while time.monotonic() < deadline and len(idle) < 200:
    idle.append(socket.create_connection(("127.0.0.1", port), 3))
    if len(idle) >= 64 - base + 8 and log_has(r"accept: Too many open files; backing off"):
        break
    time.sleep(0.01)
saw = log_has(r"accept: Too many open files; backing off \d+ ms")
res("accept hit EMFILE and the log shows the backoff (%d idle connections)" % len(idle), saw)
time.sleep(1.5)  # a few backoff rounds while exhausted
for s in idle:
    s.close()
t0 = time.monotonic()
ok, tries, last = False, 0, b""
while time.monotonic() - t0 < 15 and tries < 100:
    tries += 1
    try:
        last = tunnel_echo(b"after", timeout=2)
        if last == EST + b"after":
            ok = True
            break
    except OSError as e:
        last = repr(e).encode()
    time.sleep(0.2)
res("after the idle connections close, a new request succeeds by itself (%.1fs, %d tries)" % (time.monotonic() - t0, tries),
    ok, "last: %r" % last[:100])
res("recovery took under 10s", ok and time.monotonic() - t0 < 10.0, "%.1fs" % (time.monotonic() - t0))
good = sum(1 for i in range(10) if tunnel_echo(b"again-%d" % i) == EST + b"again-%d" % i)
res("and keeps accepting (10 more tunnels)", good == 10, "%d of 10" % good)
PY
PX_WRAP=(prlimit --nofile=64:64)
px_proxy_start "$POLICY" --workers 1 --header-timeout-ms 60000
PX_WRAP=()
lim=$(awk '/Max open files/ {print $4 " " $5}' "/proc/$PX_PID/limits")
expect_eq "the proxy runs with RLIMIT_NOFILE 64:64" "64 64" "$lim"
px_py_checks "emfile" "$T/emfile.py" "$PX_PORT" "$O" "$PX_PID" "$PX_LOG"
px_proxy_alive "proxy alive after fd exhaustion"
px_proxy_stop 15
px_done
