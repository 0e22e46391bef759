#!/usr/bin/env bash
# Runs a command in a private network namespace with only loopback, where ports 50000-50255
# are kept out of the ephemeral range: an outgoing connection can then never take a peer's
# port, and tests cannot collide with anything else on the machine.  Without root (or where
# namespaces are not allowed) it runs the command as it is, and says so.
set -euo pipefail
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up &&
    sysctl -qw net.ipv4.ip_local_reserved_ports=50000-50255 &&
    exec "$@"' netns "$@"
fi
echo "netns: no private network namespace (needs root); running on the host network" >&2
exec "$@"
