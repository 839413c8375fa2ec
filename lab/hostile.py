#!/usr/bin/env python3
"""Hostile and odd servers for the health-check tests of the fnat live lab (see docs/LAB.md).

  hostile.py [--silent PORT] [--garbage PORT] [--reset PORT] [--dns PORT] [--pidfile FILE]

--silent   TCP: accepts and never answers (holds the connection until the client goes).
--garbage  TCP: accepts, answers a line that is not HTTP, closes.
--reset    TCP: accepts and resets the connection at once (SO_LINGER 0).
--dns      UDP: a small DNS responder: NOERROR with no answer to any query; NXDOMAIN for names
           that start with "missing".

One thread per listener; runs until killed.
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    return s


def silent(port):
    s = listener(port)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)
        # Keep the latest few: a check opens one connection an interval.
        if len(held) > 64:
            held.pop(0).close()


def garbage(port):
    s = listener(port)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"xyzzy this is not HTTP\r\n\r\n")
        except OSError:
            pass
        c.close()


def reset(port):
    s = listener(port)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()


def question_name(msg):
    labels, i = [], 12
    while i < len(msg) and msg[i] != 0:
        n = msg[i]
        labels.append(msg[i + 1 : i + 1 + n].decode(errors="replace"))
        i += 1 + n
    return ".".join(labels), i + 5


def dns(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        msg, peer = s.recvfrom(512)
        if len(msg) < 12:
            continue
        name, end = question_name(msg)
        rcode = 3 if name.startswith("missing") else 0
        ident = msg[:2]
        # QR, opcode 0, RD copied, RA; one question, no answers.
        flags = 0x8000 | (msg[2] << 8 & 0x0100) | 0x0080 | rcode
        s.sendto(ident + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + msg[12:end], peer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for kind in ("silent", "garbage", "reset", "dns"):
        ap.add_argument(f"--{kind}", type=int)
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    for kind, run in (("silent", silent), ("garbage", garbage), ("reset", reset), ("dns", dns)):
        port = getattr(a, kind)
        if port:
            threading.Thread(target=run, args=(port,), daemon=True).start()
    time.sleep(0.2)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
