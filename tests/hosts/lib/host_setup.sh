#!/bin/bash
# Runs as PID 1 of a new host (started by `hosts.sh up` through
#   nsenter --net=/run/netns/<ns> unshare -m -u -i -p -f --propagation private --mount-proc)
# so it is already inside the host's network, mount, UTS, IPC and PID namespaces, with its
# own /proc. It builds the host's private world, writes a ready file, then becomes the
# host's init (host_init.py). Any failure exits, which ends the namespaces with it.
#
# Private per host (everything else, /work and the Python installs included, is shared):
#   /tmp, /var/tmp, /dev/shm  fresh tmpfs: ipc:// paths, AF_UNIX sockets, cell files do not
#                             cross hosts
#   /run                      fresh tmpfs: pid files, /run/sshd, /run/host (keys, configs)
#   /var/log                  fresh tmpfs: nothing a host logs lands in the real /var/log
#   /sys                      a sysfs of this network namespace
#   /root                     fresh tmpfs (root's home: ~/.ssh, ~/.ipython, ~/.local are per
#                             host), with only the dirs in HOST_SHARED_HOME (default .pyenv:
#                             the interpreters the venvs link to) bound read-only from the real one
#   /etc/hosts                the emulated hosts' names and addresses only
#   /etc/resolv.conf          empty: no DNS server, so no name lookup ever leaves the host
#   /etc/passwd, /etc/shadow  copies with the `sshd` privilege separation user added (and a
#                             locked root password field '!...' turned into '*': key login
#                             without PAM needs an account that is not locked)
#   hostname                  the host's name (UTS namespace)
#
# Environment (set by hosts.sh): HOST_NAME, HOST_TABLE (lines for /etc/hosts), HOST_READY
# (file to create when ready), HOST_INIT (path of host_init.py), HOST_PYTHON,
# HOST_SHARED_HOME (space-separated dirs under /root to keep), HOST_SSHD_UID.
set -euo pipefail

[ "$$" = 1 ] || { echo "host_setup.sh must run as PID 1 of a new PID namespace" >&2; exit 1; }

hostname "$HOST_NAME"

# The private /run first: it also holds, for a moment, the handles on the parts of the real
# /root that stay visible (the real /run is never written to).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
keep=()
for d in ${HOST_SHARED_HOME:-.pyenv}; do
    if [ -d "/root/$d" ]; then
        mkdir -p "/run/.keep/$d"
        mount --rbind "/root/$d" "/run/.keep/$d"
        keep+=("$d")
    fi
done
mount -t tmpfs -o mode=0700 tmpfs /root
for d in "${keep[@]}"; do
    mkdir -p "/root/$d"
    mount --move "/run/.keep/$d" "/root/$d"
    mount -o remount,bind,ro "/root/$d" 2>/dev/null || true   # read-only where the kernel allows
done
rm -rf /run/.keep
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
mount -t tmpfs -o mode=0755 tmpfs /var/log
umount -l /sys 2>/dev/null || true
mount -t sysfs -o ro sysfs /sys 2>/dev/null || true

mkdir -p /run/host/etc /run/sshd /run/lock
chmod 0755 /run/sshd                     # sshd's privilege separation chroot
chmod 0700 /run/host

printf '%s\n' "127.0.0.1 localhost" "$HOST_TABLE" > /run/host/etc/hosts
: > /run/host/etc/resolv.conf
cp /etc/passwd /run/host/etc/passwd
grep -q '^sshd:' /run/host/etc/passwd ||
    echo "sshd:x:${HOST_SSHD_UID:-64999}:65534:privilege separation:/run/sshd:/usr/sbin/nologin" \
        >> /run/host/etc/passwd
# the shadow copy lives on this tmpfs only (never on disk)
install -m 0640 /dev/null /run/host/etc/shadow
sed -e 's/^root:![^:]*:/root:*:/' /etc/shadow > /run/host/etc/shadow
grep -q '^sshd:' /run/host/etc/shadow || echo 'sshd:*:19000:0:99999:7:::' >> /run/host/etc/shadow
for f in hosts resolv.conf passwd shadow; do
    mount --bind "/run/host/etc/$f" "/etc/$f"
done

echo "$HOST_NAME ready" > "$HOST_READY"
exec "$HOST_PYTHON" "$HOST_INIT" "$HOST_NAME"
