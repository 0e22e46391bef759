"""Wire version 2 in Python (docs/protocol.md §2), for tests that speak to peers as a peer (or
as an attacker would) and for fuzz/gen_corpus.py.  It mirrors src/core/wire/msg.c: one table of
field sets, fields always in the same global order.

A peer is a tuple (id, host, port) with host an IPv4 or IPv6 literal, or None for "no peer".
classic(i) is peer i of the classic forms: (i, "127.0.0.1", 50000 + i).
"""
import ipaddress
import struct

VERSION = 2
HDR = 4
(PING, PONG, FILE_REQ, FILE_RESP, DEPART, DEPART_ACK, SUCC_QUERY, SUCC_REPLY, WITNESS_QUERY,
 WITNESS_REPLY, JOIN_REQ, JOIN_ACCEPT, JOIN_REJECT, SUCC_CHANGE, STAB_QUERY, STAB_REPLY, STORE_REQ,
 STORE_ACCEPT, STORE_DONE, XFER, KEYS_REQ, KEYS_DONE, JOIN_ACK, DEPART_CONFIRM, KEYS_OFFER,
 KEYS_GRANT, FIND_REQ, FIND_RESP) = range(1, 29)

# The global field order, and each type's fields (the C layouts table).
ORDER = ("from", "origin", "seq", "role", "name", "hops", "flags", "succ", "about", "age", "size",
         "digest", "ext", "token", "reason", "key", "params")
LAYOUT = {
    PING: {"from", "seq", "role"},
    PONG: {"from", "seq"},
    FILE_REQ: {"from", "origin", "seq", "name", "hops", "flags"},
    FILE_RESP: {"from", "seq", "name", "hops", "flags", "token"},
    DEPART: {"from", "succ"},
    DEPART_ACK: {"from", "token"},
    SUCC_QUERY: {"from", "seq"},
    SUCC_REPLY: {"from", "seq", "succ"},
    WITNESS_QUERY: {"from", "seq", "about"},
    WITNESS_REPLY: {"from", "seq", "about", "age"},
    JOIN_REQ: {"from", "origin", "seq", "hops", "params"},
    JOIN_ACCEPT: {"from", "seq", "succ", "about", "token"},
    JOIN_REJECT: {"from", "seq", "reason", "params"},
    SUCC_CHANGE: {"from", "succ"},
    STAB_QUERY: {"from", "seq"},
    STAB_REPLY: {"from", "seq", "succ", "about", "age"},
    STORE_REQ: {"from", "origin", "seq", "name", "hops", "flags"},
    STORE_ACCEPT: {"from", "seq", "name", "hops", "token"},
    STORE_DONE: {"from", "seq", "name", "about"},
    XFER: {"from", "seq", "name", "flags", "size", "digest", "ext", "token"},
    KEYS_REQ: {"from", "about", "token"},
    KEYS_DONE: {"from", "seq", "token"},
    JOIN_ACK: {"from", "seq", "token"},
    DEPART_CONFIRM: {"from", "token"},
    KEYS_OFFER: {"from", "key"},
    KEYS_GRANT: {"from", "token"},
    FIND_REQ: {"from", "origin", "seq", "hops", "flags", "key"},
    FIND_RESP: {"from", "seq", "hops", "key"},
}
FIXED = {"seq": ">I", "role": ">B", "hops": ">H", "flags": ">B", "age": ">I", "size": ">Q",
         "token": ">Q", "reason": ">B", "key": ">Q"}


def classic(i):
    """Peer i of the classic forms."""
    return (i, "127.0.0.1", 50000 + i)


def peer_bytes(p):
    if p is None:
        return struct.pack(">QB", 0, 0)
    pid, host, port = p
    ip = ipaddress.ip_address(host)
    return struct.pack(">QB", pid, 4 if ip.version == 4 else 6) + ip.packed + struct.pack(">H", port)


def name_bytes(name):
    name = name.encode() if isinstance(name, str) else name
    return struct.pack(">B", len(name)) + name


def body(mtype, **f):
    """The body of a message of |mtype| with fields |f| (missing numbers are 0, peers None)."""
    out = b""
    for field in ORDER:
        if field not in LAYOUT[mtype]:
            continue
        v = f.get(field)
        if field in ("from", "origin", "about"):
            out += peer_bytes(v)
        elif field == "name":
            out += name_bytes(v if v is not None else b"0000")
        elif field == "succ":
            v = v or []
            out += struct.pack(">B", len(v)) + b"".join(peer_bytes(p) for p in v)
        elif field == "digest":
            out += (v or bytes(32))
        elif field == "ext":
            out += (v or b"").ljust(8, b"\0")
        elif field == "params":
            out += struct.pack(">BB", *(v or (8, 0)))
        else:
            out += struct.pack(FIXED[field], v or 0)
    return out


def frame(mtype, raw_body):
    """A header and |raw_body| (for tests that lie about the body)."""
    return struct.pack(">BBH", VERSION, mtype, len(raw_body)) + raw_body


def encode(mtype, **f):
    return frame(mtype, body(mtype, **f))


def read_peer(b, off):
    pid, fam = struct.unpack_from(">QB", b, off)
    off += 9
    if fam == 0:
        return None, off
    n = 4 if fam == 4 else 16
    host = str(ipaddress.ip_address(b[off:off + n]))
    (port,) = struct.unpack_from(">H", b, off + n)
    return (pid, host, port), off + n + 2


def decode(b):
    """Returns (type, fields, bytes consumed) of the message at the start of |b| (trusting it:
    this is for reading what a real peer sent)."""
    ver, mtype, blen = struct.unpack_from(">BBH", b, 0)
    assert ver == VERSION, ver
    off, f = HDR, {}
    for field in ORDER:
        if field not in LAYOUT[mtype]:
            continue
        if field in ("from", "origin", "about"):
            f[field], off = read_peer(b, off)
        elif field == "name":
            n = b[off]
            f[field] = b[off + 1:off + 1 + n]
            off += 1 + n
        elif field == "succ":
            n, off = b[off], off + 1
            f[field] = []
            for _ in range(n):
                p, off = read_peer(b, off)
                f[field].append(p)
        elif field == "digest":
            f[field], off = b[off:off + 32], off + 32
        elif field == "ext":
            f[field], off = b[off:off + 8].rstrip(b"\0"), off + 8
        elif field == "params":
            f[field], off = (b[off], b[off + 1]), off + 2
        else:
            (f[field],) = struct.unpack_from(FIXED[field], b, off)
            off += struct.calcsize(FIXED[field])
    assert off == HDR + blen, (off, blen)
    return mtype, f, off
