#!/bin/bash
# hosts.sh - emulated hosts on one machine (default A, B, C), for tests of kernels on other
# hosts (run as root with CAP_NET_ADMIN). The Python face is tests/hosts/__init__.py.
#
#   hosts.sh up              create the hosts, start sshd on the sshd hosts (fails if up)
#   hosts.sh down            remove every process and namespace of the hosts (idempotent, also
#                            after a failed or interrupted `up`)
#   hosts.sh exec HOST CMD.. run CMD inside HOST (network, mount, UTS, IPC and PID namespaces);
#                            exit status, stdin/stdout/stderr pass through
#   hosts.sh addr HOST       print HOST's address
#   hosts.sh pid HOST        print the outer pid of HOST's init (for nsenter -t PID ...)
#   hosts.sh status          which hosts run, their processes
#   hosts.sh check           ping, ssh, /tmp and pid isolation, no route out
#   hosts.sh fetch           only fetch and unpack the Debian packages sshd needs (CI, once)
#
# Design
#  * Network: one namespace per host ("${HOSTS_PREFIX}A" ...) plus a bridge namespace
#    ("${HOSTS_PREFIX}hostsbr") holding a Linux bridge; each host has a veth pair eth0 <-> v-HOST
#    (the bridge end). Addresses ${HOSTS_SUBNET}.1, .2, ... (/24). No default route and no link
#    to the machine's own namespace: a packet to any other address fails with "Network is
#    unreachable" inside the hosts, nothing can leave them. IPv6 is off on these links.
#    Namespace sets with different prefixes are independent (even with the same subnet).
#  * A host is a long-lived namespace set: `nsenter --net=/run/netns/NS unshare -m -u -i -p -f
#    --propagation private --mount-proc lib/host_setup.sh` builds the private world (tmpfs
#    /tmp, /var/tmp, /dev/shm, /run, /var/log, /root (only the dirs in HOSTS_SHARED_HOME
#    shared, read-only), own /proc and /sys, hostname, /etc/hosts with the hosts only, empty
#    resolv.conf; see lib/host_setup.sh) and then becomes the host's PID 1 (lib/host_init.py,
#    a reaper). Its outer pid is recorded in $HOSTS_STATE/HOST.pid; `exec` is
#    `nsenter -t PID -n -m -u -i -p`. Killing that PID 1 ends every process of the host (the
#    kernel does it), which is what `down` relies on.
#  * sshd: Debian's openssh-server, fetched with `apt-get download` and unpacked with `dpkg -x`
#    into $HOSTS_CACHE (no maintainer scripts, no services), run inside each sshd host as
#    `sshd -D -e -f /run/host/ssh/sshd_config`: ListenAddress = the host's address, ed25519 host
#    key generated inside the host (/run/host/ssh, private tmpfs), key-only auth, UsePAM no,
#    PermitRootLogin prohibit-password. Root's client key is generated inside the first host
#    (the client; its /root/.ssh is private), whose known_hosts lists the sshd hosts (names and
#    addresses) and whose ssh config enforces strict host key checking; the sshd hosts'
#    authorized_keys hold its public key. So `hosts.sh exec A ssh B CMD` and paramiko work.
#  * State ($HOSTS_STATE, default ./run next to this script): pid files, ready files, logs.
#    Keys never leave the hosts' private tmpfs (only public keys pass through this script).
#    It must be on the shared filesystem (not under /tmp, /run, /root, ...): the hosts write
#    into it.
#
# Environment: HOSTS_NAMES (default "A B C"; the first is the ssh client), HOSTS_SSHD (hosts
# running sshd, default: all but the first; "" for none), HOSTS_PREFIX (namespace name prefix,
# default empty), HOSTS_SUBNET (first three octets of the private /24, default 10.250.17),
# HOSTS_STATE, HOSTS_CACHE, HOSTS_PYTHON (runs the init; default /usr/bin/python3),
# HOSTS_SHARED_HOME (dirs under /root the hosts keep, default .pyenv).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
read -r -a HOSTS <<< "${HOSTS_NAMES:-A B C}"
CLIENT="${HOSTS[0]}"
read -r -a SSHD_HOSTS <<< "${HOSTS_SSHD-${HOSTS[*]:1}}"
PREFIX="${HOSTS_PREFIX:-}"
SUBNET="${HOSTS_SUBNET:-10.250.17}"
STATE="${HOSTS_STATE:-$HERE/run}"
CACHE="${HOSTS_CACHE:-$HERE/.cache/openssh}"
PY="${HOSTS_PYTHON:-/usr/bin/python3}"
BRNS="${PREFIX}hostsbr"
SSHD_ROOT="$CACHE/root"
SSHD_BIN="$SSHD_ROOT/usr/sbin/sshd"
# Debian packages unpacked for the hosts (sshd needs libwrap0, absent from a base system;
# iputils-ping only for `check`, the machine has no ping)
DEBS=(openssh-server openssh-sftp-server libwrap0 iputils-ping)

die() { echo "hosts.sh: $*" >&2; exit 1; }
log() { echo "hosts.sh: $*" >&2; }

index_of() {  # host name -> 1-based index
    local i
    for i in "${!HOSTS[@]}"; do [ "${HOSTS[$i]}" = "$1" ] && { echo $((i + 1)); return; }; done
    die "unknown host '$1' (hosts: ${HOSTS[*]})"
}
addr_of() { echo "$SUBNET.$(index_of "$1")"; }
ns_of() { index_of "$1" >/dev/null; echo "$PREFIX$1"; }

# The recorded init pid of HOST, only if that process still is this host's init
# (its command line names host_init.py and the host): never signal a recycled pid.
init_pid() {
    local f="$STATE/$1.pid" pid
    [ -f "$f" ] || return 1
    pid="$(cat "$f")"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "host_init.py $1 *$" || return 1
    echo "$pid"
}

enter() {  # enter HOST CMD...: run CMD in all of HOST's namespaces
    local host="$1"; shift
    local pid wd="$PWD"
    pid="$(init_pid "$host")" || die "host $host is not up"
    # /tmp, /run, /root, ... are the host's own: a cwd there would mean something else
    case "$wd" in /tmp*|/run*|/root*|/var/tmp*|/var/log*|/proc*|/sys*|/dev*) wd=/root ;; esac
    # 9>&-: the up/down lock must not be inherited by what runs in the host
    exec nsenter -t "$pid" -n -m -u -i -p --wd="$wd" -- "$@" 9>&-
}

in_host() { ( enter "$@" ); }  # same, as a subshell (returns)

lock() {  # serialise up/down
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock -w 60 9 || die "another hosts.sh up/down holds $STATE/.lock"
}

fetch_sshd() {  # unpack the Debian packages once into $CACHE/root
    [ -x "$SSHD_BIN" ] && [ -x "$SSHD_ROOT/bin/ping" ] && return 0
    log "fetching ${DEBS[*]} (apt-get download + dpkg -x into $CACHE)"
    mkdir -p "$CACHE/debs" "$SSHD_ROOT"
    ( cd "$CACHE/debs" && apt-get download -q "${DEBS[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 ) ||
        die "apt-get download failed (run 'apt-get update' first?)"
    local deb
    for deb in "$CACHE"/debs/*.deb; do dpkg -x "$deb" "$SSHD_ROOT"; done
    [ -x "$SSHD_BIN" ] || die "no sshd in $SSHD_ROOT"
}

free_uid() {  # an unused uid for the sshd privilege separation user (in the hosts' passwd copy)
    local u
    for u in $(seq 64999 -1 60000); do getent passwd "$u" >/dev/null || { echo "$u"; return; }; done
    die "no free uid"
}

start_host() {
    local host="$1" ns addr table="" h up_pid child i
    ns="$(ns_of "$host")"; addr="$(addr_of "$host")"
    for h in "${HOSTS[@]}"; do table+="$(addr_of "$h") $h"$'\n'; done
    rm -f "$STATE/$host.ready"
    # setsid: the host must not belong to the caller's session / terminal (Ctrl-C, hangups)
    HOST_NAME="$host" HOST_TABLE="${table%$'\n'}" HOST_READY="$STATE/$host.ready" \
    HOST_INIT="$HERE/lib/host_init.py" HOST_PYTHON="$PY" HOST_SSHD_UID="$SSHD_UID" \
    HOST_SHARED_HOME="${HOSTS_SHARED_HOME:-.pyenv}" \
        setsid nsenter --net="/run/netns/$ns" -- \
        unshare -m -u -i -p -f --propagation private --mount-proc -- \
        bash "$HERE/lib/host_setup.sh" </dev/null >>"$STATE/logs/$host.init.log" 2>&1 9>&- &
    up_pid=$!
    echo "$up_pid" > "$STATE/$host.unshare.pid"
    for i in $(seq 1 100); do   # up to 10 s
        [ -f "$STATE/$host.ready" ] && break
        kill -0 "$up_pid" 2>/dev/null || die "host $host failed to start: $(tail -5 "$STATE/logs/$host.init.log")"
        sleep 0.1
    done
    [ -f "$STATE/$host.ready" ] || die "host $host not ready after 10 s"
    # unshare forked the host's PID 1: its only child
    child="$(cat "/proc/$up_pid/task/$up_pid/children" 2>/dev/null | awk '{print $1}')"
    [ -n "$child" ] || die "no init process for $host"
    echo "$child" > "$STATE/$host.pid"
    for i in $(seq 1 50); do init_pid "$host" >/dev/null && return 0; sleep 0.1; done  # exec'd?
    die "host $host: init did not start"
}

start_sshd() {
    local host="$1" addr pubkey="$2"
    addr="$(addr_of "$host")"
    in_host "$host" bash -euc '
        mkdir -p -m 0700 /run/host/ssh /root/.ssh
        ssh-keygen -q -t ed25519 -N "" -C "host-$1" -f /run/host/ssh/ssh_host_ed25519_key
        printf "%s\n" "$3" > /root/.ssh/authorized_keys
        chmod 0600 /root/.ssh/authorized_keys
        cat > /run/host/ssh/sshd_config <<EOF
# sshd of emulated host $1 (written by hosts.sh up; lives in the host private /run)
ListenAddress $2:22
HostKey /run/host/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowAgentForwarding no
# GP_ENABLE_TUNNELING uses ssh -L
AllowTcpForwarding yes
PermitTunnel no
# many kernels may start at once
MaxStartups 64:30:128
MaxSessions 64
LogLevel INFO
Subsystem sftp $4/usr/lib/openssh/sftp-server
EOF
        # double fork: sshd is re-parented to the host init, nothing stays outside the host
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            LD_LIBRARY_PATH="$4/usr/lib/x86_64-linux-gnu:$4/lib/x86_64-linux-gnu" \
            setsid "$4/usr/sbin/sshd" -D -e -f /run/host/ssh/sshd_config \
            </dev/null >>"$5" 2>&1 &
    ' _ "$host" "$addr" "$pubkey" "$SSHD_ROOT" "$STATE/logs/$host.sshd.log"
}

cmd_up() {
    lock
    local h ns
    for h in "${HOSTS[@]}"; do
        ns="$(ns_of "$h")"
        [ -e "/run/netns/$ns" ] && die "namespace $ns exists: run '$0 down' first"
    done
    [ -e "/run/netns/$BRNS" ] && die "namespace $BRNS exists: run '$0 down' first"
    case "$STATE/" in /tmp/*|/run/*|/root/*|/var/tmp/*|/var/log/*|/dev/*)
        die "HOSTS_STATE=$STATE is private inside the hosts: use a shared path" ;; esac
    [ -x "$PY" ] || PY="$(command -v python3)" || die "no python3 for the host init"
    local tool tools=(ip nsenter unshare setsid flock)
    [ "${#SSHD_HOSTS[@]}" -gt 0 ] && tools+=(ssh ssh-keygen apt-get dpkg)
    for tool in "${tools[@]}"; do
        command -v "$tool" >/dev/null || die "needs $tool (ssh, ssh-keygen: apt-get install openssh-client)"
    done
    [ "${#SSHD_HOSTS[@]}" -gt 0 ] && fetch_sshd
    mkdir -p "$STATE/logs"
    chmod 0700 "$STATE"
    SSHD_UID="$(free_uid)"
    # from here on, any failure (set -e, die, Ctrl-C) undoes everything
    UP_DONE=""
    trap '[ -n "$UP_DONE" ] || { log "up failed, cleaning up"; do_down; }' EXIT
    trap 'exit 1' INT TERM HUP

    ip netns add "$BRNS"
    ip -n "$BRNS" link set lo up
    ip -n "$BRNS" link add br0 type bridge
    ip netns exec "$BRNS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    ip -n "$BRNS" link set br0 up
    for h in "${HOSTS[@]}"; do
        ns="$(ns_of "$h")"
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
        # both ends created directly in their namespaces: nothing touches the machine's own
        ip -n "$BRNS" link add "v-$h" type veth peer name eth0 netns "$ns"
        ip -n "$BRNS" link set "v-$h" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$(addr_of "$h")/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    for h in "${HOSTS[@]}"; do start_host "$h"; done

    # root's client key, generated inside the client host, never written outside it
    local pub known="" hk
    if [ "${#SSHD_HOSTS[@]}" -gt 0 ]; then
        pub="$(in_host "$CLIENT" bash -euc 'mkdir -p -m 0700 /root/.ssh
            ssh-keygen -q -t ed25519 -N "" -C "root@$(hostname)" -f /root/.ssh/id_ed25519
            cat /root/.ssh/id_ed25519.pub')"
    fi
    for h in "${SSHD_HOSTS[@]}"; do start_sshd "$h" "$pub"; done
    for h in "${SSHD_HOSTS[@]}"; do
        hk="$(in_host "$h" cat /run/host/ssh/ssh_host_ed25519_key.pub | awk '{print $1, $2}')"
        known+="$h,$(addr_of "$h") $hk"$'\n'
    done
    if [ "${#SSHD_HOSTS[@]}" -gt 0 ]; then
        printf '%s' "$known" | in_host "$CLIENT" bash -c 'cat > /root/.ssh/known_hosts
            printf "Host *\n  BatchMode yes\n  StrictHostKeyChecking yes\n  ConnectTimeout 5\n" > /root/.ssh/config
            chmod 0600 /root/.ssh/known_hosts /root/.ssh/config'
    fi
    for h in "${SSHD_HOSTS[@]}"; do   # sshd accepts connections?
        local ok=""
        for _ in $(seq 1 50); do
            if in_host "$CLIENT" bash -c "exec 3<>/dev/tcp/$(addr_of "$h")/22" 2>/dev/null; then ok=1; break; fi
            sleep 0.1
        done
        [ -n "$ok" ] || { tail -5 "$STATE/logs/$h.sshd.log" >&2; die "sshd on $h does not answer"; }
    done
    UP_DONE=1
    trap - INT TERM HUP
    for h in "${HOSTS[@]}"; do log "host $h up: $(addr_of "$h"), init pid $(cat "$STATE/$h.pid")"; done
}

do_down() {
    local h ns pid p n
    for h in "${HOSTS[@]}"; do
        if pid="$(init_pid "$h")"; then kill -KILL "$pid" 2>/dev/null || true; fi
        if [ -f "$STATE/$h.unshare.pid" ]; then
            p="$(cat "$STATE/$h.unshare.pid")"
            # only our own unshare/nsenter wrapper (pid recycled otherwise)
            if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' < "/proc/$p/cmdline" | grep -q "host_setup.sh"; then
                kill -KILL "$p" 2>/dev/null || true
            fi
        fi
    done
    for ns in "${HOSTS[@]/#/$PREFIX}" "$BRNS"; do
        [ -e "/run/netns/$ns" ] || continue
        # whatever still runs in the namespace (e.g. an `ip netns exec` started by hand)
        for n in $(seq 1 50); do
            p="$(ip netns pids "$ns" 2>/dev/null || true)"
            [ -z "$p" ] && break
            kill -KILL $p 2>/dev/null || true
            sleep 0.1
        done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "$STATE"/*.pid "$STATE"/*.ready
}

cmd_down() { lock; do_down; log "down"; }

cmd_status() {
    local h pid
    for h in "${HOSTS[@]}"; do
        if pid="$(init_pid "$h")"; then
            echo "== $h $(addr_of "$h") init pid $pid"
            in_host "$h" ps -eo pid,ppid,args --forest | sed 's/^/   /'
        else
            echo "== $h down"
        fi
    done
    ip netns list
}

cmd_check() {
    local ping="$SSHD_ROOT/bin/ping" h rc=0
    for h in "${HOSTS[@]:1}"; do
        echo "-- ping $CLIENT -> $h (20 x 0.05 s)"
        in_host "$CLIENT" "$ping" -q -c 20 -i 0.05 "$(addr_of "$h")" | tail -2
    done
    for h in "${SSHD_HOSTS[@]}"; do
        echo "-- ssh $CLIENT -> $h hostname (strict host keys)"
        [ "$(in_host "$CLIENT" ssh "$h" hostname)" = "$h" ] && echo "ok" || { echo "FAIL"; rc=1; }
        echo "-- $h's /tmp is its own, its pid 1 is its init"
        in_host "$CLIENT" bash -c 'echo a > /tmp/only-on-client'
        if in_host "$CLIENT" ssh "$h" 'test -e /tmp/only-on-client'; then echo "FAIL"; rc=1; else echo "ok"; fi
        in_host "$CLIENT" rm -f /tmp/only-on-client
        in_host "$CLIENT" ssh "$h" 'echo "pid 1: $(tr "\0" " " </proc/1/cmdline)"'
    done
    echo "-- $CLIENT's routes: the /24 only, no default route (a route lookup, no packet sent)"
    in_host "$CLIENT" ip route
    in_host "$CLIENT" ip route get 192.0.2.1 2>&1 | sed 's/^/   192.0.2.1: /' || true
    return $rc
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    exec) [ $# -ge 3 ] || die "usage: $0 exec HOST CMD..."; shift; enter "$@" ;;
    addr) addr_of "${2:?host}" ;;
    pid) init_pid "${2:?host}" || die "host ${2} is not up" ;;
    status) cmd_status ;;
    check) cmd_check ;;
    fetch) fetch_sshd ;;
    *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
