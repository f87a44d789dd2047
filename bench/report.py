#!/usr/bin/env python3
"""Turns the JSON lines of scripts/compare.sh (one per sockjs-bench or
sockjs-soak run) into docs/PERFORMANCE.md: medians per case and server,
ratios against the targets of the performance issues, memory after load,
the fan-out comparison, the machine, and the commands to reproduce. With
--only fanout, rewrites only the "Fan-out" section of an existing report."""

import argparse
import json
import statistics
from collections import defaultdict

SERVERS = {
    "ours": "sockjs-rs",
    "node": "sockjs-node",
    "ceiling": "raw tokio-tungstenite",
    "sio": "socketioxide",
    "sio_ordered": "socketioxide --ordered",
}
FANOUT_SERVERS = ["ours", "node", "sio", "sio_ordered"]
# The closed-loop window of the saturation cases (scripts/compare.sh's
# FAN_WINDOW): the publisher stays at most this many messages ahead of the
# slowest subscriber.
FANOUT_WINDOW = 128
# Sections of the report written by other scripts, kept as they are when
# the whole report is rewritten.
KEPT_SECTIONS = ["## Allocations per broadcast", "## Cross-node fan-out"]
# The soak's target: RSS after the load within this factor of the start.
SOAK_RSS_FACTOR = 2.0


def cases(a):
    """The cases of the Medians table, in order, with their descriptions."""
    return [
        ("ws_throughput", "framed websocket echo, 100 sessions x 10 in flight, 64 B"),
        ("raw_throughput", "raw websocket echo, 100 x 10, 64 B"),
        ("ws_fair", f"framed websocket echo, {a.fair_sessions:,} sessions x 1 in flight, 64 B"),
        ("raw_fair", f"raw websocket echo, {a.fair_sessions:,} x 1, 64 B"),
        ("ws_paced", f"open load: {a.paced_sessions:,} framed websocket sessions x {a.paced_rate:g} msg/s each, 64 B"),
        ("ws_latency", "websocket latency, 1 session x 1 in flight, 64 B"),
        ("xhr_streaming", "xhr-streaming echo, 100 x 10, 64 B"),
        ("xhr_polling", "xhr-polling round trips, 50 sessions x 1"),
        ("connect", "session establishment (/info, websocket until o, close), 10 loops"),
        ("idle_memory", "idle websocket sessions: server RSS per session"),
        ("idle_xhr", "idle xhr-streaming sessions: server RSS per session"),
        ("idle_es", "idle eventsource sessions: server RSS per session"),
        ("scale", "idle websocket sessions at scale (sockjs-rs only)"),
    ]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0):
    if x is None:
        return "-"
    if digits == 0:
        return f"{round(x):,}"
    return f"{x:,.{digits}f}"


def last_per_session(run):
    points = run.get("checkpoints") or []
    return points[-1]["rss_per_session_bytes"] if points else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--commands", required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--finished", required=True)
    ap.add_argument("--load-start", required=True)
    ap.add_argument("--load-end", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--idle-sessions", type=int, required=True)
    ap.add_argument("--scale-sessions", type=int, required=True)
    ap.add_argument("--fanout-sessions", default="1000 10000")
    ap.add_argument("--fair-sessions", type=int, default=1000)
    ap.add_argument("--paced-sessions", type=int, default=10000)
    ap.add_argument("--paced-rate", type=float, default=2.0)
    ap.add_argument("--soak-seconds", type=int, default=20)
    ap.add_argument("--only", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--machine", required=True)
    ap.add_argument("--versions", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    runs = defaultdict(list)
    loads = []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            v = json.loads(line)
            case, server = v["label"].split("/", 1)
            runs[(case, server)].append(v)
            loads.append(v.get("loadavg_1m"))

    def med(case, server, get):
        return median([get(r) for r in runs.get((case, server), [])])

    def tput(case, server):
        return med(case, server, lambda r: r["throughput_per_s"])

    def lat(case, server, q):
        return med(case, server, lambda r: r["latency_us"][q])

    def rss_ps(case, server):
        return med(case, server, last_per_session)

    def cpu_op(case, server):
        return med(case, server, lambda r: r.get("server_cpu_us_per_op"))

    def fair(case, server):
        return med(case, server, lambda r: r.get("fairness"))

    lo = [x for x in loads if x is not None]
    load_txt = f"{min(lo):.2f} / {statistics.median(lo):.2f} / {max(lo):.2f}" if lo else "-"
    with open(a.commands) as f:
        commands = list(dict.fromkeys(line.rstrip("\n") for line in f))
    fan = fanout_section(a, runs, med, load_txt, commands)
    if a.only == "fanout":
        replace_section(a.out, "## Fan-out", fan)
        return

    out = []
    w = out.append
    w("# Performance")
    w("")
    w("Generated by `scripts/compare.sh`" + (" `--quick`" if a.quick else "") + "; do not edit by hand.")
    w("")
    w("## Conditions")
    w("")
    w(f"- Taken {a.started} to {a.finished}, {a.rounds} round(s), medians reported.")
    w(f"- Machine: {a.machine}.")
    w(f"- Versions: {a.versions}.")
    w(f"- Load average (1 min) before each run, min / median / max: {load_txt}; "
      f"`/proc/loadavg` at start `{a.load_start}`, at end `{a.load_end}`. "
      "On a 2-core machine, a load above 2 means other processes competed for the CPUs: "
      "figures taken so are noisy and understate both servers.")
    if a.note:
        w(f"- Note: {a.note}")
    w("- Each server pinned to CPU 0 (`taskset -c 0`), the load generator to CPU 1 (`taskset -c 1`; one "
      "thread, tokio's current-thread scheduler, which serves sessions in the order they become ready); "
      "a fresh server process for every run; servers alternate order between rounds.")
    w("")
    w("## Medians")
    w("")
    w("| case | server | throughput /s | p50 µs | p99 µs | p99.9 µs | fairness | server CPU % | "
      "server CPU µs / op | client CPU % | RSS / idle session | runs | lost+dup+reord+corrupt | errors |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case, desc in cases(a):
        for server in ["ours", "node", "ceiling"]:
            rs = runs.get((case, server))
            if not rs:
                continue
            bad = sum(r["lost"] + r["duplicated"] + r["reordered"] + r["corrupted"] for r in rs)
            errs = sum(r["errors"] for r in rs)
            ps = rss_ps(case, server)
            w(f"| {desc} | {SERVERS[server]} | {fmt(tput(case, server))} | {fmt(lat(case, server, 'p50'))} | "
              f"{fmt(lat(case, server, 'p99'))} | {fmt(lat(case, server, 'p999'))} | "
              f"{fmt(fair(case, server), 2)} | "
              f"{fmt(med(case, server, lambda r: r['server_cpu_percent']), 1)} | "
              f"{fmt(cpu_op(case, server), 2)} | "
              f"{fmt(med(case, server, lambda r: r['client_cpu_percent']), 1)} | "
              f"{fmt(ps) + ' B' if ps is not None else '-'} | {len(rs)} | {bad} | {errs} |")
    w("")
    w("Throughput counts echoed messages (round trips for xhr-polling, sessions for establishment) "
      "completed inside the measured window. **Fairness**: the slowest session's completed count over "
      "the fastest's in that window (1 = every session served alike). **Server CPU µs / op**: the "
      "server's CPU time (user + system, `/proc/PID/stat`) over the measured window divided by what "
      "completed in it (an echoed message; an established session). The websocket echo cases open every "
      "session before the clock starts. **Open load**: every session sends "
      f"{a.paced_rate:g} messages per second on its own schedule (a random phase in the period, so the "
      "load is smooth), whatever is outstanding (open loop), each stamped with its scheduled send time: "
      "latency is measured from the schedule, so a stall shows up in full (no coordinated omission). "
      "For idle cases, latency is the round trip of the one echo every session sends after the hold; "
      "CPU is not sampled there. Each idle case opens its sessions on a fresh server: RSS per session = "
      "(RSS with every session open - RSS before the first) / sessions.")
    w("")

    # Targets.
    w("## Targets")
    w("")
    w("| target | measured | verdict |")
    w("| --- | --- | --- |")

    def ratio(x, y):
        return x / y if x is not None and y not in (None, 0) else None

    def verdict(ok):
        return "-" if ok is None else ("met" if ok else "**not met**")

    def row(name, value_txt, ok):
        w(f"| {name} | {value_txt} | {verdict(ok)} |")

    def vs(case, other, other_case=None, need=1.0, label=""):
        r = ratio(tput(case, "ours"), tput(other_case or case, other))
        row(label, "-" if r is None else f"{r:.2f}x", None if r is None else r >= need)

    def p99_vs(case, most, label):
        a99, b99 = lat(case, "ours", "p99"), lat(case, "node", "p99")
        r = ratio(a99, b99)
        txt = "-" if r is None else f"{r:.2f}x ({fmt(a99)} µs vs {fmt(b99)} µs)"
        row(label, txt, None if r is None else r <= most)

    def fairness_row(case, label):
        f, fn = fair(case, "ours"), fair(case, "node")
        txt = "-" if f is None else f"{f:.2f} (sockjs-node {fmt(fn, 2)})"
        row(label, txt, None if f is None else f >= 0.8)

    for case, name in [("ws_fair", "framed"), ("raw_fair", "raw")]:
        what = f"echo {a.fair_sessions:,} x 1, {name} websocket"
        vs(case, "node", need=3.5, label=f"{what}: throughput >= 3.5x sockjs-node")
        p99_vs(case, 1.0, f"{what}: p99 <= sockjs-node's")
        fairness_row(case, f"{what}: fairness (slowest / fastest session) >= 0.8")

    offered = a.paced_sessions * a.paced_rate
    p99_vs("ws_paced", 0.5, f"open load, {a.paced_sessions:,} websocket sessions x {a.paced_rate:g} msg/s: "
           "p99 <= 0.5x sockjs-node")
    row(f"open load: the offered {fmt(offered)} msg/s carried (informative)",
        f"sockjs-rs {fmt(tput('ws_paced', 'ours'))}/s, sockjs-node {fmt(tput('ws_paced', 'node'))}/s; "
        f"client send lag max {fmt(med('ws_paced', 'ours', lambda r: r.get('send_lag_max_us')))} / "
        f"{fmt(med('ws_paced', 'node', lambda r: r.get('send_lag_max_us')))} µs", None)

    vs("ws_throughput", "node", need=5.0, label="echo 100 x 10, framed websocket: throughput >= 5x sockjs-node")
    c_ours, c_ceil = cpu_op("ws_throughput", "ours"), cpu_op("raw_throughput", "ceiling")
    rc = ratio(c_ours, c_ceil)
    row("echo 100 x 10: server CPU per echoed message, framed sockjs-rs <= 1.15x raw tokio-tungstenite",
        "-" if rc is None else
        f"{rc:.2f}x (sockjs-rs {fmt(c_ours, 2)} µs framed, {fmt(cpu_op('raw_throughput', 'ours'), 2)} µs raw; "
        f"raw tokio-tungstenite {fmt(c_ceil, 2)} µs; sockjs-node {fmt(cpu_op('ws_throughput', 'node'), 2)} µs)",
        None if rc is None else rc <= 1.15)
    vs("ws_throughput", "ceiling", other_case="raw_throughput", need=0.85,
       label="framed websocket throughput >= 0.85x raw tokio-tungstenite")
    vs("raw_throughput", "ceiling", need=0.95, label="raw websocket throughput >= 0.95x raw tokio-tungstenite")
    r50 = ratio(lat("ws_latency", "ours", "p50"), lat("ws_latency", "node", "p50"))
    row("websocket latency p50 <= 0.8x sockjs-node", "-" if r50 is None else f"{r50:.2f}x",
        None if r50 is None else r50 <= 0.8)
    r99 = ratio(lat("ws_latency", "ours", "p99"), lat("ws_latency", "node", "p99"))
    row("websocket latency p99 <= sockjs-node", "-" if r99 is None else f"{r99:.2f}x",
        None if r99 is None else r99 <= 1.0)
    vs("xhr_streaming", "node", need=3.0, label="xhr-streaming throughput >= 3x sockjs-node")
    vs("xhr_polling", "node", need=2.5, label="xhr-polling round trips >= 2.5x sockjs-node")
    vs("connect", "node", need=3.0, label="session establishment >= 3x sockjs-node")
    rcs = ratio(cpu_op("connect", "ours"), cpu_op("connect", "node"))
    row("session establishment: server CPU per session (informative)",
        "-" if rcs is None else f"{rcs:.2f}x (sockjs-rs {fmt(cpu_op('connect', 'ours'), 1)} µs, "
        f"sockjs-node {fmt(cpu_op('connect', 'node'), 1)} µs)", None)
    rm = ratio(rss_ps("idle_memory", "ours"), rss_ps("idle_memory", "node"))
    row(f"idle websocket memory ({a.idle_sessions:,} sessions): RSS per session <= 1/4 of sockjs-node",
        "-" if rm is None else f"{rm:.2f}x", None if rm is None else rm <= 0.25)
    for case, name in [("idle_xhr", "xhr-streaming"), ("idle_es", "eventsource")]:
        x, y = rss_ps(case, "ours"), rss_ps(case, "node")
        r = ratio(x, y)
        row(f"idle {name} memory ({a.idle_sessions:,} sessions): RSS per session (informative)",
            "-" if r is None else f"{r:.2f}x ({fmt(x)} B vs {fmt(y)} B)", None)

    scale = runs.get(("scale", "ours"), [])
    if scale:
        answered = min(r.get("answered", 0) for r in scale)
        held = answered == a.scale_sessions and all(r["errors"] == 0 for r in scale)
        row(f"scale: hold {a.scale_sessions:,} idle websocket sessions, every one answering an echo afterwards",
            f"{answered:,} answered (worst run)", held)
        by_n = defaultdict(list)
        for r in scale:
            for p in r.get("checkpoints") or []:
                by_n[p["sessions"]].append(p["rss_per_session_bytes"])
        points = sorted((n, median(v)) for n, v in by_n.items())
        txt = ", ".join(f"{n:,}: {fmt(v)} B" for n, v in points)
        vals = [v for _, v in points if v is not None]
        last = vals[-1] if vals else None
        flat = None if not vals or not last else all(0.75 * last <= v <= 1.25 * last for v in vals)
        row("scale: RSS per session flat (each checkpoint within ±25% of the last)", txt, flat)
    else:
        row("scale", "not run", None)

    soak = soak_figures(runs)
    so = soak.get("ours")
    if so:
        back = so["end"] / so["start"] if so["start"] else None
        row(f"after the soak's load, sockjs-rs RSS back within {SOAK_RSS_FACTOR:g}x of its start",
            "-" if back is None else f"{back:.2f}x (start {so['start'] / 1024:.1f} MiB, peak "
            f"{so['peak'] / 1024:.1f} MiB, after {so['end'] / 1024:.1f} MiB)",
            None if back is None else back <= SOAK_RSS_FACTOR)
    else:
        row("soak", "not run", None)

    def faults(rs):
        return sum(r.get(k, 0) for r in rs for k in ["lost", "duplicated", "reordered", "corrupted", "errors"])

    ours = [r for (_, server), rs in runs.items() if server == "ours" for r in rs]
    others = [r for (_, server), rs in runs.items() if server != "ours" for r in rs]
    bad = faults(ours)
    row("correctness under load: 0 lost, duplicated, reordered, corrupted (and no session error), "
        "every sockjs-rs run", f"{bad} in {len(ours)} runs (the other servers: {faults(others)} in "
        f"{len(others)} runs)", bad == 0)
    w("")
    w("Verdicts come from the medians above; rows marked informative carry no target.")
    w("")
    out.extend(soak_section(a, runs, soak))

    out.extend(fan)
    # Sections other scripts write (scripts/alloc-fanout.sh) are kept.
    for heading in KEPT_SECTIONS:
        out.extend(existing_section(a.out, heading))
    w("## Reproduce")
    w("")
    w("```sh")
    w("scripts/compare.sh            # full: 3 rounds, 10 s runs, 10,000 and 19,000 idle sessions, "
      "fan-out, soak (~55 min)")
    w("scripts/compare.sh --quick    # 1 round, 3 s runs, 2,000 and 4,000 idle sessions (~10 min)")
    w("scripts/compare.sh --only fanout              # the fan-out rows alone (~25 min); rewrites only that section")
    w("scripts/alloc-fanout.sh --out docs/PERFORMANCE.md   # allocations per broadcast (valgrind DHAT, ~1 min)")
    w("```")
    w("")
    w("It builds `sockjs-test-server` and `sockjs-bench` (release), installs `sockjs@0.3.24` from "
      "`bench/node/package-lock.json` into `target/bench-node`, raises the open-files soft limit to the hard "
      "one (`ulimit -n`), then runs for every round (ADDR and PID are those of the fresh server; the servers "
      "run as `taskset -c 0 sockjs-test-server --port 0 --max-connections 20000` (for the soak also `--stats`), "
      "`taskset -c 0 node bench/node/server.js --port 0`, "
      "`taskset -c 0 ws-ceiling --port 0`, the client as `taskset -c 1 ...`):")
    w("")
    w("```sh")
    for line in commands:
        w(line)
    w("```")
    w("")
    with open(a.out, "w") as f:
        f.write("\n".join(out))


def soak_figures(runs):
    """Median soak figures per server: RSS start, peak, end (KiB) and more."""
    out = {}
    for server in ["ours", "node"]:
        rs = runs.get(("soak", server))
        if not rs:
            continue
        m = lambda k: median([r.get(k) for r in rs])  # noqa: E731
        out[server] = {
            "start": m("rss_start_kib"), "peak": m("rss_peak_kib"), "end": m("rss_end_kib"),
            "sessions": m("sessions"), "verified": m("measured"), "settle": m("rss_settle_s"),
            "reclaimed": m("reclaimed_after_s"),
            "settled": all(r.get("rss_end_settled") for r in rs),
            "live": max((r.get("live_sessions_after") for r in rs), key=lambda x: -1 if x is None else x),
            "lost": sum(r.get("lost", 0) for r in rs), "errors": sum(r.get("errors", 0) for r in rs),
            "runs": len(rs),
        }
    return out


def soak_section(a, runs, soak):
    """The "Memory after load" section: the soak's RSS figures per server."""
    if not soak:
        return []
    out = []
    w = out.append
    w("## Memory after load")
    w("")
    w(f"`sockjs-soak --target` against a fresh server: 100 concurrent clients for {a.soak_seconds} s open "
      "sessions over every transport (websocket, xhr-polling, xhr-streaming, eventsource, htmlfile, "
      "jsonp-polling), send 20 messages each and check every echo (in order, exactly once); one session "
      "in ten drops its connection mid-way, one in ten goes silent and is left to time out. When the load "
      "ends the soak waits for the server to reclaim every session (`GET /_stats` reaching 0 live sessions), "
      "then reads the RSS once it has settled: sampled every 200 ms until 5 samples in a row lie within 1% "
      "(or 256 KiB), for at most 10 s. Start: the fresh server's RSS, settled the same way; peak: the "
      f"highest 200 ms sample. Target: after <= {SOAK_RSS_FACTOR:g}x start.")
    w("")
    w("| server | RSS start MiB | RSS peak MiB | RSS after load MiB | after / start | settled within s | "
      "reclaimed within s | sessions served | messages verified | live sessions after | runs | lost | errors |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for server in ["ours", "node"]:
        f = soak.get(server)
        if not f:
            continue
        mib = lambda k: fmt(f[k] / 1024 if f[k] is not None else None, 1)  # noqa: E731
        back = f"{f['end'] / f['start']:.2f}x" if f["start"] and f["end"] is not None else "-"
        settled = fmt(f["settle"], 1) + ("" if f["settled"] else " (not settled)")
        w(f"| {SERVERS[server]} | {mib('start')} | {mib('peak')} | {mib('end')} | {back} | {settled} | "
          f"{fmt(f['reclaimed'], 1)} | {fmt(f['sessions'])} | {fmt(f['verified'])} | "
          f"{'-' if f['live'] is None else f['live']} | {f['runs']} | {f['lost']} | {f['errors']} |")
    w("")
    return out


def fanout_section(a, runs, med, load_txt, commands):
    """The "Fan-out" section: medians per case and server, ratios, commands."""
    sizes = [int(n) for n in a.fanout_sessions.split()]
    cases = [(f"fanout_{n}", f"paced: fan-out to {n:,} websocket subscribers") for n in sizes]
    cases.append(("fanout_mix", f"paced: fan-out to {sizes[0]:,} subscribers, 25% xhr-streaming"))
    cases += [(f"fanout_sat_{n}", f"saturation: fan-out to {n:,} websocket subscribers, window {FANOUT_WINDOW}")
              for n in sizes]
    cases.append(("fanout_sat_mix",
                  f"saturation: fan-out to {sizes[0]:,} subscribers, 25% xhr-streaming, window {FANOUT_WINDOW}"))
    cases.append(("sio_echo", "echo, 100 sessions x 10 in flight (sockjs-rs: framed websocket /echo)"))
    out = []
    w = out.append
    w("## Fan-out")
    w("")
    w(f"Taken {a.started} to {a.finished}, {a.rounds} round(s), medians reported; load average (1 min) "
      f"before each run, min / median / max: {load_txt}; machine and versions: {a.machine}; {a.versions}. "
      "Each server pinned to CPU 0, the load generator to CPU 1; a fresh server for every run.")
    w("")
    w("One publisher and N subscribers on one broadcasting service: sockjs-rs's `sockjs-test-server` "
      "`/broadcast` (the service's `Hub`: `hub.to_all().send(msg)`), sockjs-node 0.3.24's "
      "`bench/node/server.js` `/broadcast` (a `Set` of connections, `conn.write` to each), socketioxide's "
      "`bench/socketioxide` (`io.emit` on the default namespace; `--ordered`: the handler hands each message "
      "in arrival order to one task that emits). The publisher sends 64-byte messages carrying a sequence "
      "number and its send time for `--duration` seconds after a `--warmup` (see the commands); every "
      "subscriber, and the publisher for its own copies, checks that each message arrives exactly once and "
      "in order. **Paced** rows: the publisher sends at 100,000 deliveries per second (rate = 100,000 / "
      "(N + 1) messages per second, sockjs-bench's default), a load every server here carries: they show "
      "latency at a realistic load. **Saturation** rows: a closed loop (`--window "
      f"{FANOUT_WINDOW}`): the publisher sends as fast as it may, but never message k before message "
      f"k - {FANOUT_WINDOW} has reached every subscriber, so each server runs at its own sustainable "
      "maximum with bounded queues (an open-loop rate above a server's capacity only measures how its "
      "queues grow). Deliveries/s counts messages reaching subscribers inside the measured window; latency "
      "is send to receipt. For the echo row, msgs/s counts echoes.")
    w("")
    w("| case | server | published msg/s | msgs/s | p50 µs | p99 µs | p99.9 µs | server CPU % | client CPU % | "
      "server RSS MiB | runs | lost | duplicated | reordered | corrupted | errors |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case, desc in cases:
        for server in FANOUT_SERVERS:
            rs = runs.get((case, server))
            if not rs:
                continue
            def m(get):
                return med(case, server, get)
            rss = m(lambda r: r["server_rss_kib"])
            w(f"| {desc} | {SERVERS[server]} | {fmt(m(lambda r: r.get('published_per_s')))} | "
              f"{fmt(m(lambda r: r['throughput_per_s']))} | {fmt(m(lambda r: r['latency_us']['p50']))} | "
              f"{fmt(m(lambda r: r['latency_us']['p99']))} | {fmt(m(lambda r: r['latency_us']['p999']))} | "
              f"{fmt(m(lambda r: r['server_cpu_percent']), 1)} | {fmt(m(lambda r: r['client_cpu_percent']), 1)} | "
              f"{fmt(rss / 1024 if rss is not None else None, 1)} | {len(rs)} | "
              + " | ".join(str(sum(r[k] for r in rs)) for k in ["lost", "duplicated", "reordered", "corrupted", "errors"])
              + " |")
    w("")
    w("Lost, duplicated, reordered, corrupted and errors are totals over the runs, not medians. "
      "In the paced rows a server that keeps up shows the offered rate. Where the client CPU is near 100%, "
      "msgs/s is the load generator's ceiling, not the server's.")
    w("")
    if a.note:
        w(f"Note: {a.note}")
        w("")
    w("| case | msgs/s sockjs-rs / sockjs-node | p99 sockjs-rs / sockjs-node | "
      "msgs/s sockjs-rs / socketioxide | p99 sockjs-rs / socketioxide | "
      "msgs/s sockjs-rs / socketioxide --ordered | p99 sockjs-rs / socketioxide --ordered |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")

    def ratio(case, other, get):
        x, y = med(case, "ours", get), med(case, other, get)
        if x is None or y in (None, 0):
            return "-"
        r = x / y
        return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"

    tput = lambda r: r["throughput_per_s"]  # noqa: E731
    p99 = lambda r: r["latency_us"]["p99"]  # noqa: E731
    for case, desc in cases:
        if not runs.get((case, "ours")):
            continue
        w(f"| {desc} | {ratio(case, 'node', tput)} | {ratio(case, 'node', p99)} | "
          f"{ratio(case, 'sio', tput)} | {ratio(case, 'sio', p99)} | "
          f"{ratio(case, 'sio_ordered', tput)} | {ratio(case, 'sio_ordered', p99)} |")
    w("")
    w("Rerun with `scripts/compare.sh --only fanout` (it also builds `bench/socketioxide`). "
      "Commands (ADDR and PID are those of the fresh server; servers: `taskset -c 0 sockjs-test-server --port 0 "
      "--max-connections 20000`, `taskset -c 0 node bench/node/server.js --port 0`, `taskset -c 0 "
      "socketioxide-bench-server --port 0 [--echo] [--ordered]`; client: `taskset -c 1 ...`):")
    w("")
    w("```sh")
    for line in commands:
        if "--label fanout_" in line or "--label sio_" in line:
            w(line)
    w("```")
    w("")
    return out


def existing_section(path, heading):
    """The lines of the section starting at `heading` in the report at
    `path` (up to the next "## "), or none."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    start = text.find("\n" + heading + "\n")
    if start < 0:
        return []
    end = text.find("\n## ", start + 1)
    body = text[start + 1: end if end >= 0 else len(text)]
    return body.rstrip("\n").split("\n") + [""]


def replace_section(path, heading, lines):
    """Replaces the section starting at `heading` (up to the next "## ") in
    the report at `path`, or inserts it before "## Reproduce"."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Performance\n\n"
    new = "\n".join(lines).rstrip("\n") + "\n\n"
    start = text.find("\n" + heading + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + new + (text[end + 1:] if end >= 0 else "")
    else:
        at = text.find("\n## Reproduce")
        text = text[: at + 1] + new + text[at + 1:] if at >= 0 else text.rstrip("\n") + "\n\n" + new
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
