#!/usr/bin/env python3
"""Writes docs/benchmarks.md (and an SVG plot) from the JSON lines benches/compare.sh kept.

Standard library only. Input: one `mtls-load` JSON line per test run, each labelled
"TARGET|TEST|RUN" by compare.sh; a versions file (key=value lines). Every number in the
report is the median over the runs of one (target, test); ratios are computed from those
medians, all from the same compare.sh run.

Usage: report.py --raw RAW.jsonl --versions VERSIONS.txt --out docs/benchmarks.md
                 [--notes docs/benchmarks/notes.md] [--no-plot]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TCP_PEERS = ["nginx-stream", "haproxy-tcp", "stunnel"]
HTTP_PEERS = ["nginx-http", "haproxy-http"]
TARGET_ORDER = ["mtlsd-server", "mtlsd-gateway"] + TCP_PEERS + HTTP_PEERS
TITLES = {
    "mtlsd-server": "mtlsd server (TCP)",
    "mtlsd-gateway": "mtlsd gateway (HTTP)",
    "nginx-stream": "nginx stream (TCP)",
    "nginx-http": "nginx http",
    "haproxy-tcp": "HAProxy tcp",
    "haproxy-http": "HAProxy http",
    "stunnel": "stunnel (TCP)",
}
# A load tool using more than this share of its core is the bottleneck, not the proxy.
SATURATED = 0.90


@dataclass
class Runs:
    """Every JSON line of one (target, test)."""

    lines: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [float(l[key]) for l in self.lines if isinstance(l.get(key), (int, float))]
        return statistics.median(values) if values else None

    def spread(self, key: str) -> float | None:
        """Half the range as a fraction of the median: a rough run-to-run noise figure."""
        values = [float(l[key]) for l in self.lines if isinstance(l.get(key), (int, float))]
        if len(values) < 2:
            return None
        mid = statistics.median(values)
        return (max(values) - min(values)) / 2 / mid if mid else None

    def total(self, key: str) -> float:
        return sum(float(l.get(key, 0) or 0) for l in self.lines)


def load_raw(path: Path) -> dict[tuple[str, str], Runs]:
    results: dict[tuple[str, str], Runs] = {}
    for number, text in enumerate(path.read_text().splitlines(), 1):
        text = text.strip()
        if not text:
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as err:
            print(f"report.py: {path}:{number}: not JSON ({err}); skipped", file=sys.stderr)
            continue
        parts = str(line.get("label", "")).split("|")
        if len(parts) != 3:
            print(f"report.py: {path}:{number}: label is not TARGET|TEST|RUN; skipped", file=sys.stderr)
            continue
        results.setdefault((parts[0], parts[1]), Runs()).lines.append(line)
    return results


def load_versions(path: Path | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if path and path.exists():
        for text in path.read_text().splitlines():
            key, sep, value = text.partition("=")
            if sep:
                out[key.strip()] = value.strip()
    return out


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal"):
                mem = f"{int(text.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count() or "?"),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "memory": mem,
    }


# -- formatting


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def noise(runs: Runs | None, key: str) -> str:
    if runs is None:
        return ""
    s = runs.spread(key)
    return "" if s is None else f" ±{100 * s:.0f}%"


class Report:
    def __init__(self, results: dict[tuple[str, str], Runs], versions: dict[str, str]):
        self.r = results
        self.v = versions
        self.targets = [t for t in TARGET_ORDER if any(k[0] == t for k in results)]
        self.out: list[str] = []

    def runs(self, target: str, test: str) -> Runs | None:
        return self.r.get((target, test))

    def med(self, target: str, test: str, key: str) -> float | None:
        runs = self.runs(target, test)
        return runs.median(key) if runs else None

    def w(self, text: str = "") -> None:
        self.out.append(text)

    def crypto(self, key: str) -> float | None:
        """The crypto limit per second of CPU: `mtls-load crypto` times the operations on
        the wall clock, so when its thread was preempted (other work on the core; its
        `client_cpu_util` below 1) each run's rate is scaled by 1 / util, the same unit as
        the proxies' per-CPU-second rates. The median over runs of the scaled rates."""
        runs = self.runs("crypto", "crypto")
        if not runs:
            return None
        values = []
        for line in runs.lines:
            rate = line.get(key)
            if not isinstance(rate, (int, float)):
                continue
            util = line.get("client_cpu_util")
            if isinstance(util, (int, float)) and 0 < util < 1:
                rate = rate / util
            values.append(float(rate))
        return statistics.median(values) if values else None

    def crypto_wall(self, key: str) -> float | None:
        return self.med("crypto", "crypto", key)

    def best(self, peers: list[str], test: str, key: str, lower: bool = False):
        """(peer, value) of the best peer for `key` of `test`, or (None, None)."""
        values = [(p, self.med(p, test, key)) for p in peers]
        values = [(p, v) for p, v in values if v is not None]
        if not values:
            return None, None
        return (min if lower else max)(values, key=lambda pv: pv[1])

    def saturated(self, target: str, test: str) -> bool:
        util = self.med(target, test, "client_cpu_util")
        return util is not None and util > SATURATED

    def mark(self, target: str, test: str) -> str:
        return " (c)" if self.saturated(target, test) else ""

    # -- sections

    def header(self, date: str) -> None:
        m = machine()
        v = self.v
        self.w("# Benchmarks")
        self.w()
        self.w("Generated by `benches/compare.sh` (side by side) through `benches/report/report.py`;")
        self.w("do not edit by hand: re-run the script. Every number is the median of the runs of")
        self.w("one test; every ratio is between medians of the same run.")
        self.w()
        self.w("## Machine and versions")
        self.w()
        self.w(f"- date: {date}")
        self.w(f"- cores: {m['cores']}; CPU: {m['cpu']}; memory: {m['memory']}; kernel: {m['kernel']}")
        self.w(f"- mtlsd: commit `{v.get('mtlsd', '?')}` ({v.get('mtlsd_version', '?')})")
        for key in ("nginx", "haproxy", "stunnel", "openssl"):
            if key in v:
                self.w(f"- {key}: {v[key]}")
        self.w(f"- settings: `{v.get('settings', '?')}`")
        if "quick=1" in v.get("settings", "").split():
            self.w()
            self.w("**QUICK=1 run**: short durations and small counts, a check that the script works;")
            self.w("the numbers are not the ones to quote.")
        self.w()

    def method(self) -> None:
        v = self.v
        self.w("## Method")
        self.w()
        self.w("- One PKI made with `tenantctl` (ECDSA P-256 CA and server certificate, one tenant with")
        self.w("  a P-256 client certificate, one gateway route `localhost /` to the backend); client")
        self.w("  certificate required by every target; TLS 1.3 only.")
        self.w("- One plain backend (`mtls-load backend`: TCP echo and HTTP/1.1) for every target.")
        self.w("- The proxy under test runs alone on one core (`taskset -c PROXY_CORE`), with one")
        self.w("  worker/thread (the cores it is given); the load tool and the backend share the other")
        self.w("  core. Targets run one after another; runs interleave the targets.")
        self.w("- *per CPU-s*: operations per second of the proxy's own CPU time (utime + stime of the")
        self.w("  proxy's processes from `/proc`, master and workers summed), the number that does not")
        self.w("  depend on how busy the machine is. Raw rates are also given.")
        self.w("- `handshake`: connect, full TLS 1.3 mTLS handshake with X25519 (what every peer")
        self.w("  negotiates; Debian 12's OpenSSL has no ML-KEM), one small request (TCP: 32 bytes")
        self.w("  echoed; HTTP: `GET /`), close. Peers run with session tickets and session cache off")
        self.w("  for this test (mtlsd: `session_lifetime = \"0s\"`).")
        self.w("- `resume`: the same with one client session store, so TLS 1.3 tickets resume; peers and")
        self.w("  mtlsd with tickets and cache on. *resumed* is the share of handshakes that did.")
        self.w("- `rr`: persistent connections, request/response of the given size (TCP: echo; HTTP/1.1")
        self.w("  keep-alive and h2: `GET /bytes/SIZE`); p50/p99 per request latency.")
        self.w("- `bulk`: one connection moving the given MiB (see `mtls-load bulk --help`).")
        self.w("- `idle`: N connections open (HTTP targets: one request on each first), RSS of the")
        self.w("  proxy's processes after they settle minus before, divided by N.")
        self.w("- `crypto limit`: `mtls-load crypto` on the proxy's core alone: per iteration one ECDSA")
        self.w("  P-256 sign, two P-256 verifies and one server-side key exchange, with aws-lc-rs through")
        self.w("  rustls' `CryptoProvider`: the most full server-side mTLS handshakes one core can do.")
        self.w(f"- Settings: {v.get('settings', '?')}. Targets: {v.get('targets', '?').strip()}.")
        self.w("- (c) marks a test where the load tool used more than 90 % of its core: the proxy was")
        self.w("  not the bottleneck and its raw rate is a lower bound (per CPU-s stays meaningful).")
        self.w()

    def crypto_section(self) -> None:
        x = self.crypto("crypto_limit_x25519_per_s")
        m = self.crypto("crypto_limit_mlkem_per_s")
        self.w("## Crypto limit (one core)")
        self.w()
        self.w("| key exchange | full server-side mTLS handshakes per CPU-s (crypto only) | per wall-clock s |")
        self.w("|---|---|---|")
        self.w(f"| X25519 | {num(x)} | {num(self.crypto_wall('crypto_limit_x25519_per_s'))} |")
        self.w(f"| X25519MLKEM768 | {num(m)} | {num(self.crypto_wall('crypto_limit_mlkem_per_s'))} |")
        runs = self.runs("crypto", "crypto")
        util = runs.median("client_cpu_util") if runs else None
        self.w()
        self.w(f"The crypto thread had {pct(util)} of its core (median); the per-CPU-s column divides")
        self.w("each run's wall-clock rate by that share, so it is in the unit of the proxies' rates.")
        if runs and runs.lines:
            parts = sorted(k for k in runs.lines[0] if k.endswith("_us"))
            if parts:
                self.w()
                self.w("Per operation (wall clock): " + ", ".join(f"{k[:-3]} {num(runs.median(k), 1)} µs" for k in parts) + ".")
        self.w()

    def handshake_section(self) -> None:
        limit = self.crypto("crypto_limit_x25519_per_s")
        self.w("## Handshakes")
        self.w()
        self.w("| target | full/s | full per CPU-s | of crypto limit | resumed per CPU-s | resumed | resumed ÷ full |")
        self.w("|---|---|---|---|---|---|---|")
        for t in self.targets:
            full = self.runs(t, "handshake_x25519")
            res = self.runs(t, "handshake_resume")
            f_cpu = full.median("rate_per_target_cpu_s") if full else None
            r_cpu = res.median("rate_per_target_cpu_s") if res else None
            share = None
            if res and res.total("ops"):
                share = res.total("resumed") / res.total("ops")
            self.w(
                f"| {TITLES[t]} | {num(full.median('rate_per_s') if full else None)}{self.mark(t, 'handshake_x25519')} "
                f"| {num(f_cpu)}{noise(full, 'rate_per_target_cpu_s')} | {pct(ratio(f_cpu, limit))} "
                f"| {num(r_cpu)}{noise(res, 'rate_per_target_cpu_s')} | {pct(share)} | {times(ratio(r_cpu, f_cpu))} |"
            )
        self.w()
        rows = [t for t in ("mtlsd-server", "mtlsd-gateway") if self.runs(t, "handshake_mlkem")]
        if rows:
            self.w("### X25519MLKEM768 beside X25519 (mtlsd)")
            self.w()
            self.w("| target | X25519 per CPU-s | X25519MLKEM768 per CPU-s | ML-KEM ÷ X25519 | crypto limit ratio |")
            self.w("|---|---|---|---|---|")
            limit_ratio = ratio(self.crypto("crypto_limit_mlkem_per_s"), limit)
            for t in rows:
                x = self.med(t, "handshake_x25519", "rate_per_target_cpu_s")
                m = self.med(t, "handshake_mlkem", "rate_per_target_cpu_s")
                self.w(f"| {TITLES[t]} | {num(x)} | {num(m)} | {times(ratio(m, x))} | {times(limit_ratio)} |")
            self.w()

    def rr_section(self) -> None:
        self.w("## Request/response")
        self.w()
        self.w("| target | test | req/s | req per CPU-s | p50 µs | p99 µs | load tool CPU |")
        self.w("|---|---|---|---|---|---|---|")
        for t in ["backend"] + self.targets:
            for test in ("rr_tcp", "rr_http1", "rr_h2"):
                runs = self.runs(t, test)
                if not runs:
                    continue
                title = "backend alone (plain)" if t == "backend" else TITLES[t]
                self.w(
                    f"| {title} | {test[3:]} | {num(runs.median('rate_per_s'))}{self.mark(t, test)} "
                    f"| {num(runs.median('rate_per_target_cpu_s'))}{noise(runs, 'rate_per_target_cpu_s')} "
                    f"| {num(runs.median('p50_us'))} | {num(runs.median('p99_us'))} "
                    f"| {pct(runs.median('client_cpu_util'))} |"
                )
        self.w()

    def bulk_idle_section(self) -> None:
        self.w("## Bulk and idle connections")
        self.w()
        self.w("| target | bulk MB/s | bulk MB per CPU-s | KiB RSS per idle connection |")
        self.w("|---|---|---|---|")
        for t in self.targets:
            bulk = self.runs(t, "bulk")
            mbs = bulk.median("mb_per_s") if bulk else None
            cpu = bulk.median("target_cpu_s") if bulk else None
            dur = bulk.median("duration_s") if bulk else None
            per_cpu = ratio(mbs * dur if mbs is not None and dur is not None else None, cpu)
            self.w(
                f"| {TITLES[t]} | {num(mbs, 1)}{self.mark(t, 'bulk')} | {num(per_cpu, 1)} "
                f"| {num(self.med(t, 'idle', 'rss_kib_per_conn'), 1)} |"
            )
        self.w()

    def targets_section(self) -> None:
        limit = self.crypto("crypto_limit_x25519_per_s")
        rows: list[tuple[str, str, float | None, str, bool | None]] = []

        def check(goal: str, value: float | None, shown: str, ok: bool | None) -> None:
            rows.append((goal, shown, value, "", ok))

        gw = self.med("mtlsd-gateway", "rr_http1", "rate_per_target_cpu_s")
        ngx = self.med("nginx-http", "rr_http1", "rate_per_target_cpu_s")
        r = ratio(gw, ngx)
        check("gateway HTTP/1.1 req per CPU-s ≥ 1.3× nginx http", r, times(r), None if r is None else r >= 1.3)
        gw99 = self.med("mtlsd-gateway", "rr_http1", "p99_us")
        ngx99 = self.med("nginx-http", "rr_http1", "p99_us")
        r = ratio(gw99, ngx99)
        check("gateway HTTP/1.1 p99 lower than nginx http's", r,
              f"{num(gw99)} vs {num(ngx99)} µs", None if r is None else r < 1.0)
        for t, peers in (("mtlsd-server", TCP_PEERS), ("mtlsd-gateway", HTTP_PEERS)):
            full = self.med(t, "handshake_x25519", "rate_per_target_cpu_s")
            r = ratio(full, limit)
            check(f"{TITLES[t]}: full handshakes per CPU-s ≥ 65 % of crypto limit", r, pct(r),
                  None if r is None else r >= 0.65)
            peer, best = self.best(peers, "handshake_x25519", "rate_per_target_cpu_s")
            r = ratio(full, best)
            check(f"{TITLES[t]}: full handshakes per CPU-s ≥ 2.5× best peer ({TITLES.get(peer, '–')})", r,
                  times(r), None if r is None else r >= 2.5)
            res = self.med(t, "handshake_resume", "rate_per_target_cpu_s")
            r = ratio(res, full)
            check(f"{TITLES[t]}: resumed ≥ 3× full (per CPU-s)", r, times(r), None if r is None else r >= 3.0)
            rss = self.med(t, "idle", "rss_kib_per_conn")
            check(f"{TITLES[t]}: RSS per idle connection ≤ 10 KiB", rss,
                  "–" if rss is None else f"{rss:.1f} KiB", None if rss is None else rss <= 10.0)
        peer, best = self.best(TCP_PEERS, "bulk", "mb_per_s")
        r = ratio(self.med("mtlsd-server", "bulk", "mb_per_s"), best)
        check(f"bulk TCP ≥ 1.1× best TCP peer ({TITLES.get(peer, '–')})", r, times(r), None if r is None else r >= 1.1)
        peer, best = self.best(HTTP_PEERS, "bulk", "mb_per_s")
        r = ratio(self.med("mtlsd-gateway", "bulk", "mb_per_s"), best)
        check(f"bulk HTTP ≥ 0.95× best HTTP peer ({TITLES.get(peer, '–')})", r, times(r),
              None if r is None else r >= 0.95)

        self.w("## The issue's targets")
        self.w()
        self.w("| target | measured | met? |")
        self.w("|---|---|---|")
        for goal, shown, _value, _note, ok in rows:
            verdict = "not measured" if ok is None else ("met" if ok else "**missed**")
            self.w(f"| {goal} | {shown} | {verdict} |")
        self.w()
        self.w("Ratios as in the issue: mtlsd's access log on (default `info`, one line per request or")
        self.w("connection), nginx's off; peers are not tuned down.")
        self.w()

    def plot(self, svg: Path, rel: str) -> bool:
        """Two bar panels: full handshakes and rr requests per CPU-second per target."""
        gnuplot = shutil.which("gnuplot")
        if not gnuplot:
            return False
        data = svg.with_suffix(".dat")
        lines = ["# target full_hs_per_cpu_s resumed_hs_per_cpu_s rr_req_per_cpu_s"]
        for t in self.targets:
            rr = self.med(t, "rr_http1", "rate_per_target_cpu_s") or self.med(t, "rr_tcp", "rate_per_target_cpu_s")
            vals = [self.med(t, "handshake_x25519", "rate_per_target_cpu_s"),
                    self.med(t, "handshake_resume", "rate_per_target_cpu_s"), rr]
            lines.append(f'"{TITLES[t]}" ' + " ".join("0" if v is None else f"{v:.1f}" for v in vals))
        data.write_text("\n".join(lines) + "\n")
        limit = self.crypto("crypto_limit_x25519_per_s") or 0
        script = f"""
set terminal svg size 1000,760 dynamic font "sans,11"
set output "{svg}"
set multiplot layout 2,1
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics rotate by -20 scale 0
set yrange [0:*]
set title "mTLS handshakes per second of proxy CPU (TLS 1.3, P-256, X25519)"
set arrow 1 from graph 0, first {limit} to graph 1, first {limit} nohead dt 2 lw 2 lc rgb "#aa0000"
set label 1 "crypto limit {limit:,.0f}/s" at graph 0.01, first {limit} offset 0,0.7 tc rgb "#aa0000"
plot "{data}" using 2:xtic(1) title "full" lc rgb "#4472c4", "" using 3 title "resumed" lc rgb "#70ad47"
unset arrow 1
unset label 1
set title "request/response per second of proxy CPU (64 conns, 64 B; HTTP targets: HTTP/1.1)"
plot "{data}" using 4:xtic(1) title "requests" lc rgb "#ed7d31"
unset multiplot
"""
        done = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
        if done.returncode != 0:
            print(f"report.py: gnuplot failed: {done.stderr.strip()}", file=sys.stderr)
            return False
        self.w("## Plot")
        self.w()
        self.w(f"![handshakes and requests per CPU-second]({rel})")
        self.w()
        return True

    def micro(self) -> None:
        self.w("## Micro-benchmarks (criterion)")
        self.w()
        self.w("Not part of this run; `cargo bench -p mtls-benches` (and `-p mtls-http-proxy`,")
        self.w("`-p mtls-splice`, `-p mtls-route-spec`) runs them, `--bench NAME` one of them:")
        self.w()
        self.w("| bench | what |")
        self.w("|---|---|")
        self.w("| `registry_scale` | 100,000 tenants × 10 routes: snapshot build and policy (route table) compile, time and peak memory (`peak-memory` lines on stderr); route lookup and admit in that table |")
        self.w("| `route_match` | route lookups and table build, 10,000 tenants × 4 routes |")
        self.w("| `registry_snapshot` | `Store::snapshot` from SQLite at 10,000 tenants; admit; version poll |")
        self.w("| `resolver_select` | client-identity selection at 1 / 100 / 10,000 identities |")
        self.w("| `ca_issuance` | client certificate issuance (P-256, Ed25519, from a CSR) |")
        self.w("| `peer_identity` | `PeerIdentity::from_der` of a tenant client certificate, and its parts (x509 parse, SHA-256 fingerprint) |")
        self.w("| `proxy` (mtls-http-proxy) | per-request header rewrite, XFCC from DER, upstream pick |")
        self.w("| `splice` (mtls-splice) | TCP copy throughput |")
        self.w()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--versions", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--notes", type=Path, help="markdown appended as the notes section")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()

    results = load_raw(args.raw)
    if not results:
        print(f"report.py: no results in {args.raw}", file=sys.stderr)
        return 1
    versions = load_versions(args.versions)
    stamp = args.raw.stem.removeprefix("raw-")
    report = Report(results, versions)
    report.header(stamp)
    report.method()
    report.targets_section()
    report.crypto_section()
    report.handshake_section()
    report.rr_section()
    report.bulk_idle_section()
    if not args.no_plot:
        svg = args.raw.parent / f"compare-{stamp}.svg"
        rel = os.path.relpath(svg, args.out.parent)
        if not report.plot(svg.resolve(), rel):
            report.w("(No plot: gnuplot is not installed.)")
            report.w()
    notes = args.notes if args.notes else args.out.parent / "benchmarks" / "notes.md"
    if notes.exists():
        report.w("## Notes")
        report.w()
        report.w(notes.read_text().strip())
        report.w()
    # The scale benchmark (benches/scale.sh) is run on its own; its section (links relative
    # to docs/) is kept here.
    scale = args.out.parent / "benchmarks" / "scale.md"
    if scale.exists():
        report.w(scale.read_text().strip())
        report.w()
    report.micro()
    report.w(f"Raw lines: [`{os.path.relpath(args.raw, args.out.parent)}`]({os.path.relpath(args.raw, args.out.parent)}).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report.out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
