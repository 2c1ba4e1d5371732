"""``python -m bench.report``: the last run (``bench/results/latest.json``) as Markdown tables,
for docs/PERFORMANCE.md."""

import json
import sys

from bench.run import RESULTS, ROUNDS


def main() -> int:
    data = json.loads((RESULTS / "latest.json").read_text())
    machine = data["machine"]
    print(f"Run of {data['when']} on {machine['cpus']} cores, Python {machine['python']}, "
          f"{machine['platform']}; {data['settings']['workers']} gunicorn workers × "
          f"{data['settings'].get('threads', 2)} threads, "
          f"wrk with {data['settings']['connections']} connections for "
          f"{data['settings']['seconds']} s per endpoint.\n")  # fmt: skip
    for backend, sizes in data["results"].items():
        for size, result in sizes.items():
            facts = result["facts"]
            print(f"### {backend} · {size}: {facts['people']:,} people, {facts['sessions']:,} "
                  f"sessions, {facts['attendance']:,} attendance rows\n")  # fmt: skip
            print("| endpoint | req/s | p50 ms | p95 ms | queries | vs /healthz | KB |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for name, r in result["endpoints"].items():
                print(f"| `{name}` | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                      f"{r.get('queries', '')} | {r['vs_healthz']:.0%}"
                      f"{' *' if 'floor_rps' in r else ''} | "
                      f"{r.get('bytes', 0) / 1024:.1f} |")  # fmt: skip
            first = result["endpoints"].get("check-in POST")
            if first:
                print(f"\n`check-in POST`: {first['first_taps']:,} of {first['requests']:,} "
                      "requests were someone's first check-in to a session; `check-in again` "
                      "taps a session already checked in to.")  # fmt: skip
            print(f"\n\\* against `/healthz` measured in turns with the endpoint ({ROUNDS} "
                  "rounds each), the median of the rounds' ratios; latency: the middle "
                  "round's.")  # fmt: skip
            feed = result["feed"]
            print(f"\nYear feed: {feed['events']} events in {feed['feed_ms']:.1f} ms against "
                  f"{feed['bare_icalendar_ms']:.1f} ms for icalendar alone: "
                  f"**{feed['ratio']:.2f}×**.\n")  # fmt: skip
    for backend, pairs in data.get("flat_in_turns", {}).items():
        for big, flat in pairs.items():
            print(f"### {backend} · one program as the database grows: program and {big}\n")
            print(f"| endpoint | program p95 ms | {big} p95 ms | growth (median) | each round |")
            print("|---|---:|---:|---:|---|")
            for name, r in flat.items():
                rounds = " ".join(f"{g:.2f}" for g in r["round_growth"])
                print(f"| `{name}` | {r['program_p95_ms']:.1f} | {r['big_p95_ms']:.1f} | "
                      f"{r['growth']:.2f}× | {rounds} |")  # fmt: skip
            print()
    bursts = data.get("room_burst", {})
    if bursts:
        print("### Room burst: 100 phones' first check-ins to one session within 1 s\n")
        print("| database | taps | p50 ms | p95 ms | p99 ms | max ms | each counted once |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for backend, b in bursts.items():
            print(f"| {backend} | {b['taps']} | {b['p50_ms']:.1f} | {b['p95_ms']:.1f} | "
                  f"{b['p99_ms']:.1f} | {b['max_ms']:.1f} | "
                  f"{'yes' if b['each_once'] else '**no**'} |")  # fmt: skip
        print()
    for backend, steps in data.get("phone_wait", {}).items():
        print(f"### {backend} · the phone's wait (Fast 3G, CPU ×4), ms from each navigation\n")
        print("| step | first byte | first contentful paint | loaded | confirmation |")
        print("|---|---:|---:|---:|---:|")
        for name, step in steps.items():
            confirmed = f"{step['confirmed']:.0f}" if "confirmed" in step else ""
            print(f"| {name} | {step['ttfb']:.0f} | {step['fcp']:.0f} | {step['load']:.0f} | "
                  f"{confirmed} |")  # fmt: skip
        print()
    print("### Budgets\n")
    print("| budget | result | |")
    print("|---|---|---|")
    for b in data["budgets"]:
        verdict = {True: "pass", False: "**fail**", None: "reported"}[b["ok"]]
        print(f"| {b['budget']} | {b['value']} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
