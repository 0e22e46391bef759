"""An outsider on a host of its own, claiming a ring peer's id at its own address (run inside that
host's namespace by test_spoofed_neighbours.py).

    spoof_attacker.py depart VICTIM_HOST PORT CLAIMED_ID SELF_HOST
        sends the victim a DEPART in CLAIMED_ID's name from SELF_HOST:PORT, naming two peers of
        its own as the victim's new successors; listens on SELF_HOST:PORT for the DEPART_ACK and,
        if its token comes here, echoes it (DEPART_CONFIRM).  Prints "token" or "no token".

    spoof_attacker.py refuse VICTIM_HOST PORT CLAIMED_ID SELF_HOST SECONDS
        for SECONDS, sends the victim a FIND_REQ and a FILE_REQ flagged final every 50 ms whose
        origin is CLAIMED_ID at SELF_HOST on a port where nothing listens: the victim's answer is
        refused.  Prints the number of requests sent.
"""
import socket
import struct
import sys
import time

import cdht_wire as w


def send(host, port, data):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(data)
        time.sleep(0.2)


def read_frames(conn, deadline):
    buf = b""
    conn.settimeout(max(0.05, deadline - time.monotonic()))
    try:
        while time.monotonic() < deadline:
            chunk = conn.recv(4096)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    out = []
    while len(buf) >= 4:
        (blen,) = struct.unpack_from(">H", buf, 2)
        if len(buf) < 4 + blen:
            break
        out.append(w.decode(buf[:4 + blen]))
        buf = buf[4 + blen:]
    return out


def depart(victim, port, claimed, me):
    port = int(port)
    claimed = int(claimed)
    fam = socket.AF_INET6 if ":" in me else socket.AF_INET
    lst = socket.socket(fam, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((me, port))
    lst.listen(8)
    lst.settimeout(0.2)
    fake = (claimed, me, port)
    mine = [(claimed + 1, me, port), (claimed + 2, me, port)]
    send(victim, port, w.encode(w.DEPART, **{"from": fake, "succ": mine}))
    token = None
    deadline = time.monotonic() + 3
    while token is None and time.monotonic() < deadline:
        try:
            conn, _ = lst.accept()
        except socket.timeout:
            continue
        for mtype, f, _ in read_frames(conn, min(deadline, time.monotonic() + 0.5)):
            if mtype == w.DEPART_ACK and f["token"]:
                token = f["token"]
        conn.close()
    if token is not None:
        send(victim, port, w.encode(w.DEPART_CONFIRM, **{"from": fake, "token": token}))
    print("token" if token is not None else "no token", flush=True)


def refuse(victim, port, claimed, me, seconds):
    port, claimed, seconds = int(port), int(claimed), float(seconds)
    closed = port + 1  # nothing listens there: a connection to it is refused
    sender = ((claimed + 1) % 2**64, me, port)
    origin = (claimed, me, closed)
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for mtype, extra in ((w.FIND_REQ, {"key": claimed}), (w.FILE_REQ, {"name": "x"})):
            try:
                with socket.create_connection((victim, port), timeout=2) as s:
                    s.sendall(w.encode(mtype, **{"from": sender, "origin": origin, "seq": 7, "hops": 0,
                                                 "flags": 1, **extra}))
                sent += 1
            except OSError:
                pass
        time.sleep(0.05)
    print(sent, flush=True)


if __name__ == "__main__":
    {"depart": depart, "refuse": refuse}[sys.argv[1]](*sys.argv[2:])
