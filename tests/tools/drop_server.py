"""A msgpack-rpc server that drops connections, for the reconnection tests of learnrec bench
and query (tests/tools/test_cli.sh).

usage: drop_server.py PORTFILE DROPS
  Listens on 127.0.0.1 (a free port, written to PORTFILE). The first DROPS connections each
  read one request and close without answering; later ones answer every request: recommend
  with [[7, 0.5]], stats with {"items": 100}, anything else with "pong". Prints, at the end
  (SIGTERM), how many requests it read and answered."""
import os
import signal
import socket
import sys
import threading

import msgpack


def main():
    portfile, drops = sys.argv[1], int(sys.argv[2])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    counts = {"read": 0, "answered": 0}

    def done(*_):
        print(f"read {counts['read']} answered {counts['answered']}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    lock = threading.Lock()

    def serve(c, drop):
        up = msgpack.Unpacker(raw=False)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                up.feed(data)
                for req in up:
                    with lock:
                        counts["read"] += 1
                    if drop:
                        raise ConnectionAbortedError
                    _, msgid, method, _params = req
                    result = {"recommend": [[7, 0.5]], "stats": {"items": 100}}.get(method, "pong")
                    c.sendall(msgpack.packb([1, msgid, None, result]))
                    with lock:
                        counts["answered"] += 1
        except (ConnectionAbortedError, ConnectionResetError, BrokenPipeError):
            pass
        c.close()

    n_conn = 0
    while True:
        c, _ = ls.accept()
        n_conn += 1
        threading.Thread(target=serve, args=(c, n_conn <= drops), daemon=True).start()


if __name__ == "__main__":
    main()
