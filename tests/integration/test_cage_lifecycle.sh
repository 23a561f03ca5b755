#!/usr/bin/env bash
# The cage's lifecycle (process.md §1.8, §3.4, §10): the supervisor's exit
# code is the workload's (128+N on a signal, 124 on -t), SIGTERM/SIGINT/
# SIGHUP reach the workload, a bad policy stops everything before a
# namespace exists, the bundled policy works - and after every run the
# namespace (ip netns list, /run/netns), its veth-h-<id> and the workload's
# processes are gone.  Every run is checked for sanitizer reports.
#   test_cage_lifecycle.sh BIN SRC                                  TAP.
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_cage.sh"
cg_init l 270
unset OPENSHELL_POLICY_DATA OPENSHELL_LOG_LEVEL

POLICY=$(cg_write_policy life.yaml <<'YAML'
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
network_policies: {}
YAML
)
export CG_SYNC

# The workload's pid, from the supervisor's log.
wl_pid() { grep -oE 'workload started: pid [0-9]+' "$CG_ERR" | head -1 | grep -oE '[0-9]+$'; }
# 0 if PID is gone (or is no longer a sandbox-user process: pid reuse).
pid_gone() {
  local u
  u=$(ps -o uid= -p "$1" 2>/dev/null | tr -d ' ')
  [ -z "$u" ] || [ "$u" != "$CG_UID" ]
}
# TAP: the workload pid of the last run is gone.
expect_pid_gone() { # NAME PID
  local i
  if [ -z "$2" ]; then not_ok "$1" "no workload pid in the log"; return; fi
  for i in $(seq 20); do pid_gone "$2" && break; sleep 0.1; done
  if pid_gone "$2"; then ok "$1"; else
    not_ok "$1" "still running: $(ps -o pid,user,stat,cmd -p "$2" | tail -1)"
    kill -KILL "$2" 2>/dev/null
  fi
}
# Common checks after a run: code, no leftovers, no sanitizer report.
after_run() { # LABEL EXPECTED_RC
  expect_eq "$1: supervisor exits $2" "$2" "$CG_RC"
  cg_expect_clean "$1: namespace and veth gone (ns: ${CG_NS:-none})"
  cg_expect_no_sanitizer "$1: no sanitizer report"
}

# ---- exit codes ---------------------------------------------------------------
cg_run exit0 60 --policy-data "$POLICY" --log-level info -- /bin/sh -c 'exit 0'
after_run "exit 0" 0
[ -n "$CG_NS" ] && ok "exit 0: the run created a cage ($CG_NS)" || not_ok "exit 0: the run created a cage" "$(tail -20 "$CG_ERR")"

cg_run exit3 60 --policy-data "$POLICY" --log-level info -- /bin/sh -c 'exit 3'
after_run "exit 3" 3

cg_run kill9 60 --policy-data "$POLICY" --log-level info -- /bin/sh -c 'kill -9 $$'
after_run "workload kill -9 \$\$" 137

cg_run abort 60 --policy-data "$POLICY" --log-level info -- "$CG_PY" -c 'import os; os.abort()'
after_run "workload crash (os.abort)" 134

cg_run timeout 60 --policy-data "$POLICY" --log-level info -t 1 -- sleep 30
after_run "-t 1 -- sleep 30" 124
expect_lt "-t 1: the supervisor returns within 5 s (took ${CG_MS} ms)" 5000 "$CG_MS"
expect_pid_gone "-t 1: the timed-out workload is gone" "$(wl_pid)"

# ---- signals to the supervisor ------------------------------------------------
# sig_run LABEL SIGNAL EXPECTED_RC CMD...: starts the cage, waits until the
# workload runs, signals the supervisor, which must exit within 5 s.
sig_run() {
  local label=$1 sig=$2 want=$3 t0 pid i
  shift 3
  rm -f "$CG_SYNC"/*
  cg_start "$label" --policy-data "$POLICY" --log-level info -- "$@"
  if ! cg_wait_log 'workload started: pid [0-9]+' 15; then
    not_ok "$label: the workload starts" "$(tail -20 "$CG_ERR")"
    cg_wait 10
    return
  fi
  pid=$(wl_pid)
  # Let the workload install its traps (it writes sync/ready).
  for i in $(seq 100); do [ -e "$CG_SYNC/ready" ] && break; sleep 0.05; done
  [ -e "$CG_SYNC/ready" ] || not_ok "$label: the workload signals readiness"
  t0=$(date +%s%N)
  kill -"$sig" "$CG_SUP_PID"
  cg_wait 5
  after_run "$label" "$want"
  expect_lt "$label: exits within 5 s" 5000 $((($(date +%s%N) - t0) / 1000000))
  expect_pid_gone "$label: the workload is gone" "$pid"
}

TERM_WL=$(cg_write_script term.sh <<'SH'
#!/bin/bash
# Plain: no trap, so SIGTERM kills it (128+15); the sleep runs in the foreground.
touch "$CG_SYNC/ready"
exec sleep 30
SH
)
sig_run "SIGTERM to the supervisor (workload sleep 30)" TERM 143 "$TERM_WL"

TRAP_WL=$(cg_write_script trap.sh <<'SH'
#!/bin/bash
# Records which forwarded signal arrived, then exits with its own code.
trap 'echo TERM >"$CG_SYNC/got"; kill $! 2>/dev/null; exit 15' TERM
trap 'echo INT >"$CG_SYNC/got"; kill $! 2>/dev/null; exit 2' INT
trap 'echo HUP >"$CG_SYNC/got"; kill $! 2>/dev/null; exit 42' HUP
sleep 30 &
touch "$CG_SYNC/ready"
wait $!
echo none >"$CG_SYNC/got"
exit 99
SH
)
sig_run "SIGTERM forwarded (workload traps TERM, exits 15)" TERM 15 "$TRAP_WL"
expect_eq "SIGTERM: the workload's trap ran" TERM "$(cat "$CG_SYNC/got" 2>&1)"
sig_run "SIGINT forwarded (workload traps INT, exits 2)" INT 2 "$TRAP_WL"
expect_eq "SIGINT: the workload's trap ran" INT "$(cat "$CG_SYNC/got" 2>&1)"
sig_run "SIGHUP forwarded (workload traps HUP, exits 42)" HUP 42 "$TRAP_WL"
expect_eq "SIGHUP: the workload's trap ran" HUP "$(cat "$CG_SYNC/got" 2>&1)"

# ---- policies -------------------------------------------------------------------
BAD=$(cg_write_policy bad-syntax.yaml <<'YAML'
version: 1
network_policies: [
YAML
)
cg_run badsyntax 30 --policy-data "$BAD" --log-level info -- /bin/sh -c 'echo should-not-run'
after_run "policy with a YAML syntax error" 1
expect_eq "policy with a YAML syntax error: no cage was created" "" "$CG_NS"
expect_eq "policy with a YAML syntax error: the workload never ran" "" "$(cat "$CG_OUT")"
expect_contains "policy with a YAML syntax error: reported" "not a valid policy" "$(cat "$CG_ERR")"

BAD2=$(cg_write_policy bad-port.yaml <<'YAML'
version: 1
network_policies:
  p:
    endpoints:
      - host: "@A@"
        port: 99999
    binaries:
      - path: /usr/bin/curl
YAML
)
cg_run badport 30 --policy-data "$BAD2" --log-level info -- /bin/sh -c 'echo should-not-run'
after_run "policy with an invalid port" 1
expect_eq "policy with an invalid port: the workload never ran" "" "$(cat "$CG_OUT")"

cg_run missing 30 --policy-data "$CG_TMP/does-not-exist.yaml" --log-level info -- /bin/sh -c 'echo should-not-run'
after_run "missing policy file" 1
expect_eq "missing policy file: the workload never ran" "" "$(cat "$CG_OUT")"

cg_run default 60 --log-level info -- echo ok
after_run "bundled default policy (no --policy-data), echo ok" 0
expect_eq "bundled default policy: the workload's output" ok "$(cat "$CG_OUT")"
[ -n "$CG_NS" ] && ok "bundled default policy: ran in a cage ($CG_NS)" || not_ok "bundled default policy: ran in a cage"

# No command after the flags: OPENSHELL_SANDBOX_COMMAND, split on whitespace
# (process.md §1.1), is the workload.
export OPENSHELL_SANDBOX_COMMAND="/bin/echo  from-env  ok"
cg_run envcmd 60 --log-level info
unset OPENSHELL_SANDBOX_COMMAND
after_run "OPENSHELL_SANDBOX_COMMAND as the workload" 0
expect_eq "OPENSHELL_SANDBOX_COMMAND: the workload's output" "from-env ok" "$(cat "$CG_OUT")"

# ---- what outlives the workload --------------------------------------------------
# A background child of the workload that is still running when the
# workload exits: it must not survive the supervisor (it would keep the
# dead cage's namespace alive, unsupervised).
ORPHAN_WL=$(cg_write_script orphan.sh <<'SH'
#!/bin/bash
sleep 30 &
echo $! >"$CG_SYNC/orphan"
exit 0
SH
)
rm -f "$CG_SYNC"/*
cg_run orphan 60 --policy-data "$POLICY" --log-level info -- "$ORPHAN_WL"
after_run "workload exits leaving a background child" 0
ORPHAN=$(cat "$CG_SYNC/orphan" 2>/dev/null)
expect_pid_gone "the workload's background child does not outlive the supervisor" "$ORPHAN"

# SIGKILL of the supervisor: nothing can run, so the cage stays; the
# supervisor promises (run_sandbox.c) that "leftovers of a killed
# supervisor are removed by the next start" - so the next run must work.
rm -f "$CG_SYNC"/*
cg_start sigkill --policy-data "$POLICY" --log-level info -- "$TERM_WL"
if cg_wait_log 'workload started: pid [0-9]+' 15; then
  KPID=$(wl_pid)
  KNS=$(cg_cage_of_log "$CG_ERR")
  kill -KILL "$CG_SUP_PID"
  cg_wait 5 2>/dev/null # (bash's "Killed" job notice)
  expect_eq "SIGKILL to the supervisor: exit 137" 137 "$CG_RC"
  echo "# after SIGKILL: left behind: ${CG_LEFT:-nothing}; workload $KPID $(pid_gone "$KPID" && echo gone || echo 'still running')"
  # The next start, without any cleanup by the test in between.
  cg_wait_subnet_free() { return 0; }
  cg_run after-sigkill 60 --policy-data "$POLICY" --log-level info -- /bin/sh -c 'echo ok'
  expect_eq "next run after a SIGKILLed supervisor starts and exits 0 (stale cage removed)" 0 "$CG_RC"
  expect_eq "next run after a SIGKILLed supervisor: workload output" ok "$(cat "$CG_OUT")"
  [ "$CG_RC" = 0 ] || sed 's/^/#   /' "$CG_ERR" | tail -5
  cg_note_cage "$KNS"
  for ns in "${CG_CAGES[@]}"; do cg_remove_cage "$ns"; done
  pid_gone "$KPID" || kill -KILL "$KPID" 2>/dev/null
else
  not_ok "SIGKILL case: the workload starts" "$(tail -20 "$CG_ERR")"
  cg_wait 10
fi

cg_done
