#!/usr/bin/env bash
# Installs what is missing, builds, and starts a demo ring in tmux, one pane per peer titled
# "Peer N".  Leave with `tmux kill-session -t cdht`.
#   scripts/demo.sh                   the classic ring 1 3 4 5 8 10 12 15 (`cdht ID S1 S2`): type
#                                     `request 2012` into peer 8, `quit` into peer 10, Ctrl-C into peer 5
#   scripts/demo.sh --variant 2019    the same ring as `cdht ID S1 S2 300 0.3` (the distributed
#                                     scripts' MSS and drop), with 2012.pdf beside the peers:
#                                     `request 2012` at peer 8 brings it over UDP as received_file.pdf,
#                                     with responding_log.txt and requesting_log.txt
#   scripts/demo.sh --hosts [N]       N separate hosts (default 4, network namespaces; root), a peer
#                                     in each on port 4000 joined by address, half IPv6 first
#   scripts/demo.sh --variant 2020    ring 2 4 5 8 9 14 19 as `cdht init ID S1 S2 30`, with 2067.pdf:
#                                     `Store 2067` at peer 4 (lands on 19), Enter in the "Peer 15"
#                                     pane (`cdht join 15 4 30` is typed there), `Request 2067` at
#                                     peer 9, `Quit` at peer 8, Ctrl-C at peer 14
# Other arguments are passed to every peer, e.g. scripts/demo.sh --ping-interval 5 (for 2020 the
# interval is the form's own argument: CDHT_DEMO_INTERVAL, default 30 as in the spec's scripts).
# The peers run in a directory of their own, $CDHT_DEMO_DIR (default /tmp/cdht-demo): their data
# directories (cdht-data/peer-N), downloaded files and logs go there, not into the repository.
# CDHT_DEMO_BIN runs that binary instead of installing and building (for tests).
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
variant=classic
if [ "${1:-}" = "--hosts" ]; then
  # A ring across separate hosts (network namespaces, one peer each, all on port 4000), one
  # tmux pane per host: scripts/hosts.sh with a peer started in each pane.  Needs root.
  CDHT_HOSTS_PEER="$BIN" exec scripts/hosts.sh "${2:-4}"
fi
if [ "${1:-}" = "--variant" ]; then
  variant="${2:-}"
  shift 2 || { echo "demo: --variant needs 2019 or 2020" >&2; exit 2; }
fi
INTERVAL="${CDHT_DEMO_INTERVAL:-30}"
case "$variant" in
  classic)
    ring=("1 3 4" "3 4 5" "4 5 8" "5 8 10" "8 10 12" "10 12 15" "12 15 1" "15 1 3")
    cmd_of() { echo "$BIN $* $spec"; } ;;
  2019)
    ring=("1 3 4" "3 4 5" "4 5 8" "5 8 10" "8 10 12" "10 12 15" "12 15 1" "15 1 3")
    cmd_of() { echo "$BIN $* $spec 300 0.3"; }
    [ -e "$DEMO_DIR/2012.pdf" ] || python3 scripts/sample_pdf.py "$DEMO_DIR/2012.pdf" "File 2012" ;;
  2020)
    ring=("2 4 5" "4 5 8" "5 8 9" "8 9 14" "9 14 19" "14 19 2" "19 2 4")
    cmd_of() { echo "$BIN $* init $spec $INTERVAL"; }
    [ -e "$DEMO_DIR/2067.pdf" ] || python3 scripts/sample_pdf.py "$DEMO_DIR/2067.pdf" "File 2067" ;;
  *) echo "demo: --variant is 2019 or 2020, not '$variant'" >&2; exit 2 ;;
esac

# Ports 50000-50255 lie in Linux's ephemeral range: keep them for the peers where we may.
if [ "$(id -u)" -eq 0 ] && ! grep -q '50000-50255' /proc/sys/net/ipv4/ip_local_reserved_ports; then
  sysctl -qw net.ipv4.ip_local_reserved_ports=50000-50255 &&
    echo "demo: reserved ports 50000-50255 (net.ipv4.ip_local_reserved_ports) for the peers" >&2
fi

tmux kill-session -t "$SESSION" 2>/dev/null || true
first=1
for spec in "${ring[@]}"; do
  id=${spec%% *}
  # The pane keeps its shell after the peer ends, so a killed or departed peer stays readable.
  # Ctrl-C reaches the whole pane (the peer and this shell): the shell traps it and carries on,
  # while the peer (which restores SIGINT's default action) dies the classic way.
  cmd="trap : INT; $(cmd_of "$@"); echo; echo '[peer $id has ended; exit status '\$?']'; exec bash"
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
if [ "$variant" = 2020 ]; then
  # The joiner's pane waits for Enter, then runs its command.
  join="$BIN $* join 15 4 $INTERVAL"
  cmd="echo 'Peer 15 joins through peer 4 when you press Enter here:'; echo '  $join'; read -r _; trap : INT; $join;"
  cmd="$cmd echo; echo '[peer 15 has ended; exit status '\$?']'; exec bash"
  tmux split-window -t "$SESSION:ring" -c "$DEMO_DIR" "bash -c \"$cmd\""
  tmux select-layout -t "$SESSION:ring" tiled >/dev/null
  tmux select-pane -t "$SESSION:ring" -T "Peer 15"
fi
tmux set-option -t "$SESSION" pane-border-status top >/dev/null
tmux set-option -t "$SESSION" pane-border-format ' #{pane_title} ' >/dev/null
tmux set-option -t "$SESSION" mouse on >/dev/null

case "$variant" in
  2020)
    tmux select-pane -t "$SESSION:ring.1"   # peer 4, ready for `Store 2067`
    echo "demo: the 2020 ring 2 4 5 8 9 14 19 (ping interval $INTERVAL s) is running in tmux session '$SESSION'." >&2
    echo "demo: type Store 2067 at peer 4, Enter in the Peer 15 pane (join via 4), Request 2067 at peer 9," >&2
    echo "demo: Quit at peer 8, Ctrl-C at peer 14.  Files: 2067.pdf, received_2067.pdf in $DEMO_DIR." >&2 ;;
  *)
    tmux select-pane -t "$SESSION:ring.4"   # peer 8, ready for `request 2012`
    echo "demo: ring 1 3 4 5 8 10 12 15 ($variant form) is running in tmux session '$SESSION'." >&2
    if [ "$variant" = 2019 ]; then
      echo "demo: request 2012 at peer 8 brings 2012.pdf over UDP as received_file.pdf; the logs are" >&2
      echo "demo: responding_log.txt and requesting_log.txt, all in $DEMO_DIR." >&2
    fi
    echo "demo: the peers work in $DEMO_DIR (data in cdht-data/peer-N, downloads as received_NNNN)." >&2
    echo "demo: click a pane (or Ctrl-b + arrows) and type: request 2012, quit, status, pings off, help." >&2 ;;
esac
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  exec tmux attach -t "$SESSION"
fi
echo "demo: attach with: tmux attach -t $SESSION   (stop with: tmux kill-session -t $SESSION)" >&2
