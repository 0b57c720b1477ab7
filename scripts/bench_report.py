#!/usr/bin/env python3
"""Fills BENCHMARKS.md from the latest runs (standard library only).

    python3 scripts/bench_report.py --reset     # forget earlier criterion runs
    python3 scripts/bench_report.py --collect GROUP,... [--prefix P]  # after each `cargo bench`
    python3 scripts/bench_report.py             # tables, plot, BENCHMARKS.md

`--collect` appends criterion's latest estimates (`$CARGO_TARGET_DIR/criterion`,
default `target/criterion`) for the `hashing` and `peers` benches to
`benches/results/criterion-runs.jsonl`, so that several runs can be kept
(the machine is shared and noisy); `--prefix portable` files them as
`portable:GROUP/...`, for the runs built with `sha2`'s portable code. The report takes, for every figure, the
median over the runs, and for every ratio the median of the per-run ratios
with their range. It also reads the end-to-end results of `scripts/e2e.sh`
(`benches/results/e2e.jsonl`), the instruction counts of
`scripts/instructions.sh` (`benches/results/instructions.json`), draws `benches/results/throughput.svg`
(upload throughput against body size) and rewrites the part of BENCHMARKS.md
between the `results:begin` and `results:end` markers.
"""

import json
import math
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results"
CRITERION = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "criterion"
RUNS = RESULTS / "criterion-runs.jsonl"
E2E = RESULTS / "e2e.jsonl"
INSTRUCTIONS = RESULTS / "instructions.json"
SVG = RESULTS / "throughput.svg"
DOC = ROOT / "BENCHMARKS.md"

# criterion ids (group/function[/parameter]) this report uses.
IDS = [
    "streaming/sha256/1MiB",
    "streaming/signature_layer/1MiB",
    "streaming/sha256/16MiB",
    "streaming/signature_layer/16MiB",
    "per_request/bare_hmac",
    "per_request/parse_canonicalize_verify",
    "per_request/step_parse",
    "per_request/step_canonicalize",
    "per_request/step_verify",
    "per_request/unsigned_router_get",
    "per_request/signature_layer_get",
    "per_request/fresh_unsigned_router_get",
    "per_request/fresh_signature_layer_get",
    "per_request/signature_layer_get_replay_protected",
    "per_request/fresh_signature_layer_get_outer",
    "per_request/signature_layer_get_replay_protected_outer",
    "sha256/sha2/1MiB",
    "sha256/ring/1MiB",
    "sha256/aws_lc_rs/1MiB",
    "sha256/tower_hmac_ring/1MiB",
    "sha256/ring_kernel_ssse3/1MiB",
    "sha256/ring_kernel_nohw/1MiB",
    "hmac/sha2_hmac",
    "hmac/ring",
    "hmac/aws_lc_rs",
    "verify_get/tower_hmac",
    "verify_get/httpsig_hyper",
]


def latest_criterion():
    found = {}
    for bench_id in IDS:
        path = CRITERION.joinpath(*bench_id.split("/"), "new", "estimates.json")
        if path.exists():
            found[bench_id] = json.loads(path.read_text())["mean"]["point_estimate"]
    return found


def load_runs():
    if not RUNS.exists():
        return []
    return [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]


class Figures:
    """Criterion means over several runs: medians, and ratios within runs."""

    def __init__(self, runs):
        self.runs = runs

    def get(self, bench_id):
        values = [run[bench_id] for run in self.runs if bench_id in run]
        return statistics.median(values) if values else None

    def spread(self, bench_id):
        return [run[bench_id] for run in self.runs if bench_id in run]

    def ratio(self, numerator, denominator):
        """(median, min, max, n) of numerator/denominator, each run on its own."""
        ratios = [
            run[numerator] / run[denominator]
            for run in self.runs
            if numerator in run and denominator in run
        ]
        if not ratios:
            return None
        return statistics.median(ratios), min(ratios), max(ratios), len(ratios)


def fmt_ratio(r, digits=2):
    median, low, high, n = r
    if n == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f}, {n} runs)"


def load_e2e():
    if not E2E.exists():
        return []
    return [json.loads(line) for line in E2E.read_text().splitlines() if line.strip()]


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def gib_s(bytes_, ns):
    return bytes_ / ns * 1e9 / 2**30


def size_label(n):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def criterion_tables(f):
    out = []
    get = f.get

    rows = []
    for size, n in (("1MiB", 2**20), ("16MiB", 16 * 2**20)):
        base, layer = get(f"streaming/sha256/{size}"), get(f"streaming/signature_layer/{size}")
        r = f.ratio(f"streaming/sha256/{size}", f"streaming/signature_layer/{size}")
        if r:
            rows.append(
                f"| {size_label(n)} in 64 KiB frames | {gib_s(n, layer):.2f} GiB/s ({fmt_ns(layer)}) "
                f"| {gib_s(n, base):.2f} GiB/s ({fmt_ns(base)}) | **{fmt_ratio(r, 3)}** | ≥ 0.95 "
                f"| {'met' if r[0] >= 0.95 else 'missed'} |"
            )
    if rows:
        out += [
            "### 1. Streaming throughput (`cargo bench --bench hashing -- streaming`)",
            "",
            "| body | SignatureLayer (in-process axum router; the handler reads the body, then verifies) "
            "| plain SHA-256 (`sha2`) over the same frames | throughput ratio | target | |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]

    bare = get("per_request/bare_hmac")
    full = get("per_request/parse_canonicalize_verify")
    if bare and full:
        r = f.ratio("per_request/parse_canonicalize_verify", "per_request/bare_hmac")
        out += [
            "### 2. Per-request cost of a small GET (`cargo bench --bench hashing -- per_request`)",
            "",
            "| what | time | × bare HMAC |",
            "|---|---|---|",
            f"| bare HMAC-SHA256 of the string-to-sign (keyed state precomputed) | {fmt_ns(bare)} | 1.00 |",
            f"| **parse header + build string-to-sign + verify** (target ≤ 1.3×: "
            f"{'met' if r[0] <= 1.3 else 'missed'}) | {fmt_ns(full)} | **{fmt_ratio(r)}** |",
        ]
        for step, label in (
            ("step_parse", "… of which parsing the `Authorization` header"),
            ("step_canonicalize", "… of which building the string-to-sign"),
            ("step_verify", "… of which HMAC + hex of the body digest + constant-time compare"),
        ):
            if get(f"per_request/{step}"):
                out.append(
                    f"| {label} | {fmt_ns(get(f'per_request/{step}'))} "
                    f"| {fmt_ratio(f.ratio(f'per_request/{step}', 'per_request/bare_hmac'))} |"
                )
        portable_bare = get("portable:per_request/bare_hmac")
        portable_full = get("portable:per_request/parse_canonicalize_verify")
        if portable_bare and portable_full:
            r = f.ratio(
                "portable:per_request/parse_canonicalize_verify", "portable:per_request/bare_hmac"
            )
            out += [
                f"| bare HMAC, `sha2`'s portable code (no SHA-NI, the issue's premise) "
                f"| {fmt_ns(portable_bare)} | 1.00 |",
                f"| **parse + build + verify, portable code** (target ≤ 1.3×: "
                f"{'met' if r[0] <= 1.3 else 'missed'}) | {fmt_ns(portable_full)} | **{fmt_ratio(r)}** |",
            ]
        if INSTRUCTIONS.exists():
            counts = json.loads(INSTRUCTIONS.read_text())
            bare_i, full_i = counts["bare_hmac"], counts["parse_canonicalize_verify"]
            out.append(
                f"| instructions per request (callgrind, portable code; "
                f"`scripts/instructions.sh`): bare HMAC {bare_i:,}, parse + build + verify {full_i:,} "
                f"| — | **{full_i / bare_i:.2f}** |"
            )
        # Like with like: each app gets the same freshly signed requests.
        unsigned = "fresh_unsigned_router_get"
        for step, label in (
            (unsigned, "the same axum router unsigned, in-process round trip"),
            ("fresh_signature_layer_get", "SignatureLayer on the routes, replay protection off"),
            ("signature_layer_get_replay_protected", "SignatureLayer on the routes, in-memory nonce store"),
            ("fresh_signature_layer_get_outer", "SignatureLayer around the router, replay protection off"),
            ("signature_layer_get_replay_protected_outer", "SignatureLayer around the router, in-memory nonce store"),
        ):
            t = get(f"per_request/{step}")
            if t:
                extra = ""
                if step != unsigned and get(f"per_request/{unsigned}"):
                    u = f.ratio(f"per_request/{step}", f"per_request/{unsigned}")
                    extra = f" ({fmt_ratio(u)} × unsigned)"
                out.append(f"| {label} | {fmt_ns(t)}{extra} | {t / bare:.2f} |")
        out.append("")

    return out


BACKEND_HEADER = [
    "| what | backend | time | speed vs default (> 1 is faster) |",
    "|---|---|---|---|",
]


def backend_rows(f, what, fmt_time, base, entries):
    """One table row per measured (bench id, label), timed against `base`."""
    rows = []
    for bench_id, label in entries:
        t = f.get(bench_id)
        if t and f.get(base):
            r = f.ratio(base, bench_id)
            rows.append(f"| {what} | {label} | {fmt_time(t)} | {fmt_ratio(r)} |")
    return rows


def peer_tables(f):
    out = []
    get = f.get
    sha256_what = "SHA-256, 1 MiB in 64 KiB frames"
    hmac_what = "HMAC-SHA256 of the string-to-sign, key precomputed"
    gib = lambda t: f"{gib_s(2**20, t):.2f} GiB/s ({fmt_ns(t)})"
    mb = lambda t: f"{2**20 / t * 1e3:.0f} MB/s ({fmt_ns(t)})"
    rows = backend_rows(f, sha256_what, gib, "sha256/sha2/1MiB", (
        ("sha256/sha2/1MiB", "RustCrypto `sha2` (default)"),
        ("sha256/ring/1MiB", "`ring` 0.17"),
        ("sha256/aws_lc_rs/1MiB", "`aws-lc-rs` 1.x"),
        ("sha256/tower_hmac_ring/1MiB", "tower-hmac's `BodyHasher`, feature `ring`"),
    )) + backend_rows(f, hmac_what, fmt_ns, "hmac/sha2_hmac", (
        ("hmac/sha2_hmac", "RustCrypto `hmac` + `sha2` (default)"),
        ("hmac/ring", "`ring` 0.17"),
        ("hmac/aws_lc_rs", "`aws-lc-rs` 1.x"),
    ))
    if rows:
        out += [
            "### Backends (`cd benches/peers && cargo bench --features aws-lc -- 'sha256|hmac'`)",
            "",
            "With SHA-NI (this CPU):",
            "",
            *BACKEND_HEADER,
            *rows,
            "",
        ]
    # Without SHA extensions, all from the portable run (so that ratios are
    # within one run): sha2's portable code, AWS-LC with SHA-NI masked, and
    # ring's kernels called directly.
    rows = backend_rows(f, sha256_what, mb, "portable:sha256/sha2/1MiB", (
        ("portable:sha256/sha2/1MiB", "RustCrypto `sha2`, portable code (default)"),
        ("portable:sha256/ring_kernel_ssse3/1MiB", "`ring` 0.17, SSSE3 kernel (feature `ring`)"),
        ("portable:sha256/ring_kernel_nohw/1MiB", "`ring` 0.17, plain x86-64 kernel"),
        ("portable:sha256/aws_lc_rs/1MiB", "`aws-lc-rs` 1.x, SHA-NI masked"),
    )) + backend_rows(f, hmac_what, fmt_ns, "portable:hmac/sha2_hmac", (
        ("portable:hmac/sha2_hmac", "RustCrypto `hmac` + `sha2`, portable code (default)"),
        ("portable:hmac/aws_lc_rs", "`aws-lc-rs` 1.x, SHA-NI masked"),
    ))
    if rows:
        out += [
            "Without SHA extensions (the issue's premise), as such a CPU runs each backend:",
            "",
            *BACKEND_HEADER,
            *rows,
            "",
        ]

    ours, peer = get("verify_get/tower_hmac"), get("verify_get/httpsig_hyper")
    if ours and peer:
        r = f.ratio("verify_get/httpsig_hyper", "verify_get/tower_hmac")
        out += [
            "### 4. Against a peer (`cd benches/peers && cargo bench -- verify_get`)",
            "",
            "| verify a signed GET covering method, authority, path, query, user-agent, accept, with time and nonce | time | × tower-hmac |",
            "|---|---|---|",
            f"| tower-hmac: parse + string-to-sign + verify | {fmt_ns(ours)} | 1.00 |",
            f"| `httpsig-hyper` 0.0.26, RFC 9421 `hmac-sha256` (`verify_message_signature_sync`) | {fmt_ns(peer)} | **{fmt_ratio(r)}** |",
            "",
        ]
    return out


def median_uploads(e2e):
    """{mode: {bytes: (median MiB/s, max peak RSS KiB)}}"""
    groups = {}
    for row in e2e:
        if row.get("test") == "upload":
            groups.setdefault(row["mode"], {}).setdefault(row["bytes"], []).append(row)
    return {
        mode: {
            size: (
                statistics.median(r["mib_per_s"] for r in rows),
                max(r["server_peak_rss_kib"] for r in rows),
                [r["mib_per_s"] for r in rows],
            )
            for size, rows in sizes.items()
        }
        for mode, sizes in groups.items()
    }


def e2e_tables(e2e):
    out = []
    gets = {row["mode"]: row for row in e2e if row.get("test") == "get"}
    if gets:
        base = gets.get("unsigned", {}).get("requests_per_s")
        out += [
            "### 3a. Small GETs over loopback (`scripts/e2e.sh`, wrk, 1 thread, "
            "32 connections, server on 1 core)",
            "",
            "| server | requests/s | × unsigned | p50 | p99 | non-2xx |",
            "|---|---|---|---|---|---|",
        ]
        labels = {
            "unsigned": "axum app, unsigned",
            "signed-no-replay": "SignatureLayer, replay protection off",
            "signed": "SignatureLayer, in-memory nonce store (every request a fresh nonce)",
            "buffered": "buffer-everything, then HMAC (no replay check)",
        }
        for mode in ("unsigned", "signed-no-replay", "signed", "buffered"):
            row = gets.get(mode)
            if not row:
                continue
            ratio = f"{row['requests_per_s'] / base:.3f}" if base else "-"
            p50 = f"{row['p50_us']:.0f} µs" if row.get("p50_us") else "-"
            p99 = f"{row['p99_us']:.0f} µs" if row.get("p99_us") else "-"
            out.append(
                f"| {labels[mode]} | {row['requests_per_s']:,.0f} | {ratio} | {p50} | {p99} | {row['non_2xx']} |"
            )
        out.append("")

    uploads = median_uploads(e2e)
    if uploads:
        sizes = sorted({s for m in uploads.values() for s in m})
        out += [
            "### 3b. Uploads over loopback: throughput (median of runs) and server peak RSS",
            "",
            "| body | " + " | ".join(
                f"{m} MiB/s | {m} peak RSS" for m in ("signed", "buffered", "unsigned") if m in uploads
            ) + " |",
            "|---|" + "---|---|" * len([m for m in ("signed", "buffered", "unsigned") if m in uploads]),
        ]
        for size in sizes:
            cells = []
            for mode in ("signed", "buffered", "unsigned"):
                if mode in uploads:
                    value = uploads[mode].get(size)
                    cells += [f"{value[0]:,.0f}", f"{value[1] / 1024:.1f} MiB"] if value else ["-", "-"]
            out.append(f"| {size_label(size)} | " + " | ".join(cells) + " |")
        out.append("")
        small, big = 2**20, 2**30
        for mode in ("signed", "buffered"):
            m = uploads.get(mode, {})
            if small in m and big in m:
                ratio = m[big][1] / m[small][1]
                verdict = "met" if ratio <= 1.2 else "missed"
                if mode == "buffered":
                    verdict = "for comparison"
                out.append(
                    f"- **{mode}**: peak RSS 1 GiB upload / 1 MiB upload = "
                    f"{m[big][1] / 1024:.1f} MiB / {m[small][1] / 1024:.1f} MiB = **{ratio:.2f}** "
                    f"(target ≤ 1.2: {verdict}); 1 GiB at {m[big][0]:,.0f} MiB/s "
                    f"(runs: {', '.join(f'{v:,.0f}' for v in m[big][2])})."
                )
        out.append("")
    return out


def draw_svg(e2e, figures):
    uploads = median_uploads(e2e)
    if not uploads:
        return False
    width, height = 860, 420
    left, right, top, bottom = 70, 250, 40, 60
    sha = figures.get("streaming/sha256/16MiB")
    sha_mib_s = 16 * 2**20 / sha * 1e9 / 2**20 if sha else None
    sizes = sorted({s for m in uploads.values() for s in m})
    values = [v[0] for m in uploads.values() for v in m.values()]
    xmin, xmax = math.log2(min(sizes)), math.log2(max(sizes))
    ymax = max(values + ([sha_mib_s] if sha_mib_s else [])) * 1.1
    x = lambda s: left + (math.log2(s) - xmin) / (xmax - xmin or 1) * (width - left - right)
    y = lambda v: height - bottom - v / ymax * (height - top - bottom)
    colors = {"signed": "#1f77b4", "buffered": "#d62728", "unsigned": "#2ca02c"}
    names = {
        "signed": "signed, streaming (tower-hmac)",
        "buffered": "signed, buffered then verified",
        "unsigned": "unsigned",
    }
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{(left + width - right) / 2:.0f}" y="22" text-anchor="middle" font-size="14">'
        "Upload throughput over loopback vs body size</text>",
    ]
    step = 10 ** math.floor(math.log10(ymax / 5))
    tick = step * (1 if ymax / step <= 6 else 2 if ymax / step <= 12 else 5)
    v = 0.0
    while v <= ymax:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        v += tick
    for s in sizes:
        parts.append(f'<line x1="{x(s):.1f}" x2="{x(s):.1f}" y1="{top}" y2="{height - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{x(s):.1f}" y="{height - bottom + 16}" text-anchor="middle">{size_label(s)}</text>')
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 18}" text-anchor="middle">'
        "body size (log scale)</text>"
    )
    parts.append(
        f'<text x="18" y="{(top + height - bottom) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {(top + height - bottom) / 2:.0f})">MiB/s (median)</text>'
    )
    for i, mode in enumerate(m for m in ("signed", "buffered", "unsigned") if m in uploads):
        points = sorted(uploads[mode].items())
        path = " ".join(f"{x(s):.1f},{y(v[0]):.1f}" for s, v in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colors[mode]}" stroke-width="2"/>')
        for s, v in points:
            parts.append(f'<circle cx="{x(s):.1f}" cy="{y(v[0]):.1f}" r="3" fill="{colors[mode]}"/>')
        ly = top + 20 + i * 20
        parts.append(f'<line x1="{width - right + 10}" x2="{width - right + 30}" y1="{ly}" y2="{ly}" stroke="{colors[mode]}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 34}" y="{ly + 4}" font-size="11">{names[mode]}</text>')
    if sha_mib_s:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(sha_mib_s):.1f}" y2="{y(sha_mib_s):.1f}" '
            'stroke="#555" stroke-dasharray="5,4"/>'
        )
        ly = top + 20 + 3 * 20
        parts.append(f'<line x1="{width - right + 10}" x2="{width - right + 30}" y1="{ly}" y2="{ly}" stroke="#555" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{width - right + 34}" y="{ly + 4}" font-size="11">SHA-256 alone, in memory (criterion)</text>')
    machine = next((r for r in e2e if r.get("test") == "machine"), None)
    if machine:
        parts.append(
            f'<text x="{left}" y="{height - 2}" font-size="10" fill="#666">'
            f"{machine['cpu']}, {machine['cpus']} CPUs, {machine['date']}</text>"
        )
    parts.append("</svg>")
    SVG.write_text("\n".join(parts) + "\n")
    return True


def main():
    RESULTS.mkdir(parents=True, exist_ok=True)
    args = sys.argv[1:]
    if "--reset" in args:
        RUNS.write_text("")
        return
    if "--collect" in args:
        # `--collect streaming,per_request`: only these criterion groups (one bench binary's).
        at = args.index("--collect")
        groups = args[at + 1].split(",") if at + 1 < len(args) else None
        prefix = args[args.index("--prefix") + 1] + ":" if "--prefix" in args else ""
        latest = {
            prefix + k: v
            for k, v in latest_criterion().items()
            if groups is None or k.split("/")[0] in groups
        }
        with RUNS.open("a") as runs:
            runs.write(json.dumps(latest, sort_keys=True) + "\n")
        print(f"collected {len(latest)} figures into {RUNS.relative_to(ROOT)}")
        return
    e2e = load_e2e()
    figures = Figures(load_runs())
    lines = criterion_tables(figures) + e2e_tables(e2e)
    if draw_svg(e2e, figures):
        lines += ["![Upload throughput against body size](benches/results/throughput.svg)", ""]
    lines += peer_tables(figures)
    text = "\n".join(lines)
    print(text)
    if DOC.exists():
        doc = DOC.read_text()
        begin, end = "<!-- results:begin -->", "<!-- results:end -->"
        if begin in doc and end in doc:
            head, rest = doc.split(begin, 1)
            _, tail = rest.split(end, 1)
            DOC.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


if __name__ == "__main__":
    main()
