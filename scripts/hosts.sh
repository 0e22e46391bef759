#!/usr/bin/env bash
# Builds N separate hosts (default 4) on one switch, the same topology the multi-host tests use
# (tests/system/multihost.py: host k is a network namespace with eth0 at 198.18.0.(k+1)/24 and
# fd00:cd47::(k+1)/64), and opens tmux with one pane per host, titled "h0 198.18.0.1 fd00:cd47::1":
# each pane is a shell inside its host, with $CDHT_HOST, $CDHT_HOST_IPV4, $CDHT_HOST_IPV6 set and
# the host in its prompt, working in a directory of that host's own ($CDHT_HOSTS_DIR/hK, default
# /tmp/cdht-hosts/hK).  Try `ip -br addr`, or `nc -l 4000` in one pane and `nc 198.18.0.1 4000`
# in another.  Needs root.
#
# The hosts live as long as the tmux session: when every pane's shell has exited, or on
# `tmux -L cdht-hosts kill-server`, this script removes them (and every process left in them).
# Detaching (Ctrl-b d) keeps them; attach again with `tmux -L cdht-hosts attach`.  The session
# runs on a tmux server of its own (socket cdht-hosts, or $CDHT_HOSTS_TMUX), so that this script
# can wait for exactly that server to end; a second run replaces the first.
#
# With CDHT_HOSTS_PEER set to a cdht binary (scripts/demo.sh --hosts does that), each pane starts
# a peer of one ring on port 4000 first: h0 `cdht --listen 198.18.0.1:4000 --listen [fd00:cd47::1]:4000`,
# every other host joining through h0 (the odd ones speaking IPv6 first, through h0's IPv6
# address).  Type `store 0042 FILE`, `request 0042`, `status`, `quit` into any pane; when a peer
# exits, its pane is a shell of its host again.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-4}"
SOCK="${CDHT_HOSTS_TMUX:-cdht-hosts}"
SESSION=hosts
HOSTS_DIR="${CDHT_HOSTS_DIR:-/tmp/cdht-hosts}"
MH=(python3 "$PWD/tests/system/multihost.py")
T=(tmux -L "$SOCK")

if ! why=$("${MH[@]}" check); then
  echo "hosts: cannot build separate hosts here: $why" >&2
  exit 1
fi

# The previous session on this socket ends first; the script that made it removes its hosts.
"${T[@]}" kill-server 2>/dev/null || true

# The namespaces are named after this shell's pid: should this script be killed before its
# cleanup, the next topology built (a test run, or this script again) sweeps them.
RC=$(mktemp -d)
TAG=""
cleanup() {
  if [ -n "$TAG" ]; then "${MH[@]}" down "$TAG" && echo "hosts: removed $TAG-*" >&2; fi
  rm -rf "$RC"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP   # so that the EXIT trap runs on these too
mapfile -t lines < <("${MH[@]}" up "$N" --owner $$)
[ "${#lines[@]}" -eq $((N + 1)) ] || { echo "hosts: building $N hosts failed" >&2; exit 1; }
TAG=${lines[0]}

first=1
k=0
h0_v4="" h0_v6=""
for line in "${lines[@]:1}"; do
  read -r name netns v4 v6 <<<"$line"
  mkdir -p "$HOSTS_DIR/$name"
  # The person's own ~/.bashrc first, then the prompt, which it would otherwise overwrite (not
  # under a peer: a slow or interactive ~/.bashrc would hold the peer back).
  bashrc='[ -f ~/.bashrc ] && . ~/.bashrc'
  [ -n "${CDHT_HOSTS_PEER:-}" ] && bashrc=':'
  cat >"$RC/$name" <<EOF
$bashrc
PS1='[$name $v4 $v6] \\w\\$ '
echo "host $name (network namespace $netns): eth0 $v4/24 $v6/64; type exit to leave it"
EOF
  if [ -n "${CDHT_HOSTS_PEER:-}" ]; then
    if [ $k -eq 0 ]; then
      h0_v4=$v4 h0_v6=$v6
      peer="${CDHT_HOSTS_PEER} --listen $v4:4000 --listen [$v6]:4000"
    elif [ $((k % 2)) -eq 1 ]; then
      peer="${CDHT_HOSTS_PEER} --listen [$v6]:4000 --listen $v4:4000 --join [$h0_v6]:4000"
    else
      peer="${CDHT_HOSTS_PEER} --listen $v4:4000 --listen [$v6]:4000 --join $h0_v4:4000"
    fi
    # h0's pane may start a moment after this one: a join refused for that is tried again.
    cat >>"$RC/$name" <<EOF
echo "\$ $peer"
for try in 1 2 3 4 5; do $peer && break; [ $k -eq 0 ] && break; sleep 1; done
EOF
  fi
  k=$((k + 1))
  # The variables are in the shell's environment from its start (they show in /proc/PID/environ).
  cmd="exec nsenter --net=/run/netns/$netns -- env CDHT_HOST=$name CDHT_HOST_IPV4=$v4 CDHT_HOST_IPV6=$v6 \
CDHT_HOST_NETNS=$netns bash --rcfile $RC/$name -i"
  if [ $first -eq 1 ]; then
    "${T[@]}" new-session -d -s "$SESSION" -n hosts -x 220 -y 60 -c "$HOSTS_DIR/$name" "$cmd"
    first=0
  else
    "${T[@]}" split-window -t "$SESSION:hosts" -c "$HOSTS_DIR/$name" "$cmd"
    "${T[@]}" select-layout -t "$SESSION:hosts" tiled >/dev/null
  fi
  "${T[@]}" select-pane -t "$SESSION:hosts" -T "$name $v4 $v6"
done
"${T[@]}" set-option -t "$SESSION" pane-border-status top >/dev/null
"${T[@]}" set-option -t "$SESSION" pane-border-format ' #{pane_title} ' >/dev/null
"${T[@]}" set-option -t "$SESSION" mouse on >/dev/null
"${T[@]}" select-pane -t "$SESSION:hosts.0"

echo "hosts: $N hosts ($TAG-h0 ..) are up in tmux session '$SESSION' (tmux -L $SOCK)." >&2
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  "${T[@]}" attach -t "$SESSION" || true
fi
if "${T[@]}" has-session -t "$SESSION" 2>/dev/null; then
  echo "hosts: attach with: tmux -L $SOCK attach   (end it, and the hosts, with: tmux -L $SOCK kill-server)" >&2
  # Nobody signals this channel: the client returns when the server exits, which it does when
  # its last session ends.  So the hosts are removed when, and only when, tmux is gone.
  "${T[@]}" wait-for "cdht-hosts-end-$$" 2>/dev/null || true
fi
