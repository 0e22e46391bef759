#!/usr/bin/env bash
# Installs what is missing, builds, and starts the classic 8-peer ring 1 3 4 5 8 10 12 15 in
# tmux: one pane per peer, titled "Peer N".  Type `request 2012` into peer 8, `quit` into
# peer 10, Ctrl-C into peer 5 ...  Leave with `tmux kill-session -t cdht`.
# Extra arguments are passed to every peer, e.g. scripts/demo.sh --ping-interval 5
# The peers run in a directory of their own, $CDHT_DEMO_DIR (default /tmp/cdht-demo): their data
# directories (cdht-data/peer-N) and downloaded files (received_NNNN) go there, not into the
# repository.  CDHT_DEMO_BIN runs that binary instead of installing and building (for tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CDHT_DEMO_BIN:-}" ]; then
  BIN="$CDHT_DEMO_BIN"
else
  scripts/setup.sh
  BIN="$PWD/build-demo/cdht"
fi
SESSION=cdht
DEMO_DIR="${CDHT_DEMO_DIR:-/tmp/cdht-demo}"
mkdir -p "$DEMO_DIR"

# Ports 50000-50255 lie in Linux's ephemeral range: keep them for the peers where we may.
if [ "$(id -u)" -eq 0 ] && ! grep -q '50000-50255' /proc/sys/net/ipv4/ip_local_reserved_ports; then
  sysctl -qw net.ipv4.ip_local_reserved_ports=50000-50255 &&
    echo "demo: reserved ports 50000-50255 (net.ipv4.ip_local_reserved_ports) for the peers" >&2
fi

tmux kill-session -t "$SESSION" 2>/dev/null || true
ring=("1 3 4" "3 4 5" "4 5 8" "5 8 10" "8 10 12" "10 12 15" "12 15 1" "15 1 3")
first=1
for spec in "${ring[@]}"; do
  id=${spec%% *}
  # The pane keeps its shell after the peer ends, so a killed or departed peer stays readable.
  # Ctrl-C reaches the whole pane (the peer and this shell): the shell traps it and carries on,
  # while the peer (which restores SIGINT's default action) dies the classic way.
  cmd="trap : INT; $BIN $* $spec; echo; echo '[peer $id has ended; exit status '\$?']'; exec bash"
  if [ $first -eq 1 ]; then
    tmux new-session -d -s "$SESSION" -n ring -x 220 -y 60 -c "$DEMO_DIR" "bash -c \"$cmd\""
    # Should a pane's shell end anyway, the pane stays, with its lines, until the session ends.
    tmux set-option -w -t "$SESSION:ring" remain-on-exit on >/dev/null
    first=0
  else
    tmux split-window -t "$SESSION:ring" -c "$DEMO_DIR" "bash -c \"$cmd\""
    tmux select-layout -t "$SESSION:ring" tiled >/dev/null
  fi
  tmux select-pane -t "$SESSION:ring" -T "Peer $id"
done
tmux set-option -t "$SESSION" pane-border-status top >/dev/null
tmux set-option -t "$SESSION" pane-border-format ' #{pane_title} ' >/dev/null
tmux set-option -t "$SESSION" mouse on >/dev/null
tmux select-pane -t "$SESSION:ring.4"   # peer 8, ready for `request 2012`

echo "demo: ring 1 3 4 5 8 10 12 15 is running in tmux session '$SESSION'." >&2
echo "demo: the peers work in $DEMO_DIR (data in cdht-data/peer-N, downloads as received_NNNN)." >&2
echo "demo: click a pane (or Ctrl-b + arrows) and type: request 2012, quit, status, pings off, help." >&2
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  exec tmux attach -t "$SESSION"
fi
echo "demo: attach with: tmux attach -t $SESSION   (stop with: tmux kill-session -t $SESSION)" >&2
