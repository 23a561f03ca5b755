#!/usr/bin/env bash
# Escape attempts from inside the cage (process.md §3-§9): one supervisor
# run, default combined mode, whose workload (a python3 script run as the
# sandbox user) tries every way out and reports what happened; the test
# checks the reports, the test hosts' recorders and the supervisor's log.
#   test_cage_escape.sh BIN SRC                                     TAP.
#
#   network   direct TCP to a test host (fast reset + bypass OCSF line),
#             to the host side (10.200.0.1:22, a recorder listens there),
#             to the host's IPv6 link-local address; UDP, DNS and UDP-Lite
#             to the test host and the host side; IPv6 to 2001:db8::1;
#             raw, packet, ping and netlink sockets; route changes over
#             NETLINK_ROUTE.
#   files     /etc, /usr (DAC and Landlock), /var/tmp and /dev/shm (world-
#             writable: only Landlock can refuse), a world-readable file
#             outside the policy; /tmp, the workdir, /etc/hostname allowed.
#   identity  uid/gid, capabilities, NoNewPrivs, seccomp; ptrace, /proc and
#             kill(0) against the supervisor (the workload's parent).
#   proxy     curl through HTTP_PROXY to the allowed host (origin body), a
#             denied host (exact 403 body), CONNECT to a denied host, a
#             binary the policy does not name, the supervisor host's
#             loopback.
#
# Control: once the cage exists, the harness turns on IPv4 forwarding on
# the supervisor's host veth and on the test's own veths (per interface;
# the global switch stays off), and proves with an ICMP echo from the test
# host to 10.200.0.2 that the cage is routable both ways.  So nothing but
# the fence stands between the workload and the test hosts, and a recorder
# that logs nothing is evidence.  Every probe targets a test host, the
# cage's own /24, 127.0.0.1 or 2001:db8::/32 (never routed), by IP.
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_cage.sh"
cg_init e 240
cg_origin_up

POLICY=$(cg_write_policy escape.yaml <<'YAML'
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, /proc, /dev/urandom]
  read_write: [/sandbox, /tmp, /dev/null]
landlock:
  compatibility: best_effort
process:
  run_as_user: sandbox
  run_as_group: sandbox
network_policies:
  origin:
    name: origin
    endpoints:
      - host: "@A@"
        port: 8080
        allowed_ips: ["@A@/32"]
    binaries:
      - path: /usr/bin/curl
  # Granted to a binary that runs only OUTSIDE the cage: /usr/bin/bash is
  # the supervisor's parent (this script), never run by the workload.
  outside:
    name: outside
    endpoints:
      - host: "@A@"
        port: 8081
        allowed_ips: ["@A@/32"]
    binaries:
      - path: /usr/bin/bash
YAML
)

# A workdir outside every policy path (its parent /var/tmp is world-
# writable, so only Landlock keeps the workload inside it), a world-
# readable file outside the policy, and probe paths to clean up.
WD=$(mktemp -d /var/tmp/osh-cage-wd-XXXXXX) || cg_bail "mktemp workdir failed"
cg_track_path "$WD"
chown "$CG_USER:$CG_GID" "$WD"
SECRET=/var/tmp/osh-cage-secret-$$
echo "osh-secret" >"$SECRET" && chmod 644 "$SECRET"
cg_track_path "$SECRET"
PROBE_TAG=$$
for f in /etc/osh-test /usr/osh-test; do
  [ -e "$f" ] && cg_bail "$f exists before the test (left by someone else?)"
  cg_track_path "$f"
done
cg_track_path "/var/tmp/osh-cage-probe-$PROBE_TAG"
cg_track_path "/dev/shm/osh-cage-probe-$PROBE_TAG"

WORKLOAD=$(cg_write_script escape.py <<'PY'
#!/usr/bin/python3
# The escape workload: every probe is bounded; prints "R <key> <value>"
# (one line, newlines escaped) for the harness to judge.
import ctypes, errno, os, signal, socket, struct, subprocess, time
import urllib.error, urllib.request

SYNC, WD, SECRET, TAG = (os.environ[k] for k in ("CG_SYNC", "CG_WD", "CG_SECRET", "CG_PROBE_TAG"))

def R(k, v):
    v = str(v).replace("\\", "\\\\").replace("\n", "\\n")
    print("R %s %s" % (k, v), flush=True)

def en(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__

# ---- handshake: the harness sets up its control and listeners meanwhile
with open(SYNC + "/ready.tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(SYNC + "/ready.tmp", SYNC + "/ready")
end = time.monotonic() + 40
while not os.path.exists(SYNC + "/go"):
    if time.monotonic() > end:
        R("handshake", "timeout")
        break
    time.sleep(0.05)
params = {}
try:
    for line in open(SYNC + "/params"):
        k, _, v = line.strip().partition("=")
        params[k] = v
except OSError as e:
    R("params", en(e))

# ---- identity
R("uid", "%d %d" % (os.getuid(), os.geteuid()))
R("gid", "%d %d" % (os.getgid(), os.getegid()))
R("groups", " ".join(str(g) for g in sorted(os.getgroups())))
for flag in ("-u", "-g"):
    try:
        p = subprocess.run(["/usr/bin/id", flag], capture_output=True, text=True, timeout=10)
        R("id" + flag, p.stdout.strip())
    except Exception as e:
        R("id" + flag, "error " + en(e))
st = {}
for line in open("/proc/self/status"):
    k, _, v = line.partition(":")
    st[k] = v.strip()
for k in ("PPid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
    R("status." + k, st.get(k, "?"))
for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
    R("env." + k, os.environ.get(k, "<unset>"))

# ---- the supervisor (our parent)
ppid = int(st.get("PPid", "0"))
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
ctypes.set_errno(0)
r = libc.ptrace(16, ppid, None, None)  # PTRACE_ATTACH
R("ptrace_attach", "ok" if r == 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
if r == 0:
    libc.ptrace(17, ppid, None, None)  # PTRACE_DETACH
for what in ("environ", "mem", "maps"):
    try:
        with open("/proc/%d/%s" % (ppid, what), "rb") as f:
            f.read(1)
        R("proc_" + what, "read")
    except OSError as e:
        R("proc_" + what, en(e))
try:
    os.kill(ppid, 0)
    R("kill_sup", "ok")
except OSError as e:
    R("kill_sup", en(e))

# ---- files
def write(k, path):
    try:
        with open(path, "w") as f:
            f.write("osh\n")
        R(k, "ok")
    except OSError as e:
        R(k, en(e))

def read(k, path):
    try:
        with open(path) as f:
            R(k, "ok " + f.read().strip())
    except OSError as e:
        R(k, en(e))

R("cwd", os.getcwd())
write("write_etc", "/etc/osh-test")
write("write_usr", "/usr/osh-test")
write("write_vartmp", "/var/tmp/osh-cage-probe-" + TAG)
write("write_shm", "/dev/shm/osh-cage-probe-" + TAG)
write("write_tmp", SYNC + "/tmp-probe")
write("write_wd", WD + "/wd-probe")
write("write_cwd", "cwd-probe")
read("read_hostname", "/etc/hostname")
read("read_secret", SECRET)

# ---- sockets that bypass the IP stack's fence
def mk(k, *args):
    try:
        s = socket.socket(*args)
        s.close()
        R(k, "created")
    except OSError as e:
        R(k, en(e))

mk("sock_raw_icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
mk("sock_raw_tcp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
mk("sock_raw6", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
mk("sock_packet_raw", socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
mk("sock_packet_dgram", socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
mk("sock_inet_packet", socket.AF_INET, 10, socket.htons(3))  # SOCK_PACKET
mk("sock_ping", socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
mk("sock_ping6", socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
for proto, name in ((0, "route"), (4, "sock_diag"), (9, "audit"), (12, "netfilter"),
                    (15, "uevent"), (16, "generic")):
    mk("sock_netlink_" + name, socket.AF_NETLINK, socket.SOCK_RAW, proto)

# NETLINK_ROUTE may be opened (getifaddrs); changing anything must fail.
def rtnl(k, msgtype, flags, body):
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    except OSError as e:
        R(k, "socket " + en(e))
        return
    s.settimeout(2)
    try:
        s.bind((0, 0))
        msg = struct.pack("=IHHII", 16 + len(body), msgtype, 1 | 4 | flags, 1, 0) + body
        s.send(msg)
        data = s.recv(65536)
        typ, = struct.unpack_from("=H", data, 4)
        if typ == 2:  # NLMSG_ERROR
            code, = struct.unpack_from("=i", data, 16)
            R(k, "ack " + ("ok" if code == 0 else errno.errorcode.get(-code, str(code))))
        else:
            R(k, "type %d" % typ)
    except OSError as e:
        R(k, en(e))
    finally:
        s.close()

# RTM_DELROUTE default (table main), RTM_NEWROUTE 10.216.0.0/24 via lo-less
# gateway: both need CAP_NET_ADMIN.
rtm = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 0, 255, 0, 0)
rtnl("rtnl_del_default_route", 25, 0, rtm)
gw = struct.pack("=HH4s", 8, 5, socket.inet_aton("10.200.0.1"))  # RTA_GATEWAY
dst = struct.pack("=HH4s", 8, 1, socket.inet_aton("10.216.0.0"))  # RTA_DST
rtm_new = struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, 254, 4, 0, 1, 0) + dst + gw
rtnl("rtnl_new_route", 24, 0x400 | 0x200, rtm_new)  # NLM_F_CREATE|NLM_F_EXCL

# ---- direct traffic
class Alarm(Exception):
    pass

def _alarm(*a):
    raise Alarm()

signal.signal(signal.SIGALRM, _alarm)

def tcp(k, fam, addr, limit=5):
    """A *blocking* connect (the slow case for ICMP rejects): result + ms."""
    t = time.monotonic()
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError as e:
        R(k, "socket-%s 0" % en(e))
        return
    signal.alarm(limit)
    try:
        s.connect(addr)
        res = "connected"
    except Alarm:
        res = "timeout"
    except OSError as e:
        res = en(e)
    finally:
        signal.alarm(0)
    R(k, "%s %d" % (res, int((time.monotonic() - t) * 1000)))
    s.close()

def dgram(k, fam, proto, addr, payload):
    try:
        s = socket.socket(fam, socket.SOCK_DGRAM, proto)
    except OSError as e:
        R(k, "socket=" + en(e))
        return
    s.settimeout(2)
    res = []
    try:
        s.connect(addr)
        res.append("connect=ok")
    except OSError as e:
        res.append("connect=" + en(e))
    for i in (1, 2):
        try:
            s.send(payload)
            res.append("send%d=ok" % i)
        except OSError as e:
            res.append("send%d=%s" % (i, en(e)))
        time.sleep(0.1)
    try:
        d = s.recv(65536)
        res.append("recv=data:%d" % len(d))
    except socket.timeout:
        res.append("recv=timeout")
    except OSError as e:
        res.append("recv=" + en(e))
    R(k, " ".join(res))
    s.close()

tcp("tcp_proxy_3128", socket.AF_INET, ("10.200.0.1", 3128))  # the one way out
tcp("tcp_a_8080", socket.AF_INET, ("10.216.0.2", 8080))
tcp("tcp_b_8443", socket.AF_INET, ("10.217.0.2", 8443))
tcp("tcp_host_22", socket.AF_INET, ("10.200.0.1", 22))
tcp("tcp6_doc_80", socket.AF_INET6, ("2001:db8::1", 80))
try:
    tcp("tcp6_ll_host_2223", socket.AF_INET6,
        (params["ll"], 2223, 0, socket.if_nametoindex(params["ifname"])))
except (KeyError, OSError) as e:
    R("tcp6_ll_host_2223", "setup-" + en(e) + " 0")

query = struct.pack("!HHHHHH", 0x4f53, 0x0100, 1, 0, 0, 0)
for label in (b"osh-cage-test", b"example"):
    query += bytes([len(label)]) + label
query += b"\0" + struct.pack("!HH", 1, 1)
dgram("udp_a_9999", socket.AF_INET, 17, ("10.216.0.2", 9999), b"osh-escape-udp")
dgram("dns_a_53", socket.AF_INET, 17, ("10.216.0.2", 53), query)
dgram("udplite_a_9997", socket.AF_INET, 136, ("10.216.0.2", 9997), b"osh-escape-udplite")
dgram("udplite_host_9998", socket.AF_INET, 136, ("10.200.0.1", 9998), b"osh-escape-udplite")
dgram("udp6_doc_53", socket.AF_INET6, 17, ("2001:db8::1", 53), query)

# ---- through the proxy
def curl(k, args):
    try:
        p = subprocess.run(["/usr/bin/curl", "-sS", "--max-time", "10", "-w", "\n@@%{http_code}"] + args,
                           capture_output=True, text=True, timeout=20)
        body, _, code = p.stdout.rpartition("\n@@")
        R(k + ".rc", p.returncode)
        R(k + ".code", code)
        R(k + ".body", body)
        R(k + ".stderr", p.stderr.strip())
    except Exception as e:
        R(k + ".rc", "error " + en(e))

curl("curl_a", ["http://10.216.0.2:8080/"])
curl("curl_b", ["http://10.217.0.2:8080/"])
curl("curl_connect_b", ["https://10.217.0.2:8443/"])
curl("curl_loop", ["-x", "http://10.200.0.1:3128", "--noproxy", "",
                   "http://127.0.0.1:%s/" % params.get("loopport", "1")])
try:
    r = urllib.request.urlopen("http://10.216.0.2:8080/", timeout=10)
    R("py_a", "%d %s" % (r.status, r.read()))
except urllib.error.HTTPError as e:
    R("py_a", "%d" % e.code)
except Exception as e:
    R("py_a", "error " + en(e))
# The entrypoint itself (python3, no bash anywhere inside the cage) asks
# for the endpoint granted only to /usr/bin/bash.
try:
    r = urllib.request.urlopen("http://10.216.0.2:8081/", timeout=10)
    R("py_a_8081", "%d %s" % (r.status, r.read()))
except urllib.error.HTTPError as e:
    R("py_a_8081", "%d" % e.code)
except Exception as e:
    R("py_a_8081", "error " + en(e))
R("done", "yes")
PY
)

export CG_SYNC CG_WD=$WD CG_SECRET=$SECRET CG_PROBE_TAG=$PROBE_TAG
cg_start escape --policy-data "$POLICY" --log-level info -w "$WD" -- "$CG_PY" "$WORKLOAD"
SUP=$CG_SUP_PID

# ---- handshake: cage up -> control + listeners -> go
for i in $(seq 400); do
  [ -e "$CG_SYNC/ready" ] && break
  kill -0 "$SUP" 2>/dev/null || break
  sleep 0.05
done
[ -e "$CG_SYNC/ready" ] || cg_bail "the workload did not start" "$(tail -30 "$CG_ERR")"
cg_wait_log 'workload started: pid [0-9]+ in osh-[0-9a-f]{8}' 5 ||
  cg_bail "no 'workload started' line in the supervisor log" "$(tail -30 "$CG_ERR")"
NS=$(cg_cage_of_log "$CG_ERR")
ID=${NS#osh-}
cg_note_cage "$NS"
WPID=$(cat "$CG_SYNC/ready")
ok "cage $NS is up, workload pid $WPID"

for dev in "veth-h-$ID" "$CG_VA" "$CG_VB"; do
  echo 1 >"/proc/sys/net/ipv4/conf/$dev/forwarding" || cg_bail "cannot enable forwarding on $dev"
done
expect_eq "control: the test host reaches the cage (ICMP echo 10.216.0.2 -> 10.200.0.2, forwarded both ways)" \
  reply "$(nsenter --net="/run/netns/$CG_NSO" timeout 10 "$CG_PY" "$CG_TMP/cg_ping.py" "$CG_SANDBOX_IP" 2>&1)"

# IPv6 link-local on both ends of the cage's veth (DAD done).
LL=""
for i in $(seq 100); do
  h=$(ip -6 -o addr show dev "veth-h-$ID" scope link 2>/dev/null)
  s=$(ip -n "$NS" -6 -o addr show dev "veth-s-$ID" scope link 2>/dev/null)
  case "$h$s" in *tentative*) ;; *)
    if [ -n "$h" ] && [ -n "$s" ]; then
      LL=$(printf '%s\n' "$h" | grep -oE 'fe80::[0-9a-f:]+' | head -1)
      break
    fi
    ;;
  esac
  sleep 0.05
done
[ -n "$LL" ] && ok "host veth has an IPv6 link-local address ($LL)" ||
  not_ok "host veth has an IPv6 link-local address" "host: $h | sandbox: $s"

LOOPPORT=$("$CG_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
specs=("tcp:$CG_HOST_IP:22" "udplite:$CG_HOST_IP:9998" "udp:$CG_HOST_IP:9996" "tcp:127.0.0.1:$LOOPPORT")
[ -n "$LL" ] && specs+=("tcp:[$LL%veth-h-$ID]:2223")
cg_listen_start host - "${specs[@]}"
HOST_LOG=$CG_LISTEN_LOG
printf 'll=%s\nifname=veth-s-%s\nloopport=%s\n' "$LL" "$ID" "$LOOPPORT" >"$CG_SYNC/params"
chmod 644 "$CG_SYNC/params"
ORIGIN_LINES_BEFORE=$(wc -l <"$CG_ORIGIN_LOG")
touch "$CG_SYNC/go"

cg_wait 120
OUT=$CG_OUT
ERR=$CG_ERR
r() { sed -n "s/^R $1 //p" "$OUT" | head -1; }
first() { printf '%s' "${1%% *}"; }
ms() { printf '%s' "${1##* }"; }

expect_eq "supervisor exits 0 (the workload's code)" 0 "$CG_RC"
expect_eq "the workload ran every probe" yes "$(r "done")"
expect_eq "no handshake timeout" "" "$(r handshake)"
cg_expect_no_sanitizer "no sanitizer report in the supervisor log"
cg_expect_clean "namespace $NS and veth-h-$ID are gone after the run"

# ---- identity
expect_eq "uid (real, effective) is the sandbox user's" "$CG_UID $CG_UID" "$(r uid)"
expect_eq "gid (real, effective) is the sandbox group's" "$CG_GID $CG_GID" "$(r gid)"
expect_eq "id -u is the sandbox user's" "$CG_UID" "$(r id-u)"
expect_eq "id -g is the sandbox group's" "$CG_GID" "$(r id-g)"
expect_not_contains "no supplementary group 0" " 0 " " $(r groups) "
for k in CapInh CapPrm CapEff CapBnd CapAmb; do
  expect_eq "/proc/self/status $k is 0" 0000000000000000 "$(r "status.$k")"
done
expect_eq "/proc/self/status NoNewPrivs 1" 1 "$(r status.NoNewPrivs)"
expect_eq "/proc/self/status Seccomp 2 (filter)" 2 "$(r status.Seccomp)"
for k in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY; do
  expect_eq "$k points at the proxy" "$CG_PROXY_URL" "$(r "env.$k")"
done

# ---- the supervisor is out of reach
expect_eq "the workload's parent is the supervisor" "$SUP" "$(r status.PPid)"
expect_match "ptrace(PTRACE_ATTACH, supervisor) fails" '^E(PERM|ACCES)$' "$(r ptrace_attach)"
for what in environ mem maps; do
  expect_match "/proc/<supervisor>/$what cannot be read" '^E(PERM|ACCES)$' "$(r "proc_$what")"
done
expect_eq "kill(supervisor, 0) is refused" EPERM "$(r kill_sup)"

# ---- files
expect_match "write /etc/osh-test fails" '^E(ACCES|PERM|ROFS)$' "$(r write_etc)"
expect_match "write /usr/osh-test fails" '^E(ACCES|PERM|ROFS)$' "$(r write_usr)"
expect_eq "write /var/tmp (world-writable, outside the policy) fails: Landlock" EACCES "$(r write_vartmp)"
expect_eq "write /dev/shm (world-writable, outside the policy) fails: Landlock" EACCES "$(r write_shm)"
expect_eq "read of a world-readable file outside the policy fails: Landlock" EACCES "$(r read_secret)"
expect_eq "write /tmp succeeds" ok "$(r write_tmp)"
expect_eq "cwd is the workdir" "$WD" "$(r cwd)"
expect_eq "write into the workdir succeeds" ok "$(r write_wd)"
expect_eq "write via a relative path (cwd = workdir) succeeds" ok "$(r write_cwd)"
expect_eq "read /etc/hostname succeeds" "ok $(tr -d '\n' </etc/hostname)" "$(r read_hostname)"
for f in /etc/osh-test /usr/osh-test "/var/tmp/osh-cage-probe-$PROBE_TAG" "/dev/shm/osh-cage-probe-$PROBE_TAG"; do
  [ -e "$f" ] && not_ok "$f was not created" || ok "$f was not created"
done
expect_eq "the workdir file exists on the host" osh "$(cat "$WD/wd-probe" 2>&1)"

# ---- sockets
for k in sock_raw_icmp sock_raw_tcp sock_raw6 sock_packet_raw sock_packet_dgram sock_inet_packet; do
  expect_match "$k cannot be created" '^E(PERM|ACCES)$' "$(r "$k")"
done
for k in sock_ping sock_ping6; do
  expect_match "$k (ICMP echo socket) cannot be created" '^E(PERM|ACCES)$' "$(r "$k")"
done
for k in sock_diag audit netfilter uevent generic; do
  expect_match "AF_NETLINK socket ($k) cannot be created" '^E(PERM|ACCES)$' "$(r "sock_netlink_$k")"
done
# NETLINK_ROUTE (protocol 0) stays creatable by design (process.md §7:
# "socket family == AF_NETLINK && protocol != 0" is what is denied; glibc's
# getifaddrs needs it) - but it must not change anything.
echo "# AF_NETLINK NETLINK_ROUTE socket: $(r sock_netlink_route) (allowed by design: read-only without CAP_NET_ADMIN)"
expect_match "NETLINK_ROUTE: deleting the default route is refused" '^(ack EPERM|socket E(PERM|ACCES))$' \
  "$(r rtnl_del_default_route)"
expect_match "NETLINK_ROUTE: adding a route is refused" '^(ack EPERM|socket E(PERM|ACCES))$' "$(r rtnl_new_route)"

# ---- direct traffic
v=$(r tcp_proxy_3128)
expect_eq "control: TCP to the proxy 10.200.0.1:3128 connects" connected "$(first "$v")"
v=$(r tcp_a_8080)
expect_eq "direct TCP to $CG_A:8080 is refused" ECONNREFUSED "$(first "$v")"
expect_lt "... fast (blocking connect, TCP reset): < 1000 ms" 1000 "$(ms "$v")"
v=$(r tcp_b_8443)
expect_eq "direct TCP to $CG_B:8443 is refused" ECONNREFUSED "$(first "$v")"
v=$(r tcp_host_22)
expect_match "direct TCP to the host side 10.200.0.1:22 fails" '^E[A-Z]+$' "$(first "$v")"
expect_lt "... fast: < 1000 ms" 1000 "$(ms "$v")"
v=$(r tcp6_doc_80)
expect_match "IPv6 TCP to [2001:db8::1]:80 fails" '^E[A-Z]+$' "$(first "$v")"
expect_lt "... fast: < 1000 ms" 1000 "$(ms "$v")"
v=$(r tcp6_ll_host_2223)
expect_match "IPv6 TCP to the host's link-local [fe80::]:2223 fails" '^E[A-Z]+$' "$(first "$v")"
expect_lt "... fast: < 1000 ms" 1000 "$(ms "$v")"
for k in udp_a_9999 dns_a_53 udplite_a_9997 udplite_host_9998 udp6_doc_53; do
  v=$(r $k)
  expect_match "$k: no answer (send fails or nothing comes back)" '(send1=E|recv=(timeout|E))' "$v"
  expect_not_contains "$k: never answered" "recv=data" "$v"
done

# ---- the recorders saw no direct traffic
ORIGIN_NEW=$(tail -n +$((ORIGIN_LINES_BEFORE + 1)) "$CG_ORIGIN_LOG")
expect_eq "origin: nothing arrived from the cage's address" "" "$(printf '%s\n' "$ORIGIN_NEW" | grep -F " $CG_SANDBOX_IP ")"
expect_eq "origin: no TCP connection on :8443 (direct or tunneled)" "" "$(printf '%s\n' "$ORIGIN_NEW" | grep '^TCP ')"
expect_eq "origin: the UDP listener on :9999 recorded nothing" "" "$(printf '%s\n' "$ORIGIN_NEW" | grep -E '^UDP .*:9999 ')"
expect_eq "origin: the DNS listener on :53 recorded nothing" "" "$(printf '%s\n' "$ORIGIN_NEW" | grep -E '^UDP .*:53 ')"
expect_eq "origin: the UDP-Lite listener recorded nothing" "" "$(printf '%s\n' "$ORIGIN_NEW" | grep '^UDPLITE ')"
expect_eq "origin: nothing reached $CG_B (the denied host)" "" "$(printf '%s\n' "$ORIGIN_NEW" | grep -F " $CG_B:")"
expect_eq "origin: exactly one request, the allowed curl, via the proxy" \
  "HTTP $CG_SUBNET_A.1 $CG_A:8080 GET /" "$ORIGIN_NEW"
expect_eq "host side: the 10.200.0.1 / link-local / loopback recorders saw nothing" "" "$(cat "$HOST_LOG")"

# ---- the proxy
expect_eq "curl via HTTP_PROXY to the allowed origin: exit 0" 0 "$(r curl_a.rc)"
expect_eq "... HTTP 200" 200 "$(r curl_a.code)"
expect_eq "... the origin's body" "osh-cage-origin $CG_A\\n" "$(r curl_a.body)"
expect_eq "curl via HTTP_PROXY to a denied host: HTTP 403" 403 "$(r curl_b.code)"
expect_eq "... the policy_denied body" \
  '{"detail":"GET 10.217.0.2:8080/ not permitted by policy","error":"policy_denied"}' "$(r curl_b.body)"
expect_contains "CONNECT via HTTPS_PROXY to a denied host fails with 403" \
  "CONNECT tunnel failed, response 403" "$(r curl_connect_b.stderr)"
expect_eq "... curl exit 56" 56 "$(r curl_connect_b.rc)"
expect_eq "proxy request to the supervisor host's loopback 127.0.0.1: 403" 403 "$(r curl_loop.code)"
expect_eq "python3 (not a policy binary) via the proxy to the allowed origin: 403" 403 "$(r py_a)"
# network.md §2.4 item 3 walks the ancestors of a socket owned by the
# entrypoint past the entrypoint: the supervisor and ITS parents (outside
# the cage) then count as ancestors, and an ancestor match grants.
expect_eq "the workload gets no grant from processes outside the cage (endpoint for /usr/bin/bash, the supervisor's parent): 403" \
  403 "$(r py_a_8081)"

# ---- the supervisor's log
LOG=$(cat "$ERR")
bypass_line() { # DST:PORT/PROTO
  printf '%s\n' "$LOG" | grep -F "OCSF NET:REFUSE [MED] DENIED" | grep -F -- "-> $1 [policy:bypass-detect engine:nftables]"
}
for t in "$CG_A:8080/tcp" "$CG_HOST_IP:22/tcp" "$CG_A:9999/udp" "$CG_A:53/udp"; do
  [ -n "$(bypass_line "$t")" ] && ok "bypass OCSF line for $t" ||
    not_ok "bypass OCSF line for $t" "$(printf '%s\n' "$LOG" | grep OCSF)"
done
# The kernel logs IPv6 addresses uncompressed (fe80:0000:...).
[ -n "$LL" ] && { printf '%s\n' "$LOG" | grep -F "OCSF NET:REFUSE [MED] DENIED" | grep -qE -- "-> \[?fe80:[0-9a-f:]+\]?:2223/tcp" &&
  ok "bypass OCSF line for the IPv6 link-local attempt" ||
  not_ok "bypass OCSF line for the IPv6 link-local attempt" "$(printf '%s\n' "$LOG" | grep OCSF)"; }
expect_match "bypass FINDING line" 'OCSF FINDING:[A-Z]+ \[MED\] "Proxy Bypass Detected"' "$LOG"
# A forward-proxy (plain HTTP) denial is an HTTP activity (network.md
# §1.6 step 4), a CONNECT denial a network one (§1.5 step 4).
expect_match "forward denial of $CG_B:8080 logged (OCSF HTTP:GET DENIED)" \
  "OCSF HTTP:GET \[MED\] DENIED /usr/bin/curl\([0-9]+\) -> GET http://$CG_B:8080/ " "$LOG"
expect_match "CONNECT denial of $CG_B:8443 logged (OCSF NET:OPEN DENIED)" \
  "OCSF NET:OPEN \[MED\] DENIED .*$CG_B:8443" "$LOG"

if [ "$CG_FAILS" -ne 0 ]; then
  echo "# workload report:"
  sed 's/^/#   /' "$OUT"
  echo "# supervisor stderr (tail):"
  tail -40 "$ERR" | sed 's/^/#   /'
fi
cg_done
