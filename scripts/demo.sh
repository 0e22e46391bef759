#!/usr/bin/env bash
# Installs what is missing, builds, and starts the classic 8-peer ring 1 3 4 5 8 10 12 15 in
# tmux: one pane per peer, titled "Peer N".  Type `request 2012` into peer 8, `quit` into
# peer 10, Ctrl-C into peer 5 ...  Leave with `tmux kill-session -t cdht`.
# Extra arguments are passed to every peer, e.g. scripts/demo.sh --ping-interval 5
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BIN="$PWD/build-demo/cdht"
SESSION=cdht

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
  cmd="$BIN $* $spec; echo; echo '[peer $id has ended; exit status '\$?']'; exec bash"
  if [ $first -eq 1 ]; then
    tmux new-session -d -s "$SESSION" -n ring -x 220 -y 60 "bash -c \"$cmd\""
    first=0
  else
    tmux split-window -t "$SESSION:ring" "bash -c \"$cmd\""
    tmux select-layout -t "$SESSION:ring" tiled >/dev/null
  fi
  tmux select-pane -t "$SESSION:ring" -T "Peer $id"
done
tmux set-option -t "$SESSION" pane-border-status top >/dev/null
tmux set-option -t "$SESSION" pane-border-format ' #{pane_title} ' >/dev/null
tmux set-option -t "$SESSION" mouse on >/dev/null
tmux select-pane -t "$SESSION:ring.4"   # peer 8, ready for `request 2012`

echo "demo: ring 1 3 4 5 8 10 12 15 is running in tmux session '$SESSION'." >&2
echo "demo: click a pane (or Ctrl-b + arrows) and type: request 2012, quit, status, pings off, help." >&2
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  exec tmux attach -t "$SESSION"
fi
echo "demo: attach with: tmux attach -t $SESSION   (stop with: tmux kill-session -t $SESSION)" >&2
