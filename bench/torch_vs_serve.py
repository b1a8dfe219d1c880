"""Checks that bench/torch_pal.py's user tower (the one bench/py_rpc_server.py serves with) gives
the vectors `learnrec serve` gives: random histories (lengths 1 to 59, so some are cut to the
model's max_len) through torch_pal.user_vectors and through the server's encode_user over a
socket; prints the largest absolute difference. The Python peer of bench/rpc_bench.sh is a fair
peer only while this stays at float rounding (a few 1e-7 for unit vectors).

usage: /usr/bin/python3 bench/torch_vs_serve.py MODEL CONTENT.npy INDEXDIR [N]
       (N histories, default 200; build/learnrec must exist)

Needs Debian's interpreter: numpy, torch, msgpack.
"""
import os
import socket
import subprocess
import sys

import msgpack
import numpy as np

# the command line first: --help and a wrong option are answered where torch is not installed
if __name__ == "__main__" and any(a in ("-h", "--help") for a in sys.argv[1:]):
    print(__doc__)
    sys.exit(0)
if __name__ == "__main__" and (len(sys.argv) not in (4, 5) or any(a.startswith("-") for a in sys.argv[1:])):
    print(__doc__.split("\n\n")[1] + " (try --help)", file=sys.stderr)
    sys.exit(2)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_pal  # noqa: E402


def main():
    model_path, content_path, index_dir = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) == 5 else 200
    learnrec = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "learnrec")

    model, cfg = torch_pal.load_pal(model_path)
    table = torch_pal.item_inputs(model, cfg, np.load(content_path))
    rng = np.random.default_rng(3)
    hists = [rng.integers(0, table.shape[0], size=int(k)).tolist() for k in rng.integers(1, 60, size=n)]
    expected = torch_pal.user_vectors(model, table, hists).numpy()

    server = subprocess.Popen([learnrec, "serve", "--index", index_dir, "--model", model_path,
                               "--content", content_path, "--listen", "127.0.0.1:0",
                               "--http", "127.0.0.1:0"], stdout=subprocess.PIPE)
    try:
        first = server.stdout.readline().decode()  # "listening on HOST:PORT ..."
        port = int(first.split()[2].rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port))
        unpacker = msgpack.Unpacker()
        worst = 0.0
        for i, h in enumerate(hists):
            sock.sendall(msgpack.packb([0, i, "encode_user", {"history": h}]))
            reply = None
            while reply is None:
                unpacker.feed(sock.recv(65536))
                reply = next(unpacker, None)
            if reply[2] is not None:
                sys.exit(f"encode_user failed: {reply[2]}")
            got = np.asarray(reply[3], dtype=np.float32)
            worst = max(worst, float(np.abs(got - expected[i]).max()))
        print(f"{n} histories: max |learnrec serve - torch_pal| = {worst:.3g}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
