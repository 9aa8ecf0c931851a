"""Turn a run's results into ``results.json``, ``results.md``, a PNG and the README section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

GROUPS = {
    "curl-raw": "limit",
    "aiohttp-raw": "limit",
    "orjson-parse-limit": "limit",
    "msgspec-parse-limit": "limit",
    "streamer-lib": "streamer",
    "streamer-lib-records": "streamer",
    "streamer-cli": "streamer",
    "streamer-slow-sink": "streamer",
    "streamer-lib-app-gc": "tuning",
    "streamer-cli-no-gc-tuning": "tuning",
    "streamer-lib-uvloop": "tuning",
    "streamer-lib-small-batches": "tuning",
}
DESCRIPTIONS = {
    "curl-raw": "curl, 4 parallel transfers to /dev/null",
    "aiohttp-raw": "aiohttp `iter_any`, bytes dropped, 4 parts at once",
    "orjson-parse-limit": "`orjson.loads` per line, lines already in memory (1 core)",
    "msgspec-parse-limit": "msgspec `decode_lines` on 1 MiB blocks in memory",
    "streamer-lib": "`streamer.run(UrlSource, null sink)`, defaults",
    "streamer-lib-records": "`async for record in stream_urls(...)`, `record.data` of each",
    "streamer-cli": "`streamer urls ... > /dev/null`",
    "streamer-slow-sink": "library, sink sleeps 50 ms per batch",
    "streamer-lib-app-gc": "library + the app calls the CLI's `tune_gc()`",
    "streamer-cli-no-gc-tuning": "CLI with `tune_gc()` disabled",
    "streamer-lib-uvloop": "library on uvloop",
    "streamer-lib-small-batches": "library, `batch_size=200, queue_batches=2`",
    "requests-json": "requests `iter_lines()` + `json.loads`, parts in sequence (Airbyte CDK style)",
    "aiohttp-lines-json": "aiohttp `async for line in resp.content` + `json.loads`",
    "aiohttp-lines-orjson": "aiohttp `async for line in resp.content` + `orjson.loads`",
    "aiohttp-chunks-orjson": "aiohttp `iter_any` + split + `orjson.loads`",
    "aiohttp-chunks-msgspec": "aiohttp `iter_any` + split + msgspec `decode_lines`",
}


def write_all(results: dict[str, Any], out: Path, *, update_readme: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    markdown = render(results)
    (out / "results.md").write_text(markdown + "\n")
    try:
        plot(results, out / "throughput.png")
    except ImportError:  # matplotlib is in the `bench` extra, not needed for a smoke run
        pass
    if update_readme:
        text = README.read_text()
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{START}\n{markdown}\n{END}{tail}")


# ---------------------------------------------------------------- markdown


def _fmt(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def contender_table(section: dict[str, Any]) -> list[str]:
    rows = [
        "| contender | what | MB/s (median, min–max) | records/s | wall s | CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in section["contenders"].items():
        rps = _fmt(c["records_per_s"])
        what = DESCRIPTIONS.get(name, "")
        if c["timed"] != "process wall":
            what += " — parse time only"
        rows.append(
            f"| {name} | {what} | **{c['mb_per_s']:.0f}** ({c['mb_per_s_min']:.0f}–{c['mb_per_s_max']:.0f}) "
            f"| {rps} | {c['wall']:.2f} | {c['cpu']:.2f} | {c['peak_rss_mb']:.0f} |"
        )
    return rows


def ratio_table(section: dict[str, Any]) -> list[str]:
    cs = section["contenders"]
    ours = [n for n in ("streamer-lib", "streamer-lib-records", "streamer-cli") if n in cs]
    others = [n for n in cs if GROUPS.get(n) not in ("streamer", "tuning")]
    rows = ["| streamer ÷ | " + " | ".join(ours) + " |", "|---|" + "---|" * len(ours)]
    for other in others:
        cells = [f"{cs[o]['mb_per_s'] / cs[other]['mb_per_s']:.2f}×" for o in ours]
        rows.append(f"| {other} | " + " | ".join(cells) + " |")
    return rows


def targets(results: dict[str, Any]) -> list[str]:
    cs = results["plain"]["contenders"]
    lib, cli = cs["streamer-lib"]["mb_per_s"], cs["streamer-cli"]["mb_per_s"]
    lines = ["| target | measured | met? |", "|---|---|---|"]

    def row(text: str, value: str, ok: bool) -> None:
        lines.append(f"| {text} | {value} | {'yes' if ok else '**no**'} |")

    limit = cs["orjson-parse-limit"]["mb_per_s"]
    row("library ≥ 80% of the single-core orjson parse limit", f"{100 * lib / limit:.0f}% ({lib:.0f} of {limit:.0f} MB/s)", lib >= 0.8 * limit)
    if "streamer-lib-app-gc" in cs:
        tuned = cs["streamer-lib-app-gc"]["mb_per_s"]
        row("  … same, library in an app that tunes GC like the CLI", f"{100 * tuned / limit:.0f}%", tuned >= 0.8 * limit)
    req = cs["requests-json"]["mb_per_s"]
    row("library ≥ 3× requests + `json.loads`", f"{lib / req:.2f}× ({lib:.0f} vs {req:.0f} MB/s)", lib >= 3 * req)
    if "streamer-lib-records" in cs:
        decoded = cs["streamer-lib-records"]["mb_per_s"]
        row(
            "  … same, a consumer that decodes every record (`record.data`)",
            f"{decoded / req:.2f}× ({decoded:.0f} MB/s; {100 * decoded / limit:.0f}% of the parse limit)",
            decoded >= 3 * req,
        )
    slow = _largest_slow_sink(results)
    if slow is not None:
        size, rss = slow
        row(f"peak RSS < 200 MB, slow sink, {size / 1000:.1f} GB export", f"{rss:.0f} MB", rss < 200)
    row("CLI to stdout ≥ 70% of library throughput", f"{100 * cli / lib:.0f}% ({cli:.0f} vs {lib:.0f} MB/s)", cli >= 0.7 * lib)
    return lines


def _largest_slow_sink(results: dict[str, Any]) -> tuple[float, float] | None:
    points = results.get("scaling", {}).get("by_size") or []
    if not points:
        return None
    biggest = max(points, key=lambda p: p["size_mb"])
    return biggest["size_mb"], biggest["contenders"]["streamer-slow-sink"]["peak_rss_mb_max"]


def scaling_tables(scaling: dict[str, Any]) -> list[str]:
    rows = [
        "| export MB | library wall s | library MB/s | library peak RSS MB | slow sink wall s | slow sink peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for p in scaling["by_size"]:
        lib, slow = p["contenders"]["streamer-lib"], p["contenders"]["streamer-slow-sink"]
        rows.append(
            f"| {p['size_mb']:.0f} | {lib['wall']:.2f} | {lib['mb_per_s']:.0f} | {lib['peak_rss_mb']:.0f} "
            f"| {slow['wall']:.2f} | {slow['peak_rss_mb']:.0f} |"
        )
    rows += ["", "| concurrency | MB/s | wall s | peak RSS MB |", "|---|---|---|---|"]
    for p in scaling["by_concurrency"]:
        rows.append(f"| {p['concurrency']} | {p['mb_per_s']:.0f} | {p['wall']:.2f} | {p['peak_rss_mb']:.0f} |")
    rows += ["", "| parts (concurrency 4) | MB/s | wall s | peak RSS MB |", "|---|---|---|---|"]
    for p in scaling["by_parts"]:
        rows.append(f"| {p['parts']} | {p['mb_per_s']:.0f} | {p['wall']:.2f} | {p['peak_rss_mb']:.0f} |")
    return rows


def micro_table(micro: dict[str, Any]) -> list[str]:
    names = [
        ("drop_each_gc_on", "`orjson.loads` per line, each dropped at once (GC on)"),
        ("check_each_gc_on", "syntax check per line: msgspec decoding into `msgspec.Raw` (streamer's validation)"),
        ("jsonl_decoder_gc_on", "streamer's JSONL decoder (framing + check + `Record`), 256 KiB chunks"),
        ("batch_dicts_gc_on", "batches of 1000 bare dicts (GC on)"),
        ("batch_records_gc_on", "batches of 1000 `Record` Structs (GC on)"),
        ("drop_each_gc_frozen", "per line, dropped (GC frozen as in the CLI)"),
        ("batch_dicts_gc_frozen", "batches of 1000 bare dicts (GC frozen)"),
        ("batch_records_gc_frozen", "batches of 1000 `Record` Structs (GC frozen)"),
        ("typed_convert_gc_on", "typed: `orjson.loads` then `msgspec.convert` to the Mews OrderItem Struct"),
        ("typed_from_line_gc_on", "typed: `record.typed()`, each line decoded straight into the OrderItem Struct"),
        ("blocks_in_process", "1 MiB blocks parsed in-process"),
        ("blocks_pool_1_workers", "same blocks, process pool of 1 (records pickled back)"),
        ("blocks_pool_2_workers", "same blocks, process pool of 2 (records pickled back)"),
    ]
    rows = ["| in memory, " + f"{micro['mb']:.0f} MB, {micro['records']} records | MB/s |", "|---|---|"]
    for key, text in names:
        rows.append(f"| {text} | {micro[key]:.0f} |")
    rows.append(
        f"| cost of the `Record` wrapper vs bare dicts | {micro['record_cost_pct_gc_on']:+.0f}% (GC on), "
        f"{micro['record_cost_pct_gc_frozen']:+.0f}% (GC frozen) |"
    )
    return rows


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    plain = results["plain"]
    out = [
        f"Run **{results['date']}**, `{results['command']}` ({results['duration_s'] / 60:.0f} min"
        + (", quick smoke size" if results["quick"] else "")
        + ").",
        f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, {m['platform']}; {pk}"
        + (f"; curl {m['curl']}" if m.get("curl") else "")
        + ".",
        f"Load average at start {tuple(round(x, 2) for x in m['load_average_at_start'])}, "
        f"at end {tuple(round(x, 2) for x in m['load_average_at_end'])}. "
        "The simulator runs in its own process on the same machine and takes part of one core.",
        "",
        f"Export: {plain['records']:,} Mews-shaped OrderItem records, {plain['parts']} parts, "
        f"{plain['decoded_mb']:.0f} MB of JSONL"
        + (f" ({results['gzip']['wire_mb']:.0f} MB as .jsonl.gz)" if "gzip" in results else "")
        + f"; medians of {results['plan']['repeats']} runs, contenders interleaved. MB/s are MB of "
        "decoded JSONL per second of process wall time (interpreter start included), for gzip too.",
        "",
        "### Targets (plain export)",
        "",
        *targets(results),
        "",
        "### Plain JSONL",
        "",
        *contender_table(plain),
        "",
        "Ratios (MB/s of streamer ÷ MB/s of the other):",
        "",
        *ratio_table(plain),
    ]
    if "gzip" in results:
        out += ["", "### gzip (.jsonl.gz)", "", *contender_table(results["gzip"]), "", *ratio_table(results["gzip"])]
    if "scaling" in results:
        out += ["", "### Scaling", "", *scaling_tables(results["scaling"])]
    out += ["", "### In memory (micro)", "", *micro_table(results["micro"])]
    out += ["", "![throughput](results/throughput.png)"]
    return "\n".join(out)


# -------------------------------------------------------------------- plot


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = [s for s in ("plain", "gzip") if s in results]
    scaling = results.get("scaling")
    ncols = 3 if scaling else len(sections)
    fig, axes = plt.subplots(2 if scaling else 1, ncols, figsize=(6 * ncols, 10 if scaling else 5), squeeze=False)
    colors = {"limit": "#999999", "streamer": "#1f77b4", "tuning": "#9ecae1"}
    for ax, key in zip(axes[0], sections, strict=False):
        cs = results[key]["contenders"]
        names = list(cs)[::-1]
        values = [cs[n]["mb_per_s"] for n in names]
        errors = [[cs[n]["mb_per_s"] - cs[n]["mb_per_s_min"] for n in names],
                  [cs[n]["mb_per_s_max"] - cs[n]["mb_per_s"] for n in names]]  # fmt: skip
        ax.barh(names, values, xerr=errors, color=[colors.get(GROUPS.get(n, ""), "#ff7f0e") for n in names])
        ax.set_xlabel("MB/s of decoded JSONL (median, min–max)")
        ax.set_title(f"{key}: {results[key]['decoded_mb']:.0f} MB, {results[key]['parts']} parts")
        ax.set_xscale("log")
        ax.tick_params(axis="y", labelsize=8)
    if scaling:
        ax = axes[0][2]
        micro = results["micro"]
        labels = ["per line, dropped", "batches of dicts", "batches of Records", "typed (convert)"]
        on = [micro["drop_each_gc_on"], micro["batch_dicts_gc_on"], micro["batch_records_gc_on"], micro["typed_convert_gc_on"]]
        frozen = [micro["drop_each_gc_frozen"], micro["batch_dicts_gc_frozen"], micro["batch_records_gc_frozen"], 0]
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], on, 0.4, label="GC on")
        ax.bar([x + 0.2 for x in xs], frozen, 0.4, label="GC frozen (CLI)")
        ax.set_xticks(list(xs), labels, rotation=15, fontsize=8)
        ax.set_ylabel("MB/s, in memory")
        ax.set_title("parse cost of keeping records (micro)")
        ax.legend()
        sizes = [p["size_mb"] for p in scaling["by_size"]]
        ax = axes[1][0]
        for name in ("streamer-lib", "streamer-slow-sink"):
            ax.plot(sizes, [p["contenders"][name]["wall"] for p in scaling["by_size"]], "o-", label=name)
        ax.set_xlabel("export MB")
        ax.set_ylabel("wall s")
        ax.set_title("time vs export size (linear)")
        ax.legend()
        ax = axes[1][1]
        for name in ("streamer-lib", "streamer-slow-sink"):
            ax.plot(sizes, [p["contenders"][name]["peak_rss_mb"] for p in scaling["by_size"]], "o-", label=name)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("export MB")
        ax.set_ylabel("peak RSS MB")
        ax.set_title("memory vs export size (flat)")
        ax.legend()
        ax = axes[1][2]
        ax.plot([p["concurrency"] for p in scaling["by_concurrency"]],
                [p["mb_per_s"] for p in scaling["by_concurrency"]], "o-", label="vs concurrency (8 parts)")  # fmt: skip
        ax.plot([p["parts"] for p in scaling["by_parts"]],
                [p["mb_per_s"] for p in scaling["by_parts"]], "s--", label="vs part count (concurrency 4)")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("concurrency / parts")
        ax.set_ylabel("library MB/s")
        ax.set_title("library throughput vs concurrency and parts")
        ax.legend()
    fig.suptitle(f"streamer benchmarks, {results['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
