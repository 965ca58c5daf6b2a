"""Section 1: one JS-SDK signature (nonce + timestamp + SHA-1), ours against the peers.

Each implementation runs in its own child process behind the same line protocol and
the same timing loop; the parent asks each for one round in turn, so a burst of load
on a busy machine hits every implementation alike, and takes medians over the rounds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .peers import (
    CHILDREN,
    WECHAT_JSSDK_VERSION,
    WECHATPY_VERSION,
    LineChild,
    Peers,
    PeerUnavailable,
    child_env,
)
from .report import INFO, UNAVAILABLE, Row, check, median, spread, us

SECTION = "1. signature, µs/call"
TARGET_US = 2.5


@dataclass
class Subject:
    label: str
    child: LineChild | None = None
    reason: str = ""
    check: str = ""
    rounds: list[float] = field(default_factory=list)


def _python_child(
    name: str, python: str, impl: str, target: float, clock: str, *, ours: bool
) -> LineChild:
    command = [python, str(CHILDREN / "sign_child.py"), "--impl", impl]
    command += ["--target-seconds", str(target), "--clock", clock]
    return LineChild(name, command, child_env(with_repo=ours), timeout=120)


def _start(subject: Subject, make: Callable[[], LineChild]) -> None:
    try:
        subject.child = make()
        ready = subject.child.read_line().split()
        if len(ready) != 3 or ready[0] != "ready":
            raise PeerUnavailable(f"unexpected answer {' '.join(ready)[:80]!r}")
        subject.check = ready[2]
    except PeerUnavailable as exc:
        subject.reason = str(exc)
        if subject.child is not None:
            subject.child.close()
        subject.child = None


def run(peers: Peers, *, rounds: int, target_seconds: float, clock: str) -> list[Row]:
    python = sys.executable
    ours = Subject("ours: make_nonce + int(time.time()) + jsapi_signature")
    ours_jssdk = Subject("ours: wechat.jssdk.gen_signature (builds the dict too)")
    wechatpy = Subject(f"wechatpy {WECHATPY_VERSION}: random_string + get_jsapi_signature")
    node = Subject(f"wechat-jssdk {WECHAT_JSSDK_VERSION} (node): JSSDK.generateSignature")
    subjects = [ours, ours_jssdk, wechatpy, node]

    _start(ours, lambda: _python_child("ours", python, "ours", target_seconds, clock, ours=True))
    _start(
        ours_jssdk,
        lambda: _python_child("ours-jssdk", python, "ours-jssdk", target_seconds, clock, ours=True),
    )
    if peers.wechatpy_python is not None:
        wpy = str(peers.wechatpy_python)
        _start(
            wechatpy,
            lambda: _python_child("wechatpy", wpy, "wechatpy", target_seconds, clock, ours=False),
        )
    else:
        wechatpy.reason = peers.wechatpy_reason
    if peers.node is not None and peers.node_prefix is not None:
        command = [peers.node, str(CHILDREN / "sign_child.js"), str(peers.node_prefix)]
        command += [str(target_seconds), clock]
        _start(node, lambda: LineChild("wechat-jssdk", command, child_env(with_repo=False), 120))
    else:
        node.reason = peers.node_reason

    try:
        for _ in range(rounds):
            for subject in subjects:
                if subject.child is None:
                    continue
                try:
                    subject.child.send("run")
                    subject.rounds.append(float(subject.child.read_line()))
                except (PeerUnavailable, ValueError) as exc:
                    subject.reason = f"failed mid-run: {exc}"
                    subject.child.close()
                    subject.child = None
                    subject.rounds.clear()
    finally:
        for subject in subjects:
            if subject.child is not None:
                subject.child.close()

    return _rows(ours, ours_jssdk, wechatpy, node)


def _rows(ours: Subject, ours_jssdk: Subject, wechatpy: Subject, node: Subject) -> list[Row]:
    rows: list[Row] = []
    if not ours.rounds:
        return [Row(SECTION, ours.label, f"unavailable ({ours.reason})", status=UNAVAILABLE)]
    mine = median(ours.rounds)
    faster_than_all = True
    peer_rows: list[Row] = []
    for peer in (wechatpy, node):
        if not peer.rounds:
            peer_rows.append(
                Row(SECTION, peer.label, f"unavailable ({peer.reason})", status=UNAVAILABLE)
            )
            continue
        theirs = median(peer.rounds)
        pairs = [o / p for o, p in zip(ours.rounds, peer.rounds, strict=False)]
        same = "" if peer.check == ours.check else "; DIFFERENT signature for the same inputs!"
        faster = mine < theirs
        faster_than_all &= faster
        peer_rows.append(
            Row(
                SECTION,
                peer.label,
                f"{us(theirs)} {spread(peer.rounds)}",
                f"ours/theirs = {median(pairs):.2f}x{same}",
                "ours faster",
                check(faster and not same),
            )
        )
    missing = [p.label.split(":")[0] for p in (wechatpy, node) if not p.rounds]
    rows.append(
        Row(
            SECTION,
            ours.label,
            f"{us(mine)} {spread(ours.rounds)}",
            f"not compared with {', '.join(missing)}" if missing else "",
            f"<= {TARGET_US} µs, faster than both",
            check(mine * 1e6 <= TARGET_US and faster_than_all),
        )
    )
    if ours_jssdk.rounds:
        rows.append(
            Row(
                SECTION,
                ours_jssdk.label,
                f"{us(median(ours_jssdk.rounds))} {spread(ours_jssdk.rounds)}",
                status=INFO,
            )
        )
    return rows + peer_rows
