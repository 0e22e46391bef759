#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run from anywhere; rewrites the seed_*
files and leaves any other file alone, such as regress_* inputs saved from a fuzzer crash).

Messages are wire version 2, encoded by tests/system/cdht_wire.py (the system tests' encoder,
an implementation of its own beside src/core/wire/msg.c, docs/protocol.md section 2); the helpers
below name peers by id and turn them into their classic records.  The node scripts follow the
step format described at the top of fuzz_node.c."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
import cdht_wire as W  # noqa: E402

(PING, PONG, FILE_REQ, FILE_RESP, DEPART, DEPART_ACK, SUCC_QUERY, SUCC_REPLY, WITNESS_QUERY, WITNESS_REPLY,
 JOIN_REQ, JOIN_ACCEPT, JOIN_REJECT, SUCC_CHANGE, STAB_QUERY, STAB_REPLY, STORE_REQ, STORE_ACCEPT, STORE_DONE,
 XFER, KEYS_REQ, KEYS_DONE, JOIN_ACK, DEPART_CONFIRM, KEYS_OFFER, KEYS_GRANT, FIND_REQ, FIND_RESP) = range(1, 29)
assert (PING, KEYS_GRANT, FIND_RESP) == (W.PING, W.KEYS_GRANT, W.FIND_RESP)
NONE = None  # "no peer"
AGE_NEVER = 0xffffffff
FIRST, SECOND = 1, 2
FINAL = 1
TAKEN, PARAMS = 1, 2
NUMBERS, BLAKE2B = 0, 1


def P(i):
    """The classic record of peer i; None stays "no peer"."""
    return None if i is None else W.classic(i)


def V6(i, host=1, port=4000):
    return (i, "fd00:cd47::%x" % host, port)


def V4(i, host=1, port=4000):
    return (i, "198.18.0.%d" % host, port)


def msg(mtype, **f):
    return W.encode(mtype, **f)


def name(file):
    return b"%04d" % file


def ping(frm, seq, role):
    return msg(PING, **{"from": P(frm), "seq": seq, "role": role})


def pong(frm, seq):
    return msg(PONG, **{"from": P(frm), "seq": seq})


def file_req(frm, origin, seq, file, hops=0, flags=0):
    return msg(FILE_REQ, **{"from": P(frm), "origin": P(origin), "seq": seq, "name": name(file), "hops": hops,
                            "flags": flags})


def file_resp(frm, seq, file, flags=0, token=0):
    return msg(FILE_RESP, **{"from": P(frm), "seq": seq, "name": name(file), "flags": flags, "token": token})


def depart(frm, s1, s2):
    return msg(DEPART, **{"from": P(frm), "succ": [P(s1), P(s2)]})


def depart_ack(frm, token=0):
    return msg(DEPART_ACK, **{"from": P(frm), "token": token})


def succ_query(frm, seq):
    return msg(SUCC_QUERY, **{"from": P(frm), "seq": seq})


def succ_reply(frm, seq, s1, s2):
    return msg(SUCC_REPLY, **{"from": P(frm), "seq": seq, "succ": [P(s1), P(s2)]})


def witness_query(frm, seq, about):
    return msg(WITNESS_QUERY, **{"from": P(frm), "seq": seq, "about": P(about)})


def witness_reply(frm, seq, about, age_ms):
    return msg(WITNESS_REPLY, **{"from": P(frm), "seq": seq, "about": P(about), "age": age_ms})


def join_req(frm, origin, seq, hops=0, bits=8, keys=NUMBERS):
    return msg(JOIN_REQ, **{"from": P(frm), "origin": P(origin), "seq": seq, "hops": hops, "params": (bits, keys)})


def join_accept(frm, seq, s1, s2, about=None, token=0):
    return msg(JOIN_ACCEPT, **{"from": P(frm), "seq": seq, "succ": [P(s1), P(s2)], "about": P(about),
                               "token": token})


def join_reject(frm, seq, reason=TAKEN, bits=8, keys=NUMBERS):
    return msg(JOIN_REJECT, **{"from": P(frm), "seq": seq, "reason": reason, "params": (bits, keys)})


def succ_change(frm, s1, s2):
    return msg(SUCC_CHANGE, **{"from": P(frm), "succ": [P(s1), P(s2)]})


def stab_query(frm, seq):
    return msg(STAB_QUERY, **{"from": P(frm), "seq": seq})


def stab_reply(frm, seq, s1, s2, pred, age_ms):
    return msg(STAB_REPLY, **{"from": P(frm), "seq": seq, "succ": [P(s1), P(s2)], "about": P(pred),
                              "age": age_ms})


def store_req(frm, origin, seq, file, hops=0, flags=0):
    return msg(STORE_REQ, **{"from": P(frm), "origin": P(origin), "seq": seq, "name": name(file), "hops": hops,
                             "flags": flags})


def xfer(frm, seq, file, kind, size, digest=bytes(32), ext=b"pdf", token=0):
    return msg(XFER, **{"from": P(frm), "seq": seq, "name": name(file), "flags": kind, "size": size,
                        "digest": digest, "ext": ext, "token": token})


# ---- node scripts (fuzz_node.c) ----
PEERS = [5, 8, 3, 1, 4, 0, 6, 256]  # index = the step's peer byte & 7 (fuzz_node.c, peers[])
JOIN_PEERS = [5, 8, 3, 1, 6, 0, 4, 256]  # the same for fuzz_node_join.c (we are 6)


def k(peer, spoofed=False, off=False):
    """The step's peer byte: the index in the peer table, | 8 from another host, | 16 with
    records off the classic rule (fuzz_node.c)."""
    return PEERS.index(peer) | (8 if spoofed else 0) | (16 if off else 0)


def dgram(peer, data, spoofed=False):
    assert len(data) < 128
    return bytes([0, k(peer, spoofed), len(data)]) + data


def frame(peer, data, spoofed=False):
    assert len(data) < 128
    return bytes([1, k(peer, spoofed), len(data)]) + data


def recipe(op, peer, mtype, seq=0, role=0, file=0, origin=1, hops=0, flags=0, s1=5, s2=8, about=8,
           age=None, bits16=False, blake2b=False, params_reason=False, spoofed=False, off=False):
    """A step that has fuzz_node.c build a valid message (see build() there); age in 100 ms.
    bits16 / blake2b: a join's parameters other than the ring's; params_reason: a refusal's
    reason PARAMS rather than TAKEN."""
    b7 = flags | (0x60 if bits16 else 0) | (0x18 if blake2b else 0) | (0x80 if params_reason else 0)
    r = bytes([mtype - 1, seq, role - 1 if role else 0, file >> 8, file & 255, k(origin), hops, b7,
               k(s1), k(s2), k(about), 255 if age is None else age])
    return bytes([op, k(peer, spoofed, off), 0x80 | len(r)]) + r


def advance(ms):
    return bytes([2, ms >> 8, ms & 255])


def sleep(ms):
    return bytes([3, ms >> 8, ms & 255])


def request(file):
    return bytes([4, file >> 8, file & 255])


QUIT = bytes([5])
FAILALLOC = bytes([7])


def unreachable(peer):
    return bytes([6, k(peer)])


def classic_pings(rounds):
    """Node 4 pings 5 and 8 every second (seq 0, 1, ...) and is pinged by 3 and 1."""
    out = b""
    for i in range(rounds):
        out += dgram(5, pong(5, i)) + dgram(8, pong(8, i))
        out += dgram(3, ping(3, i, FIRST)) + dgram(1, ping(1, i, SECOND)) + advance(1000)
    return out


def node_seeds():
    s = {}
    s["pings"] = classic_pings(3)
    s["request_answered"] = classic_pings(1) + request(2012) + frame(1, file_resp(1, 1, 2012)) + advance(1000)
    s["request_here"] = classic_pings(1) + request(4) + request(3) + advance(1000)
    alive = b"".join(dgram(5, pong(5, i)) + dgram(8, pong(8, i)) + advance(1000) for i in range(11))
    s["request_timeout"] = request(100) + alive  # retried after 5 s, failed after 10 s
    s["both_dead"] = request(100) + advance(6000)  # no pongs at all: the ring breaks at 3.5 s
    s["quit"] = classic_pings(1) + QUIT + frame(3, depart_ack(3)) + frame(1, depart_ack(1)) + \
        dgram(5, pong(5, 1)) + advance(1000)
    s["quit_unconfirmed"] = classic_pings(1) + QUIT + unreachable(3) + advance(3000)
    kill = b""
    for i in range(5):
        kill += dgram(8, pong(8, i)) + advance(1000)
    kill += frame(8, succ_reply(8, 1, 1, 3)) + advance(1000)
    s["kill_repair"] = kill
    s["depart_successor"] = classic_pings(1) + frame(5, depart(5, 8, 1)) + frame(5, depart(5, 8, 1)) + \
        advance(1000)
    s["depart_alone"] = frame(5, depart(5, 4, 8)) + request(50) + advance(1000)
    s["forward"] = classic_pings(1) + frame(3, file_req(3, 1, 7, 6, 1, 0)) + \
        frame(3, file_req(3, 1, 8, 4, 1, FINAL)) + frame(3, file_req(3, 4, 9, 6, 2, 0))
    s["succ_query"] = frame(3, succ_query(3, 9)) + advance(500)
    s["garbage"] = dgram(5, b"\xff\x00\x01") + frame(5, ping(5, 0, FIRST)[:7]) + \
        dgram(5, pong(5, 0), spoofed=True) + dgram(4, pong(4, 0)) + dgram(5, pong(5, 0) + b"\x00") + \
        frame(5, pong(5, 0)) + dgram(5, depart_ack(5))
    s["recipes"] = recipe(0, 5, PONG, seq=0) + recipe(0, 3, PING, seq=0, role=FIRST) + \
        recipe(1, 5, DEPART, s1=8, s2=1) + recipe(1, 8, SUCC_QUERY, seq=3) + advance(1000)
    s["sleep"] = classic_pings(1) + sleep(30000) + dgram(5, pong(5, 1)) + advance(2000)
    s["failalloc"] = FAILALLOC + advance(1000)
    # 8 stops answering; 3 keeps pinging us.  At the 4th miss (3.5 s) we ask our witness for 8,
    # our first successor 5, and it vouches: 8 was heard from 0.5 s ago.
    quiet8 = b"".join(dgram(5, pong(5, i)) + dgram(3, ping(3, i, FIRST)) + advance(1000) for i in range(4))
    s["witness_vouches"] = quiet8 + frame(5, witness_reply(5, 1, 8, 500)) + advance(2000)
    s["witness_says_dead"] = quiet8 + recipe(1, 5, WITNESS_REPLY, seq=1, about=8) + advance(1000)
    s["witness_unreachable"] = quiet8 + unreachable(5) + advance(1000)
    s["witness_asked"] = classic_pings(2) + frame(3, witness_query(3, 4, 5)) + frame(1, witness_query(1, 5, 8))
    # Joins: 0 is passed on to 5; after 5 departs (successors 8 1), 6 lands between us and 8;
    # 3 and 5 are taken.
    s["join"] = classic_pings(1) + frame(1, join_req(1, 0, 1)) + frame(3, join_req(3, 5, 2)) + \
        frame(5, depart(5, 8, 1)) + frame(3, join_req(3, 6, 3, 2)) + frame(6, join_accept(6, 1, 8, 1)) + \
        advance(1000)
    # 5 departs (successors 8 1); stabilization at 3 s asks 8 (query 1): it says 6 now precedes
    # it, heard 0.2 s ago, so 6 becomes our first successor.
    s["stabilize_joiner"] = dgram(5, pong(5, 0)) + dgram(8, pong(8, 0)) + frame(5, depart(5, 8, 1)) + \
        advance(3000) + frame(8, stab_reply(8, 1, 1, 3, 6, 200)) + advance(1000)
    s["stabilize_second"] = classic_pings(3) + frame(5, stab_reply(5, 1, 1, 3, 4, 100)) + advance(1000)
    s["stabilize_asked"] = classic_pings(1) + frame(3, stab_query(3, 7)) + recipe(1, 1, STAB_QUERY, seq=2)
    s["succ_change"] = classic_pings(1) + frame(5, succ_change(5, 5, 6)) + frame(8, succ_change(8, 8, 1)) + \
        advance(1000)
    # wire v2: a frame from another host, records off the classic rule (from, a list entry,
    # about, origin), a join request with other ring parameters (refused with PARAMS)
    s["spoofed_frame"] = classic_pings(1) + frame(3, witness_query(3, 4, 5), spoofed=True) + \
        frame(3, witness_query(3, 5, 5)) + recipe(1, 3, STAB_QUERY, seq=2, spoofed=True)
    s["records_off_rule"] = classic_pings(1) + recipe(1, 5, DEPART, s1=8, s2=1, off=True) + \
        recipe(0, 3, PING, seq=1, role=FIRST, off=True) + recipe(1, 3, WITNESS_QUERY, seq=1, about=5, off=True) + \
        recipe(1, 3, STORE_REQ, seq=1, file=7, origin=1, off=True) + advance(1000)
    s["join_params"] = classic_pings(1) + recipe(1, 6, JOIN_REQ, seq=1, origin=6, bits16=True) + \
        recipe(1, 6, JOIN_REQ, seq=2, origin=6, blake2b=True) + frame(6, join_req(6, 6, 3, 0, 64, BLAKE2B)) + \
        frame(6, join_req(6, 6, 4)) + advance(1000)
    return s


def node_regressions():
    """Inputs that once broke an invariant, re-encoded whenever the wire changes (the fuzzer's
    own bytes would otherwise stop meaning anything)."""
    r = {}
    # d8f2591: a peer leaving alone accepted a store and waited past its leave deadline for the
    # content (its next deadline fell in the past).  Here: 5 and 8 never answer, so 4 stands
    # alone at 5.5 s while 3 still pings it; `quit` at 5.6 s (before 4 takes its pinger as its
    # successor at 6 s) waits for 3's confirmation, alone; stores arrive, final and not (a lone
    # peer is the last hop either way): refused, nothing waits.
    alone = b"".join(dgram(3, ping(3, i, FIRST)) + advance(1000) for i in range(5)) + \
        dgram(3, ping(3, 5, FIRST)) + advance(600)
    r["store_while_leaving_alone"] = alone + QUIT + frame(3, store_req(3, 1, 7, 2012, 2, FINAL)) + \
        frame(3, store_req(3, 1, 8, 10)) + recipe(1, 3, STORE_REQ, seq=9, file=11, origin=3) + advance(1000) + \
        frame(3, depart_ack(3)) + advance(3000)
    return r


def node_join_seeds():
    """We are 6, joining through 5 (join request 1 sent at time 0)."""
    global PEERS
    saved, PEERS = PEERS, JOIN_PEERS
    s = {}
    # Accepted between 5 and 8: successors 8 1; then 5 and 4 ping us and we ping 8 and 1.
    accepted = frame(5, join_accept(5, 1, 8, 1))
    ring = b"".join(dgram(8, pong(8, i)) + dgram(1, pong(1, i)) + dgram(5, ping(5, i, FIRST)) +
                    dgram(4, ping(4, i, SECOND)) + advance(1000) for i in range(3))
    s["accepted"] = accepted + ring + request(7) + frame(8, file_resp(8, 1, 7)) + QUIT
    s["rejected"] = frame(5, join_reject(5, 1)) + advance(1000)
    s["rejected_params"] = frame(5, join_reject(5, 1, PARAMS, 16, BLAKE2B)) + advance(1000)
    # a 16-bit ring's peer 8197 at 5's address: its id is past our ring, and only reported
    s["rejected_by_larger_ring"] = frame(5, msg(JOIN_REJECT, **{"from": (8197, "127.0.0.1", 50005), "seq": 1,
                                                                "reason": PARAMS, "params": (16, NUMBERS)}))
    s["rejected_recipe"] = recipe(1, 5, JOIN_REJECT, seq=1, bits16=True, params_reason=True) + advance(1000)
    s["spoofed_accept"] = frame(5, join_accept(5, 1, 8, 1), spoofed=True) + \
        recipe(1, 5, JOIN_ACCEPT, seq=1, s1=8, s2=1, off=True) + frame(5, join_accept(5, 1, 8, 1)) + advance(1000)
    s["no_answer"] = unreachable(5) + advance(1000)
    s["timeout"] = request(1) + QUIT + dgram(5, ping(5, 0, FIRST)) + advance(5000) + advance(1000)
    s["wrong_answers"] = frame(5, join_accept(5, 2, 8, 1)) + frame(8, join_reject(8, 3)) + \
        frame(5, join_accept(5, 1, 256, 1)) + frame(5, join_accept(5, 1, 8, 1)) + frame(5, join_accept(5, 1, 8, 1))
    s["accepted_repairing"] = frame(5, join_accept(5, 1, 8, 8)) + frame(8, succ_reply(8, 1, 1, 3)) + advance(1000)
    s["accepted_alone"] = frame(5, join_accept(5, 1, 5, 6)) + advance(1000)
    s["accepted_self"] = frame(5, join_accept(5, 1, 6, 8)) + request(9) + advance(1000)
    s["recipe_accept"] = recipe(1, 5, JOIN_ACCEPT, seq=1, s1=8, s2=1) + advance(3000) + \
        recipe(1, 8, STAB_REPLY, seq=1, s1=1, s2=3, about=6, age=1)
    PEERS = saved
    return s


def node_lists_seeds():
    """fuzz_node_lists.c: peer 4 with a list of 4 and fingers (its stabilization question is id 1,
    its finger lookups are answered as id 1, which the harness maps to the real id)."""
    s = dict(node_seeds())
    stab = msg(STAB_REPLY, **{"from": P(5), "seq": 1, "succ": [P(8), P(1), P(3)], "about": P(4), "age": 100})
    s["list_learned"] = classic_pings(3) + frame(5, stab) + advance(1000)
    found = msg(FIND_RESP, **{"from": P(8), "seq": 1, "hops": 2, "key": 8})
    s["finger_found"] = classic_pings(3) + frame(5, stab) + advance(2000) + frame(8, found) + request(100) + \
        unreachable(8) + advance(1000)
    s["find_routed"] = classic_pings(1) + frame(3, msg(FIND_REQ, **{"from": P(3), "origin": P(1), "seq": 4,
                                                                      "hops": 1, "flags": 0, "key": 200})) + \
        frame(3, msg(FIND_REQ, **{"from": P(3), "origin": P(1), "seq": 5, "hops": 1, "flags": 1, "key": 4}))
    s["adjacent_dead"] = classic_pings(3) + frame(5, stab) + advance(6000) + unreachable(1) + advance(1000)
    return s


def msg_seeds():
    frm = {"from": P(3)}
    s = {
        "ping": ping(3, 0, FIRST),
        "ping_second": ping(1, 0x7fffffff, SECOND),
        "pong": pong(5, 1),
        "file_req": file_req(3, 1, 7, 2012, 2, FINAL),
        "file_resp": file_resp(1, 7, 9999),
        "file_resp_content": file_resp(1, 7, 2012, 1, 0x0102030405060708),
        "depart": depart(5, 8, 1),
        "depart_ack": depart_ack(3),
        "succ_query": succ_query(4, 2),
        "succ_reply": succ_reply(8, 2, 1, 3),
        "witness_query": witness_query(3, 9, 5),
        "witness_reply": witness_reply(5, 9, 8, 1500),
        "witness_never": witness_reply(5, 10, 8, AGE_NEVER),
        "join_req": join_req(3, 6, 1, 2),
        "join_accept": join_accept(5, 1, 8, 1),
        "join_reject": join_reject(5, 1),
        "join_reject_params": join_reject(5, 1, PARAMS, 64, BLAKE2B),
        "succ_change": succ_change(5, 5, 6),
        "stab_query": stab_query(4, 3),
        "stab_reply": stab_reply(5, 3, 8, 1, NONE, AGE_NEVER),
        "store_req": store_req(3, 1, 7, 2012, 2, FINAL),
        "store_accept": msg(STORE_ACCEPT, **{"from": P(1), "seq": 7, "name": name(2012), "token": 0xfeedfacecafebeef}),
        "store_done": msg(STORE_DONE, **{"from": P(1), "seq": 7, "name": name(2012), "about": P(4)}),
        "xfer_handover": xfer(8, 0, 6, 2, 3000, bytes(range(32)), b"txt"),
        "xfer_get": xfer(1, 7, 2012, 1, 700000, bytes(32), b"pdf", 0x0102030405060708),
        "keys_req": msg(KEYS_REQ, **{"from": P(6), "about": P(5), "token": 0x1111}),
        "keys_done": msg(KEYS_DONE, **{"from": P(8), "seq": 1, "token": 0x1111}),
        "join_ack": msg(JOIN_ACK, **{"from": P(6), "seq": 1, "token": 0x2222}),
        "depart_confirm": msg(DEPART_CONFIRM, **{"from": P(8), "token": 0x3333}),
        "keys_offer": msg(KEYS_OFFER, **{"from": P(5), "key": 3}),
        "keys_grant": msg(KEYS_GRANT, **{"from": P(8), "token": 0x4444}),
        "find_req": msg(FIND_REQ, **{"from": P(3), "origin": P(1), "seq": 9, "hops": 2, "flags": 0, "key": 200}),
        "find_resp": msg(FIND_RESP, **{"from": P(12), "seq": 9, "hops": 3, "key": 200}),
        # wire v2: IPv6 records, 64-bit ids, any name, long lists
        "v6_ping": msg(PING, **{"from": V6(0xffffffffffffffff, 0xffff, 65535), "seq": 1, "role": FIRST}),
        "v6_file_req": msg(FILE_REQ, **{"from": V6(1 << 63, 2), "origin": V4(7, 9), "seq": 3,
                                        "name": "report-2026.pdf", "hops": 1}),
        "long_name": msg(STORE_REQ, **{"from": V4(2, 2), "origin": V6(3, 3), "seq": 1, "name": b"\xc3\xa9" * 127}),
        "full_list": msg(SUCC_REPLY, **{"from": V6(1, 1), "seq": 9, "succ": [V6(i << 58, i + 1) for i in range(32)]}),
        "list_with_none": msg(DEPART, **{"from": V4(1, 1), "succ": [None, V4(5, 5), None]}),
        "empty_list": msg(STAB_REPLY, **{"from": V4(1, 1), "seq": 1, "succ": [], "about": None, "age": 5}),
    }
    s["bad_xfer_kind"] = xfer(8, 0, 6, 3, 10)
    s["bad_xfer_ext"] = xfer(8, 0, 6, 1, 10, ext=b"p/f")
    s["bad_version"] = b"\x01" + ping(3, 0, FIRST)[1:]
    s["bad_type"] = b"\x02\x1b\x00\x00"
    s["type_zero"] = b"\x02\x00\x00\x08" + bytes(8)
    s["short"] = pong(5, 1)[:9]
    s["trailing"] = depart_ack(3) + b"\x00"
    s["bad_role"] = ping(3, 0, 3)
    s["bad_flags"] = file_req(3, 1, 7, 2012, 0, 2)
    s["bad_length"] = W.frame(PONG, W.body(PONG, **{"from": P(5), "seq": 1}) + b"\x00")
    s["bad_family"] = W.frame(PONG, W.body(PONG, **{"from": P(5), "seq": 1}).replace(b"\x04\x7f", b"\x05\x7f", 1))
    s["port_zero"] = pong(5, 1).replace(struct.pack(">H", 50005), b"\x00\x00", 1)
    s["none_from"] = W.frame(PONG, W.body(PONG, **{"from": None, "seq": 1}))
    s["none_with_id"] = W.frame(STAB_REPLY, W.body(STAB_REPLY, **{"from": P(5), "seq": 1, "succ": []}
                                                    )[:-13] + struct.pack(">QB", 7, 0) + struct.pack(">I", 5))
    s["bad_name"] = file_req(3, 1, 7, 2012).replace(b"2012", b"20/2", 1)
    s["empty_name"] = W.frame(FILE_RESP, W.body(FILE_RESP, **{"from": P(1), "seq": 7, "name": b""}))
    s["list_too_long"] = W.frame(DEPART, W.peer_bytes(P(5)) + bytes([33]) + W.peer_bytes(None) * 33)
    s["count_lies"] = W.frame(DEPART, W.peer_bytes(P(5)) + bytes([3]) + W.peer_bytes(P(8)) * 2)
    s["bad_bits"] = join_req(3, 6, 1).replace(b"\x08\x00", b"\x41\x00")
    s["bad_reason"] = W.frame(JOIN_REJECT, W.body(JOIN_REJECT, **{"from": P(5), "seq": 1, "reason": 3,
                                                               "params": (8, 0)}))
    return s


def frame_seeds():
    def ctl(npieces, stop_at=0):
        return bytes([npieces | (stop_at << 4)])

    two = ping(3, 0, FIRST) + pong(5, 0)
    big = msg(SUCC_REPLY, **{"from": V6(1, 1), "seq": 9, "succ": [V6(i, i + 1) for i in range(32)]})
    s = {
        "two_frames": ctl(0) + two,
        "split_inside_header": ctl(2, 0) + bytes([2, 20]) + file_req(3, 1, 7, 6) + file_resp(1, 7, 6),
        "split_bytes": ctl(4) + bytes([1, 1, 1, 1]) + depart(5, 8, 1) + depart_ack(5),
        "witness": ctl(2) + bytes([23, 1]) + witness_query(3, 1, 5) + witness_reply(5, 1, 8, 0),
        "empty_pieces": ctl(3) + bytes([0, 5, 0]) + succ_query(4, 1) + succ_reply(8, 1, 1, 3),
        "partial_tail": ctl(1) + bytes([10]) + two + pong(5, 1)[:6],
        "bad_version": ctl(1) + bytes([13]) + ping(3, 0, FIRST) + b"\x01\x02\x00\x0c" + bytes(12),
        "too_big": ctl(1) + bytes([2]) + pong(5, 0) + b"\x02\x02\xff\xff" + bytes(8),
        "stop_first": ctl(0, 1) + two,
        "empty_body": ctl(0) + b"\x02\x1b\x00\x00" + pong(5, 0),
        "max_frame_partial": ctl(1) + bytes([200]) + b"\x02\x11\x03\xfc" + bytes(400),  # 1024 bytes announced
        "largest_message": ctl(2) + bytes([3, 250]) + big + pong(5, 0),
    }
    return s


def console_seeds():
    lines = {
        "request": "request 2012", "request_upper": "REQUEST 0001", "quit": "quit", "status": "status",
        "pings_off": "pings off", "pings_on": "Pings ON", "help": "help", "empty": "", "blank": " \t ",
        "request_short": "request 12", "request_long": "request 12345", "request_noarg": "request",
        "request_extra": "request 2012 2013", "unknown": "foo bar", "quit_cr": "quit\r",
        "tabs": "\trequest\t0007\t", "many_words": "a b c d e f", "long_word": "x" * 80,
        "control": "request 20\x0112", "pings_bad": "pings maybe",
        "store": "store 2012", "store_path": "store 2012 /tmp/a.pdf", "store_upper": "STORE 0007 x",
        "store_bad": "store 20x2 f", "store_noarg": "store", "store_extra": "store 2012 a b",
        "store_long_path": "store 0001 " + "p" * 239 + "\x7f",
        # --listen (the fuzzer parses every line in both forms): any name, quotes
        "named": "request report-2026.pdf", "named_dots": "store .. x", "named_slash": "store ../../etc/passwd",
        "named_quoted": 'store notes "my notes.txt"', "named_open_quote": 'store notes "my notes.txt',
        "named_longest": "request " + "n" * 255, "named_too_long": "request " + "n" * 256,
    }
    seeds = {k: v.encode("latin-1") for k, v in lines.items()}
    seeds["named_utf8"] = "request caf\u00e9 \u00fcn\u00efcode".encode()
    return seeds


def args_seeds():
    sets = {
        "classic": ["4", "5", "8"],
        "alone": ["1", "1", "1"],
        "two_peers": ["4", "5", "4"],
        "intervals": ["--ping-interval", "0.5", "--ping-timeout=0.25", "4", "5", "8"],
        "misses": ["--misses=3", "--request-timeout", "86400", "--leave-timeout=2", "1", "3", "4"],
        "help": ["--help"], "h": ["-h"], "version": ["--version"],
        "dashdash": ["--", "4", "5", "8"],
        "same_succ": ["4", "5", "5"], "self_first": ["4", "4", "5"], "five": ["1", "2", "3", "500", "0.1"],
        "too_far": ["300", "1", "2"], "negative": ["-1", "2", "3"], "timeout_too_long": ["--ping-timeout", "20", "4", "5", "8"],
        "unknown": ["--bogus", "4", "5", "8"], "no_value": ["4", "5", "8", "--misses"],
        "flag_value": ["--help=1"], "fine_seconds": ["--ping-interval", "0.0005", "4", "5", "8"],
        "empty_arg": ["", "5", "8"],
        "join": ["6", "--join", "5"], "join_form": ["join", "6", "5", "0.5"], "init_form": ["init", "4", "5", "8", "2"],
        "join_self": ["join", "6", "6"], "join_extra": ["6", "--join=5", "8"],
        "transport": ["--events", "ev.log", "--drop", "0.05", "--max-connections", "16", "--idle-timeout=5", "4", "5", "8"],
        "rates": ["--udp-rate", "0", "--stabilize-interval", "0", "4", "5", "8"],
        "bad_drop": ["--drop", "1.5", "4", "5", "8"], "empty_events": ["--events=", "4", "5", "8"],
        "long_ids": ["join", "123456789012345678901234567890", "x" * 30],
    }
    return {k: b"\x00".join(a.encode() for a in v) for k, v in sets.items()}


def write_regressions(target, inputs):
    """Rewrites the named regress_* inputs (other files are left alone)."""
    d = os.path.join(HERE, "corpus", target)
    for name, data in inputs.items():
        assert len(data) < 1024, (target, name, len(data))
        with open(os.path.join(d, "regress_" + name), "wb") as f:
            f.write(data)


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith("seed_"):
            os.remove(os.path.join(d, name))
    assert len(seeds) < 64  # a seed corpus, not a test suite
    for name, data in seeds.items():
        assert len(data) < 1024, (target, name, len(data))
        with open(os.path.join(d, "seed_" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("msg", msg_seeds())
    write("frame", frame_seeds())
    write("console", console_seeds())
    write("args", args_seeds())
    write("node", node_seeds())
    write_regressions("node", node_regressions())
    write("node_join", node_join_seeds())
    write("node_lists", node_lists_seeds())
