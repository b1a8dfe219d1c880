#!/usr/bin/python3
"""Writes the seed corpora of the server harnesses: tests/fuzz/corpus/rpc (msgpack-rpc byte
streams: every method, valid and typically invalid, alone and several to a stream) and
tests/fuzz/corpus/http (JSON bodies of POST /recommend). They are meant for the world of
tests/fuzz/fuzz_world.h: items 0 .. 999, content of 16 floats, vectors of 8, versions v000001 ..
v000003, the admin token "fuzz".

usage: /usr/bin/python3 tests/fuzz/make_server_seeds.py   (rewrites both folders)
"""
import json
import os
import shutil

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "fuzz"
VEC = [0.5, -0.25, 0.125, 1.0, 0.0, -1.0, 0.75, 0.3]
CONTENT = [0.1 * (i % 5) - 0.2 for i in range(16)]
FVEC = [0.1, -0.2, 0.3, 0.05, -0.4, 0.2, 0.1, 0.7]
_msgid = [0]


def req(method, params=None, msgid=None, raw_params=False):
    """A request frame; params a dict sent as [params] (what most clients send) unless raw."""
    _msgid[0] += 1
    p = params if raw_params else ([] if params is None else [params])
    return msgpack.packb([0, _msgid[0] if msgid is None else msgid, method, p], use_bin_type=True)


def note(method, params=None):
    return msgpack.packb([2, method, [] if params is None else [params]], use_bin_type=True)


def admin(params):
    return dict(params, token=TOKEN)


RPC = {
    # the methods, as a client calls them
    "ping": req("ping"),
    "ping_notify_then_ping": note("ping") + req("ping"),
    "recommend": req("recommend", {"history": [1, 2, 3], "k": 5}),
    "recommend_options": req("recommend", {"history": [5, 6, 7, 8], "k": 10, "nprobe": 4, "exclude": [1, 2],
                                           "exclude_history": True, "report": True}),
    "recommend_batch": req("recommend", {"histories": [[1, 2], [3], []], "k": 3}),
    "recommend_empty_history": req("recommend", {"history": [], "k": 4, "exclude": [0]}),
    "recommend_unknown_ids": req("recommend", {"history": [123456, -5, 1, 2**63 - 1], "report": True}),
    "recommend_long_history": req("recommend", {"history": list(range(0, 640, 10)), "k": 50}),
    "encode_user": req("encode_user", {"history": [10, 20, 30]}),
    "encode_user_batch": req("encode_user", {"histories": [[10], [], [999, 998]]}),
    "search": req("search", {"vector": VEC, "k": 5}),
    "search_batch_nprobe": req("search", {"vectors": [VEC, [1] * 8], "k": 3, "nprobe": 8, "exclude": [4]}),
    "item": req("item", {"id": 3}),
    "stats": req("stats"),
    "add_items_text": req("add_items", admin({"items": [{"id": 5000, "text": "red cordless drill"}]})),
    "add_items_content": req("add_items", admin({"items": [{"id": 5001, "content": CONTENT}]})),
    "remove_items": req("remove_items", admin({"ids": [1, 2, 3]})),
    "reload_current": req("reload", admin({})),
    "reload_v1": req("reload", admin({"version": "v000001"})),
    # several calls that see each other's changes
    "add_then_use": req("add_items", admin({"items": [{"id": 7000, "text": "blue glove"},
                                                      {"id": 7001, "content": CONTENT}]}))
    + req("recommend", {"history": [7000, 7001, 4], "report": True}) + req("item", {"id": 7000})
    + req("search", {"vector": VEC, "k": 3}) + req("stats"),
    "remove_then_use": req("remove_items", admin({"ids": [0, 1, 5000]})) + req("item", {"id": 1})
    + req("recommend", {"history": [], "k": 3}) + req("add_items", admin({"items": [{"id": 1, "text": "x"}]})),
    "fastscan_version": req("reload", admin({"version": "v000002"})) + req("search", {"vector": VEC, "nprobe": 4})
    + req("remove_items", admin({"ids": [7, 8]})) + req("recommend", {"history": [7, 9], "k": 5})
    + req("add_items", admin({"items": [{"id": 8, "content": CONTENT}]})),
    "flat_version": req("reload", admin({"version": "v000001"})) + req("search", {"vector": VEC, "nprobe": 3}),
    "notified_admin_then_query": note("add_items", admin({"items": [{"id": 9000, "text": "lamp"}]}))
    + req("item", {"id": 9000}),
    # typical mistakes
    "recommend_both_histories": req("recommend", {"history": [1], "histories": [[1]]}),
    "recommend_bad_types": req("recommend", {"history": "1,2", "k": "5"}) + req("recommend", {"history": [1.5]})
    + req("recommend", {"history": [1], "exclude_history": 1}),
    "recommend_limits": req("recommend", {"history": [1], "k": 0}) + req("recommend", {"history": [1], "k": 100000})
    + req("recommend", {"histories": [[1]] * 9}) + req("recommend", {"history": list(range(65))}),
    "search_bad_vectors": req("search", {"vector": VEC[:7]}) + req("search", {"vector": [float("nan")] * 8})
    + req("search", {"vector": [1e39] * 8}) + req("search", {"vectors": "x"}),
    "item_missing": req("item", {"id": 99999}) + req("item", {}) + req("item", {"id": "3"}),
    "add_items_mistakes": req("add_items", {"items": [{"id": 5000, "text": "no token"}]})
    + req("add_items", admin({"items": [{"id": 3, "text": "catalogue id"}]}))
    + req("add_items", admin({"items": [{"id": 6000, "text": "a", "content": CONTENT}]}))
    + req("add_items", admin({"items": [{"id": 6001, "content": [1.0] * 3}]}))
    + req("add_items", admin({"items": [{"id": 6002, "text": "a"}, {"id": 6002, "text": "b"}]}))
    + req("add_items", admin({"items": [{"id": -1, "text": "negative"}]})),
    "remove_items_mistakes": req("remove_items", {"ids": [1]}) + req("remove_items", admin({"ids": "1"}))
    + req("remove_items", {"ids": [1], "token": "wrong"}),
    "reload_mistakes": req("reload", admin({"version": "../v000001"})) + req("reload", admin({"version": "v000009"}))
    + req("reload", admin({"version": 3})) + req("reload", {"token": b"fuzz"}),
    "params_shapes": req("ping", None, raw_params=True) + req("stats", {}, raw_params=True)
    + req("item", [{"id": 1}, {"id": 2}], raw_params=True) + req("ping", 7, raw_params=True),
    "unknown_method": req("nope") + req(b"ping") + req(b"\xff\xfe") + note("nope"),
    "bad_envelopes": msgpack.packb([0, -1, "ping", []]) + msgpack.packb([0, 2**33, "ping", []])
    + msgpack.packb([0, 5, 7, []]) + msgpack.packb([1, 5, None, 1]) + msgpack.packb({"a": 1})
    + msgpack.packb([2, 5, []]) + msgpack.packb("ping"),
    "garbage_after_request": req("ping") + b"\xc1\x00",
    "truncated_request": req("recommend", {"history": [1, 2, 3]})[:-2],
    "deep_nesting": req("ping") + b"\x91" * 40 + b"\x00",
    "huge_length_claim": req("ping") + b"\xdd\xff\xff\xff\xff",
    "ext_and_bin_params": msgpack.packb([0, 9, "recommend", [{"history": [1], b"k": msgpack.ExtType(1, b"ab")}]],
                                        use_bin_type=True),
    # filters, caps and similar (the world's attributes: fuzz_world.h), params as a bare map
    "filters_caps_similar": req("search", {"vector": FVEC, "k": 5, "filter": {"brand": ["b1", "b3"],
                                           "not": {"category": "c2", "ids": [4]}}, "max_per": {"category": 2}}, msgid=1, raw_params=True)
    + req("recommend", {"history": [1, 2, 3], "k": 7, "exclude_history": True,
                        "filter": {"ids": [5, 6, 7, 8, 9, 10, 11]}, "max_per": {"brand": 1}}, msgid=2, raw_params=True)
    + req("similar", {"id": 3, "k": 4, "filter": {"category": ["d1"]}}, msgid=3, raw_params=True)
    + req("similar", {"ids": [3, 4, 5], "k": 3, "max_per": {"category": 1}, "nprobe": 3}, msgid=4, raw_params=True)
    + req("recommend", {"history": [], "k": 5, "filter": {"brand": "b2"}}, msgid=5, raw_params=True),
    "filters_mistakes": req("search", {"vector": FVEC, "filter": {"colour": "red"}}, msgid=6, raw_params=True)
    + req("search", {"vector": FVEC, "filter": [1]}, msgid=7, raw_params=True)
    + req("search", {"vector": FVEC, "filter": {"brand": [1]}, "max_per": {"brand": 0}}, msgid=8, raw_params=True)
    + req("similar", {"id": 99999}, msgid=9, raw_params=True) + req("similar", {}, msgid=10, raw_params=True),
    "add_with_attributes": req("add_items", admin({"items": [
        {"id": 7100, "content": CONTENT, "attributes": {"brand": "b9", "category": ["c1", "new"]}},
        {"id": 7101, "text": "grey mat", "attributes": {"brand": ["b1"]}}]}))
    + req("search", {"vector": VEC, "k": 5, "filter": {"category": "new"}})
    + req("search", {"vector": VEC, "k": 5, "filter": {"brand": ["b9", "b1"]}, "max_per": {"brand": 1}})
    + req("recommend", {"history": [7100, 2], "k": 4, "filter": {"not": {"brand": "b9"}}})
    + req("item", {"id": 7100})
    + req("add_items", admin({"items": [{"id": 7102, "text": "x", "attributes": {"colour": "red"}}]}))
    + req("add_items", admin({"items": [{"id": 7103, "text": "x", "attributes": {"brand": [1]}}]})),
}

HTTP = {
    "recommend": {"history": [1, 2, 3], "k": 5},
    "recommend_options": {"history": [5, 6, 7, 8], "k": 10, "nprobe": 4, "exclude": [1, 2],
                          "exclude_history": True, "report": True},
    "recommend_batch": {"histories": [[1, 2], [3], []], "k": 3},
    "recommend_empty": {"history": []},
    "recommend_unknown": {"history": [123456, -5, 9223372036854775807], "report": True},
    "bad_types": {"history": [1.5], "k": "5"},
    "both_histories": {"history": [1], "histories": [[1]]},
    "limits": {"history": [1], "k": 100000},
    "token_ignored": {"history": [2], "token": "x", "method": "reload"},
    "filter": {"history": [1, 2, 3], "k": 5, "filter": {"category": ["c1"], "not": {"brand": ["b0"]}},
               "max_per": {"category": 2}},
}
HTTP_RAW = {
    "not_json": b"history=1,2,3",
    "array_body": b"[1, 2, 3]",
    "deep": b'{"history": ' + b"[" * 70 + b"]" * 70 + b"}",
    "escapes": b'{"history": [1], "k": 3, "\\u00e9\\ud83d\\ude00": "\\u0000"}',
    "empty": b"",
}


def write(folder, files):
    path = os.path.join(HERE, "corpus", folder)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("rpc", RPC)
    http = {k + ".json": json.dumps(v).encode() for k, v in HTTP.items()}
    http.update({k + ".json": v for k, v in HTTP_RAW.items()})
    write("http", http)
    print("rpc: %d seeds, http: %d seeds" % (len(RPC), len(http)))
