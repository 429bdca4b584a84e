#!/usr/bin/env python3
"""Writes the labelled judgement scenarios of examples/decisions/.

Each scenario is an hour of one or more ViolationPolicies: a metric series per
policy (one value per evaluation interval, with AR(1) noise, occasional small
spikes and lognormal-ish latency), the violations derived from that series exactly
as the monitor records them (Prometheus alerting `for` semantics, at most the last
50 violations and the last 120 samples kept), and `expect`: what an SRE agrees is
the right decision. The `long-*` families span 12 hours instead, with the last
1,440 samples kept (the operator's HISTORY_SAMPLES), so that the engine's long
memory (8-hour record, 12-hour baseline) is exercised. The `episode-*` families
span 3-4 hours and state the policy's breach episode before now (`episodes:`, as
the operator keeps it in the status), so that the episode rules are exercised:
escalation, exhaustion, the worsening bar, declined plans, resolution. The labels come from SRE judgement of the situation each
family describes, never from running the engine.

Standard library only and deterministic (fixed seeds):

    python3 mk/decisions-scenarios.py                 # rewrites examples/decisions/
    python3 mk/decisions-scenarios.py --only change-  # (re)writes only change-*.yaml
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "examples" / "decisions"
HOUR = 3600
MAX_SAMPLES = 120  # what the hour-long scenarios keep (the operator's first window)
HISTORY_SAMPLES = 1440  # HISTORY_SAMPLES of the live operator: what 12-hour scenarios keep
MAX_VIOLATIONS = 50  # MAX_RECENT_VIOLATIONS
HEADROOM = 1.1  # the engine's sizing headroom; labels avoid cases it would change
BASE_START = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.timezone.utc)


class Retry(Exception):
    """The draw does not show what the family needs; try the next seed."""


def need(cond: bool, why: str) -> None:
    if not cond:
        raise Retry(why)


# --- numbers -----------------------------------------------------------------


def sig(v: float, digits: int = 4) -> float:
    """`v` rounded to `digits` significant digits."""
    if v == 0 or not math.isfinite(v):
        return 0.0
    return round(v, digits - 1 - int(math.floor(math.log10(abs(v)))))


def num(v: float) -> str:
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def grid(interval: int, hours: int = 1) -> list[int]:
    """Evaluation times of the hours, ending at the last evaluation (`now`)."""
    return [k * interval for k in range(hours * HOUR // interval + 1)]


def ar1(rng: random.Random, n: int, sd: float, phi: float) -> list[float]:
    """Stationary AR(1) noise with standard deviation `sd`."""
    x = rng.gauss(0, sd)
    out = []
    for _ in range(n):
        out.append(x)
        x = phi * x + math.sqrt(1 - phi * phi) * rng.gauss(0, sd)
    return out


def lognoisy(rng, means, sd=0.06, phi=0.6, spike_p=0.02, spike=(0.08, 0.25)):
    """Multiplicative (lognormal) noise: latency-like, never negative."""
    out = []
    for m, e in zip(means, ar1(rng, len(means), sd, phi)):
        v = m * math.exp(e - sd * sd / 2)
        if rng.random() < spike_p:
            v *= 1 + rng.uniform(*spike)
        out.append(v)
    return out


def addnoisy(rng, means, sd, phi=0.5, lo=0.0, hi=None, spike_p=0.0, spike=(0.0, 0.0)):
    """Additive noise, clipped to [lo, hi]: ratios, utilisation, counts."""
    out = []
    for m, e in zip(means, ar1(rng, len(means), sd, phi)):
        v = m + e
        if rng.random() < spike_p:
            v += rng.uniform(*spike)
        v = max(lo, v)
        if hi is not None:
            v = min(hi, v)
        out.append(v)
    return out


def ramp(t: float, a: float, b: float, width: float) -> float:
    """0 before `a`, 1 from `a + width` to `b`, back to 0 at `b + width`."""
    if t < a or t > b + width:
        return 0.0
    if t < a + width:
        return (t - a) / width if width else 1.0
    if t <= b:
        return 1.0
    return 1 - (t - b) / width if width else 0.0


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# --- the monitor -------------------------------------------------------------


def violates(op: str, v: float, thr: float) -> bool:
    return v > thr if op == "GreaterThan" else v < thr


def derive(times, values, op, thr, for_s):
    """The violations the monitor records: an evaluation over the threshold starts
    (or continues) a pending run; once the run has held `for` seconds every
    violating evaluation records one violation; one within the threshold resets."""
    pending = None
    out = []
    for t, v in zip(times, values):
        if violates(op, v, thr):
            if pending is None:
                pending = t
            if t - pending >= for_s:
                out.append((t, v))
        else:
            pending = None
    return out[-MAX_VIOLATIONS:], pending


def hpa(current: int, value: float, thr: float, bounds: dict, headroom: float = 1.0) -> int:
    want = math.ceil(current * value * headroom / thr - 1e-9)
    return max(current, min(want, bounds["maxReplicas"], current + bounds["maxStep"]))


# --- scenario ----------------------------------------------------------------


class Policy:
    def __init__(self, name, target, threshold, interval, for_s, replicas, remediation,
                 component=None, metric=None, severity="warning", operator="GreaterThan",
                 hours=1):
        self.name, self.target, self.threshold = name, target, threshold
        self.hours = hours
        self.interval, self.for_s, self.replicas = interval, for_s, replicas
        self.remediation = remediation
        self.component, self.metric = component, metric
        self.severity, self.operator = severity, operator
        self.times = grid(interval, hours)
        self.values: list[float] = []
        self.load: list[float] | None = None  # the policy's load query, if it has one
        self.keep_firing_for: int | None = None  # seconds (`keepFiringFor`), if set
        self.max_plans: int | None = None  # `maxPlansPerEpisode`, if set

    def set_values(self, values):
        assert len(values) == len(self.times), (self.name, len(values), len(self.times))
        self.values = [sig(v) for v in values]

    def set_load(self, values):
        assert len(values) == len(self.times), (self.name, len(values), len(self.times))
        self.load = [sig(v) for v in values]

    def load_window(self):
        keep = MAX_SAMPLES if self.hours == 1 else HISTORY_SAMPLES
        return self.times[-keep:], self.load[-keep:]

    def violations(self):
        return derive(self.times, self.values, self.operator, self.threshold, self.for_s)[0]

    def pending_since(self):
        return derive(self.times, self.values, self.operator, self.threshold, self.for_s)[1]

    def window(self):
        """(times, values) of the samples the operator keeps."""
        keep = MAX_SAMPLES if self.hours == 1 else HISTORY_SAMPLES
        return self.times[-keep:], self.values[-keep:]

    def breaching_now(self):
        """Whether the last evaluation recorded a violation."""
        v = self.violations()
        return bool(v) and v[-1][0] == self.times[-1]

    def recorded_run(self):
        """How many evaluations of the current run recorded a violation."""
        n = 0
        vs = {t for t, _ in self.violations()}
        for t in reversed(self.times):
            if t not in vs:
                break
            n += 1
        return n


def envelope(actions, scale=None, config=None):
    e = {"allowedActions": list(actions)}
    if scale:
        e["scale"] = scale
    if config:
        e["config"] = config
    return e


def bounds(lo, hi, step):
    return {"minReplicas": lo, "maxReplicas": hi, "maxStep": step}


def setting(name, value, actions, target="Env"):
    return {"name": name, "target": target, "value": value, "actions": list(actions)}


PLAIN = re.compile(r"^[A-Za-z0-9][^#\n\"]*$")


def text(s: str) -> str:
    s = " ".join(s.split())
    return s if PLAIN.match(s) and ": " not in s and not s.endswith(":") else json.dumps(s)


def flow(d: dict) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, list):
            parts.append(f"{k}: [{', '.join(str(x) for x in v)}]")
        elif isinstance(v, str):
            parts.append(f"{k}: {json.dumps(v) if k == 'value' else v}")
        else:
            parts.append(f"{k}: {num(v)}")
    return "{" + ", ".join(parts) + "}"


def wrap(values, indent, per_line=12):
    body = [", ".join(num(v) for v in values[i:i + per_line])
            for i in range(0, len(values), per_line)]
    if len(body) <= 1:
        return "[" + (body[0] if body else "") + "]"
    pad = " " * indent
    return "[" + (",\n" + pad).join(body) + "]"


class Scenario:
    def __init__(self, name, description, policies, expect, outcomes=(), index=0):
        self.name, self.description = name, description
        self.policies, self.expect = policies, expect
        self.outcomes = list(outcomes)
        self.changes: list[dict] = []  # pod-template changes (`changes:`), if any
        self.episodes: list[dict] = []  # breach episodes before now (`episodes:`), if any
        # The operator feeds the analyzer only the violations after the last plan
        # of an episode closed.
        self.violations_after: int | None = None
        self.start = BASE_START + dt.timedelta(days=index // 4, hours=(index * 7) % 24 - 10)

    def clock(self, t):
        return (self.start + dt.timedelta(seconds=t)).strftime("%H:%M")

    def render(self) -> str:
        now = max(p.times[-1] for p in self.policies)
        out = [f"description: {text(self.description)}",
               f"start: {self.start.strftime('%Y-%m-%dT%H:%M:%SZ')}",
               f"now: {now}",
               "policies:"]
        for p in self.policies:
            out.append(f"  - name: {p.name}")
            out.append(f"    target: {p.target}")
            if p.component:
                out.append(f"    component: {p.component}")
            if p.metric:
                out.append(f"    metric: {p.metric}")
            out.append(f"    severity: {p.severity}")
            out.append(f"    operator: {p.operator}")
            out.append(f"    threshold: {num(p.threshold)}")
            out.append(f"    currentReplicas: {p.replicas}")
            out.append(f"    interval: {p.interval}")
            out.append(f"    for: {p.for_s}")
            if p.keep_firing_for is not None:
                out.append(f"    keepFiringFor: {p.keep_firing_for}")
            if p.max_plans is not None:
                out.append(f"    maxPlansPerEpisode: {p.max_plans}")
            r = p.remediation
            out.append("    remediation:")
            out.append(f"      allowedActions: [{', '.join(r['allowedActions'])}]")
            if "scale" in r:
                out.append(f"      scale: {flow(r['scale'])}")
            if r.get("config"):
                out.append("      config:")
                for c in r["config"]:
                    out.append(f"        - {flow(c)}")
        vs = [(t, p.name, v) for p in self.policies for t, v in p.violations()]
        vs.sort(key=lambda x: (x[0], x[1]))
        if self.violations_after is not None:
            vs = [v for v in vs if v[0] > self.violations_after]
        if vs:
            out.append("violations:")
            for t, name, v in vs:
                out.append(f"  - {{policy: {name}, t: {t}, value: {num(v)}}}")
        else:
            out.append("violations: []")
        out.append("series:")
        for p in self.policies:
            ts, values = p.window()
            out.append(f"  - policy: {p.name}")
            out.append(f"    start: {ts[0]}")
            out.append(f"    step: {p.interval}")
            out.append(f"    values: {wrap(values, 13)}")
        loaded = [p for p in self.policies if p.load is not None]
        if loaded:
            out.append("load:")
            for p in loaded:
                ts, values = p.load_window()
                out.append(f"  - policy: {p.name}")
                out.append(f"    start: {ts[0]}")
                out.append(f"    step: {p.interval}")
                out.append(f"    values: {wrap(values, 13)}")
        if self.outcomes:
            out.append("outcomes:")
            for o in self.outcomes:
                out.append(f"  - {flow(o)}")
        if self.changes:
            out.append("changes:")
            for c in self.changes:
                out.append(f"  - target: {c['target']}")
                out.append(f"    t: {num(c['t'])}")
                out.append(f"    revision: {c['revision']}")
                out.append(f"    previousRevision: {c['revision'] - 1}")
                out.append("    diff:")
                for field, before, after in c["diff"]:
                    parts = [f"field: {json.dumps(field)}"]
                    if before is not None:
                        parts.append(f"before: {json.dumps(before)}")
                    if after is not None:
                        parts.append(f"after: {json.dumps(after)}")
                    out.append("      - {" + ", ".join(parts) + "}")
        if self.episodes:
            out.append("episodes:")
            for e in self.episodes:
                out.append(f"  - policy: {e['policy']}")
                out.append(f"    since: {num(e['since'])}")
                out.append(f"    lastBreach: {num(e['lastBreach'])}")
                out.append(f"    state: {e['state']}")
                if "endedAt" in e:
                    out.append(f"    endedAt: {num(e['endedAt'])}")
                if e["plans"]:
                    out.append("    plans:")
                for pl in e["plans"]:
                    parts = [f"name: {pl['name']}", f"t: {num(pl['t'])}",
                             f"level: {num(pl['level'])}", f"state: {pl['state']}"]
                    if "closedAt" in pl:
                        parts.append(f"closedAt: {num(pl['closedAt'])}")
                    if pl.get("worsened"):
                        parts.append("worsened: true")
                    out.append("      - {" + ", ".join(parts) + "}")
        e = self.expect
        out.append("expect:")
        if e.get("noPlan"):
            out.append("  noPlan: true")
        else:
            out.append(f"  target: {e['target']}")
            out.append(f"  action: {e['action']}")
            if "replicas" in e:
                out.append(f"  replicas: {e['replicas']}")
        out.append(f"  reason: {text(e['reason'])}")
        return "\n".join(out) + "\n"


def poss(name: str) -> str:
    """`name`'s, or `name`' for a name ending in s."""
    return name + ("'" if name.endswith("s") else "'s")


def th(thr: float, metric: str) -> str:
    """A threshold as a description says it: seconds for latency."""
    return f"{num(thr)} s" if metric == LAT else num(thr)


def no_plan(reason):
    return {"noPlan": True, "reason": reason}


def plan(target, action, reason, replicas=None):
    e = {"target": target, "action": action, "reason": reason}
    if replicas is not None:
        e["replicas"] = replicas
    return e


# --- shared policy shapes -----------------------------------------------------

LAT = "http_request_p99_seconds"
CPU = "container_cpu_utilisation_ratio"
ERR = "http_error_ratio"
MEM = "container_memory_working_set_ratio"
RESTARTS = "kube_pod_container_restarts_5m"
RPS = "http_requests_per_second"


def scaling(replicas, hi=10, step=4, extra=("RESTART_SERVICE",)):
    return envelope(["SCALE_UP", *extra], bounds(max(1, min(2, replicas)), hi, step))


def quiet_tail(p: Policy, seconds: int, margin: float = 0.9):
    """The last `seconds` of `p` are clearly within its threshold."""
    for t, v in zip(p.times, p.values):
        if t > p.times[-1] - seconds:
            if p.operator == "GreaterThan":
                need(v < p.threshold * margin, f"{p.name} not quiet at {t}")
            else:
                need(v > p.threshold / margin, f"{p.name} not quiet at {t}")


def no_violations(p: Policy):
    need(not p.violations(), f"{p.name} has violations")


# --- families ----------------------------------------------------------------
# Each builder takes (rng, index, **params) and returns a Scenario, or raises
# Retry when the draw does not show what the family is about.


def stale_overload(rng, index, *, n, target, interval, for_s, thr, metric, unit, replicas,
                   incidents, peak):
    """An overload that ended: no plan, however bad it was."""
    p = Policy(f"{target}-latency" if metric == LAT else f"{target}-cpu", target, thr, interval,
               for_s, replicas, scaling(replicas), metric=metric,
               severity="critical" if peak > 2 else "warning")
    base = thr * rng.uniform(0.4, 0.55)
    means = []
    for t in p.times:
        level = max(ramp(t, a, b, 2 * interval) for a, b in incidents)
        means.append(base * (1 + (peak * thr / base - 1) * level))
    if metric == LAT:
        p.set_values(lognoisy(rng, means, sd=0.07, phi=0.6))
    else:
        p.set_values(addnoisy(rng, means, sd=0.02 * thr, phi=0.6, hi=1.0))
    need(len(p.violations()) >= 5, "too few violations")
    end = max(b for _, b in incidents) + 2 * interval
    quiet_tail(p, HOUR - end - interval, 0.85)
    s = Scenario(f"stale-overload-{n}", "", [p], None, index=index)
    spans = " and ".join(f"{s.clock(a)}-{s.clock(b)}" for a, b in incidents)
    ago = (HOUR - end) // 60
    s.description = (f"{poss(target)} {unit} ran at about {peak:.1f}x its {th(thr, metric)} threshold "
                     f"({spans}) and has been back at its normal level for the last {ago} minutes.")
    s.expect = no_plan(f"The overload ended {ago} minutes ago and every evaluation since is "
                       "well within the threshold; there is nothing to remediate now.")
    return s


def noise_threshold(rng, index, *, n, target, interval, for_s, thr, level, sd, metric):
    """A metric hovering at its threshold, crossing at random: no plan."""
    p = Policy(f"{target}-latency" if metric == LAT else f"{target}-cpu", target, thr, interval,
               for_s, 4, scaling(4), metric=metric)
    means = [thr * level] * len(p.times)
    if metric == LAT:
        p.set_values(lognoisy(rng, means, sd=sd, phi=0.3, spike_p=0.0))
    else:
        p.set_values(addnoisy(rng, means, sd=sd * thr, phi=0.3, hi=1.0))
    over = [violates(p.operator, v, thr) for v in p.values]
    frac = sum(over) / len(over)
    need(0.12 <= frac <= 0.45, f"crossing fraction {frac:.2f}")
    need(len(p.violations()) >= 3, "too few violations")
    need(not all(over[-3:]), "the last three evaluations all cross")
    longest = run = 0
    for o in over:
        run = run + 1 if o else 0
        longest = max(longest, run)
    need(longest <= 5, "a long run of crossings")
    need(max(p.values) < thr * 1.25, "a crossing far over the threshold")
    s = Scenario(f"noise-threshold-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} {'p99 latency' if metric == LAT else 'CPU utilisation'} "
                     f"hovers around {num(sig(thr * level, 3))} all hour, just under its "
                     f"{th(thr, metric)} threshold, and crosses it on {round(frac * 100)}% of the "
                     f"evaluations at random ({len(p.violations())} violations recorded).")
    s.expect = no_plan("The metric is at its usual level and the crossings are short and "
                       "scattered noise around the threshold, not a breach that stands out.")
    return s


SERVICES = ["checkout", "cart", "search", "catalog", "payments", "auth", "shipping", "pricing",
            "reviews", "wishlist", "notifications", "profile", "orders", "gateway"]


def shared_glitch(rng, index, *, n, k, interval, ago):
    """One sample over the threshold at the same instant on k Deployments sharing a
    metric: a scrape or query hiccup, no plan."""
    policies = []
    t_glitch = HOUR - ago * interval
    for i in range(k):
        target = SERVICES[i]
        thr = rng.choice([0.4, 0.5, 0.6, 0.8])
        reps = rng.choice([2, 3, 4, 6])
        p = Policy(f"{target}-latency", target, thr, interval, 0, reps, scaling(reps),
                   metric=LAT)
        base = thr * rng.uniform(0.35, 0.55)
        values = lognoisy(rng, [base] * len(p.times), sd=0.06, phi=0.6, spike_p=0.01)
        g = p.times.index(t_glitch)
        values[g] = thr * rng.uniform(1.4, 3.0)
        p.set_values(values)
        vs = p.violations()
        need(len(vs) == 1 and vs[0][0] == t_glitch, f"{target}: not exactly the glitch")
        policies.append(p)
    s = Scenario(f"shared-glitch-{k}-targets" + (f"-{ago}-ago" if ago else ""), "", policies,
                 None, index=index)
    when = "the latest one" if ago == 0 else f"{ago} evaluations ago at {s.clock(t_glitch)}"
    s.description = (f"All {k} Deployments that share {LAT} jump over their thresholds on one "
                     f"single evaluation, {when}, after a quiet hour, with nothing before or after.")
    s.expect = no_plan("One sample on every Deployment at the same instant is a shared cause "
                       "(a scrape or query hiccup), not an overload of any of them.")
    return s


def upstream(rng, index, *, n, inv_interval, inv_for, episodes, with_rps, replicas):
    """Inventory latency spikes lead checkout's errors by about 60 s: throttle checkout."""
    inv = Policy("inventory-latency", "inventory", 0.5, inv_interval, inv_for, 3, envelope([]),
                 component="inventory-api", metric="inventory_p99_seconds")
    co = Policy("checkout-errors", "checkout", 0.05, 30, 60, replicas,
                envelope(["SCALE_UP", "THROTTLE_REQUESTS"], bounds(2, 12, 4),
                         [setting("RATE_LIMIT", "100", ["THROTTLE_REQUESTS"])]),
                component="checkout-api", metric="checkout_error_ratio", severity="critical")
    spans = []
    for start, dur in episodes:
        lag = rng.choice([45, 60, 60, 75]) if inv_interval == 15 else 60
        spans.append((start, start + dur, lag))
    inv_base = rng.uniform(0.12, 0.2)
    peak = rng.uniform(0.9, 1.6)
    inv_means = [inv_base + (peak - inv_base) * max(ramp(t, a, b, inv_interval) for a, b, _ in spans)
                 for t in inv.times]
    inv.set_values(lognoisy(rng, inv_means, sd=0.08, phi=0.5))
    err_base = rng.uniform(0.004, 0.01)
    err_peak = rng.uniform(0.1, 0.2)
    co_means = [err_base + (err_peak - err_base) *
                max(ramp(t, a + lag, b + lag, 30) for a, b, lag in spans) for t in co.times]
    co.set_values(addnoisy(rng, co_means, sd=0.006, phi=0.5, lo=0.0, hi=1.0))
    need(co.breaching_now() and co.recorded_run() >= 2, "checkout not breaching now")
    need(inv.breaching_now(), "inventory not breaching now")
    policies = [inv, co]
    if with_rps:
        rps = Policy("checkout-rps", "checkout", 400, 30, 60, replicas, co.remediation,
                     component="checkout-api", metric="checkout_requests_per_second")
        rps.set_values(addnoisy(rng, [rng.uniform(170, 210)] * len(rps.times), sd=12, phi=0.7))
        no_violations(rps)
        policies.append(rps)
    s = Scenario(f"upstream-inventory-{n}", "", policies, None, index=index)
    s.description = (f"Inventory's p99 latency spiked {len(spans)} times in the hour "
                     f"({', '.join(s.clock(a) for a, _, _ in spans)}, the last one still on) and "
                     "each time checkout's error ratio rose over 5% about a minute later"
                     + ("; checkout's request rate stayed flat." if with_rps else "."))
    s.expect = plan("checkout", "THROTTLE_REQUESTS",
                    "Checkout's errors follow inventory's latency by about 60 s every time and "
                    "its load did not rise, so more checkout replicas would not help; throttling "
                    "protects checkout while the upstream recovers.")
    return s


def sawtooth_leak(rng, index, *, n, target, interval, for_s, restarts, base, rate, thr,
                  replicas):
    """Memory climbs, earlier restarts drop it sharply, and now it is over again."""
    p = Policy(f"{target}-memory", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=10, step=3), metric=MEM, severity="critical")
    means = []
    for t in p.times:
        since = max([r for r in restarts if r <= t] or [2 * restarts[0] - restarts[1]])
        means.append(base + rate * (t - since))
    p.set_values(addnoisy(rng, means, sd=0.006, phi=0.7, hi=0.999))
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    need(max(means) < 0.98, "the leak would pass the memory limit")
    ts, vs = p.window()
    drops = sum(1 for a, b in zip(vs, vs[1:]) if a - b > 0.25)
    need(drops >= 2, f"{drops} drops in the window")
    s = Scenario(f"sawtooth-leak-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} memory working set climbs steadily by about "
                     f"{round(rate * 60000)}% of its limit every 10 minutes, fell sharply at "
                     f"each restart ({', '.join(s.clock(r) for r in restarts)}), and is now over "
                     f"{round(thr * 100)}% again and still rising.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "A steady climb that each restart resets is a leak in every pod; a restart "
                    "frees the memory now, while more replicas would each leak the same way.")
    return s


def leak_linear(rng, index, *, n, target, interval, for_s, lo, hi, thr, replicas):
    p = Policy(f"{target}-memory", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=8, step=2), metric="container_memory_working_set_mib",
               severity="critical")
    means = [lo + (hi - lo) * t / HOUR for t in p.times]
    p.set_values(addnoisy(rng, means, sd=thr * 0.006, phi=0.7))
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    s = Scenario(f"leak-linear-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} memory working set has grown steadily from about {lo} MiB to "
                     f"{hi} MiB over the hour, with no drop, and has been over its {thr} MiB "
                     f"threshold for the last {p.recorded_run() * interval // 60 + for_s // 60} "
                     "minutes.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "A linear climb of memory at flat load is a leak; restarting frees it, "
                    "while scaling up only adds pods that leak too.")
    return s


def overload_policy(rng, name, target, metric, thr, interval, for_s, replicas, env, onset,
                    ratio, sd, base_level):
    p = Policy(name, target, thr, interval, for_s, replicas, env, metric=metric,
               severity="critical")
    means = [thr * (base_level + (ratio - base_level) * min(1.0, max(0.0, (t - onset) / (2 * interval) + 0.5)))
             if t >= onset else thr * base_level for t in p.times]
    pre = lognoisy(rng, means, sd=0.05, phi=0.6, spike_p=0.02)
    post = lognoisy(rng, means, sd=sd, phi=0.5, spike_p=0.0)
    p.set_values([a if t < onset else b for t, a, b in zip(p.times, pre, post)])
    return p


def sizing(rng, index, *, name, target, metric, thr, interval, for_s, replicas, ratio, hi,
           step, minutes):
    """A sudden, persistent overload now: SCALE_UP sized like the HPA."""
    sc = bounds(2, hi, step)
    env = envelope(["SCALE_UP", "RESTART_SERVICE"], sc)
    onset = HOUR - minutes * 60
    p = overload_policy(rng, f"{target}-{'latency' if metric == LAT else 'cpu'}", target, metric,
                        thr, interval, for_s, replicas, env, onset, ratio, 0.02,
                        rng.uniform(0.5, 0.65))
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    quiet = [v for t, v in zip(p.times, p.values) if t < onset]
    need(max(quiet) < thr * 0.95, "the quiet part crosses")
    post = [v for t, v in zip(p.times, p.values) if t >= onset + 2 * interval]
    answers = set()
    for window in (5, 10, len(post)):
        m = median(post[-window:])
        answers.add(hpa(replicas, m, thr, sc))
        answers.add(hpa(replicas, m, thr, sc, HEADROOM))
    need(len(answers) == 1, f"ambiguous size {answers}")
    want = answers.pop()
    s = Scenario(name, "", [p], None, index=index)
    what = "p99 latency" if metric == LAT else "CPU utilisation"
    s.description = (f"{poss(target)} {what} jumped at {s.clock(onset)} from about "
                     f"{num(sig(median(quiet), 2))} to a steady {num(sig(median(post), 3))} "
                     f"({ratio:.2f}x its {th(thr, metric)} threshold) and has stayed there for "
                     f"{minutes} minutes on {replicas} replicas.")
    raw = math.ceil(replicas * ratio - 1e-9)
    clip = ""
    if raw > want:
        clip = (f", clipped to maxReplicas {hi}" if want == hi
                else f", clipped to current + maxStep = {replicas}+{step}")
    s.expect = plan(target, "SCALE_UP",
                    f"A sudden overload that persists now calls for capacity: "
                    f"ceil({replicas} x {ratio:.2f}) = {raw} replicas{clip}.", replicas=want)
    return s


def chronic(rng, index, *, n, target, metric, thr, interval, for_s, replicas, ratio, hi, step):
    sc = bounds(2, hi, step)
    p = Policy(f"{target}-{'latency' if metric == LAT else 'cpu'}", target, thr, interval, for_s,
               replicas, envelope(["SCALE_UP", "RESTART_SERVICE"], sc), metric=metric)
    if metric == LAT:
        p.set_values(lognoisy(rng, [thr * ratio] * len(p.times), sd=0.02, phi=0.6, spike_p=0))
    else:
        p.set_values(addnoisy(rng, [thr * ratio] * len(p.times), sd=0.015 * thr, phi=0.6, hi=1))
    need(all(violates(p.operator, v, thr) for v in p.values), "dips under the threshold")
    answers = set()
    for window in (5, 10, 30, MAX_SAMPLES):
        m = median(p.values[-window:])
        answers.add(hpa(replicas, m, thr, sc))
        answers.add(hpa(replicas, m, thr, sc, HEADROOM))
    need(len(answers) == 1, f"ambiguous size {answers}")
    want = answers.pop()
    s = Scenario(f"chronic-steady-{n}", "", [p], None, index=index)
    what = "p99 latency" if metric == LAT else "CPU utilisation"
    s.description = (f"{poss(target)} {what} has sat at a steady {num(sig(median(p.values), 3))}, "
                     f"{ratio:.2f}x its {th(thr, metric)} threshold, for the whole hour on {replicas} "
                     "replicas, with no change.")
    s.expect = plan(target, "SCALE_UP",
                    "A steady, persistent breach is under-provisioning; capacity for the load: "
                    f"ceil({replicas} x {ratio:.2f}) = {want} replicas.", replicas=want)
    return s


def fault_policies(rng, target, component, interval, onset, replicas, env, with_rps, dips=()):
    err = Policy(f"{target}-errors", target, 0.02, interval, 60, replicas, env,
                 component=component, metric=ERR, severity="critical")
    e_base, e_peak = rng.uniform(0.002, 0.006), rng.uniform(0.06, 0.15)

    def faulty(t):
        return t >= onset and not any(d <= t < d + 2 * interval for d in dips)

    err.set_values(addnoisy(rng, [e_peak if faulty(t) else e_base for t in err.times],
                            sd=0.004, phi=0.5, hi=1.0))
    rs = Policy(f"{target}-restarts", target, 1, interval, 0, replicas, env,
                component=component, metric=RESTARTS, severity="warning")
    r_peak = rng.uniform(3, 5)
    rs.set_values([float(max(2, round(r_peak + rng.gauss(0, 0.8)))) if faulty(t)
                   else float(1 if rng.random() < 0.03 else 0) for t in rs.times])
    ps = [err, rs]
    if with_rps:
        rps = Policy(f"{target}-rps", target, 900, interval, 60, replicas, env,
                     component=component, metric=RPS)
        rps.set_values(addnoisy(rng, [rng.uniform(250, 400)] * len(rps.times), sd=15, phi=0.7))
        no_violations(rps)
        ps.append(rps)
    for p in (err, rs):
        need(p.breaching_now() and p.recorded_run() >= 3, f"{p.name} not breaching now")
    return ps


def component_fault(rng, index, *, n, target, interval, minutes, replicas, with_rps):
    env = envelope(["SCALE_UP", "RESTART_SERVICE"], bounds(2, 10, 3))
    onset = HOUR - minutes * 60
    ps = fault_policies(rng, target, f"{target}-api", interval, onset, replicas, env, with_rps)
    s = Scenario(f"component-fault-{n}", "", ps, None, index=index)
    s.description = (f"Since {s.clock(onset)} {poss(target)} error ratio is over 2% and its containers "
                     "restart several times every 5 minutes, both still breaching now"
                     + (", while its request rate stays flat." if with_rps else ", at flat load."))
    s.expect = plan(target, "RESTART_SERVICE",
                    "Two distinct symptoms of the same component breaching together at flat load "
                    "is a fault in the component, not load: restart it.")
    return s


def knowledge(rng, index, *, n, target, interval, minutes, replicas, setting_):
    env = envelope(["SCALE_UP", "RESTART_SERVICE", "UPDATE_CONFIGURATION"], bounds(2, 10, 3),
                   [setting_])
    onset = HOUR - minutes * 60
    tries = [onset + 600, onset + 1500]
    ps = fault_policies(rng, target, f"{target}-api", interval, onset, replicas, env, False,
                        dips=tries)
    outcomes = [{"target": target, "rootCause": "ComponentFault", "actions": ["RESTART_SERVICE"],
                 "outcome": "Ineffective", "t": t + 300} for t in tries]
    s = Scenario(f"knowledge-restart-ineffective-{n}", "", ps, None, outcomes, index=index)
    s.description = (f"{poss(target)} error ratio and container restarts have breached together since "
                     f"{s.clock(onset)}; restarts at {s.clock(tries[0])} and {s.clock(tries[1])} "
                     "were recorded as Ineffective and both symptoms are back.")
    s.expect = plan(target, "UPDATE_CONFIGURATION",
                    "Restarting this fault was tried twice and was ineffective both times; the "
                    f"allowed configuration change ({setting_['name']}) is the next remedy.")
    return s


def recurring(rng, index, *, n, target, interval, for_s, period, duty, thr, peak, replicas,
              phase):
    """The same load peak every `period` seconds, breaching now."""
    p = Policy(f"{target}-cpu", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=12, step=4), metric=CPU)
    base = thr * rng.uniform(0.45, 0.6)
    width = period * duty
    means = []
    for t in p.times:
        x = (t - phase) % period
        level = 0.0
        if x < width:
            level = math.sin(math.pi * min(1.0, x / width * 1.0)) ** 0.5
        means.append(base + (peak * thr - base) * level)
    p.set_values(addnoisy(rng, means, sd=0.02 * thr, phi=0.6, hi=1.0))
    need(p.breaching_now() and p.recorded_run() >= 2, "not breaching now")
    cycles = sum(1 for a, b in zip(p.values, p.values[1:])
                 if not violates("GreaterThan", a, thr) and violates("GreaterThan", b, thr))
    need(cycles >= 3, "too few cycles")
    s = Scenario(f"recurring-load-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} CPU utilisation peaks at about {peak:.2f}x its {num(thr)} "
                     f"threshold every {period // 60} minutes for about "
                     f"{round(width / 60)} minutes, and the current peak is on now.")
    s.expect = plan(target, "SCALE_UP",
                    "A load peak that recurs on a schedule and is breaching now needs capacity "
                    "for the peak; restarting would not change the load.")
    return s


def just_started(rng, index, *, n, target, interval, for_s, held, thr, ratio, stale):
    """The breach began less than `for` ago: only pending, no violation yet."""
    p = Policy(f"{target}-latency", target, thr, interval, for_s, 3, scaling(3), metric=LAT)
    base = thr * rng.uniform(0.4, 0.55)
    begin = HOUR - held
    means = []
    for t in p.times:
        m = base
        if t >= begin:
            m = thr * ratio
        if stale and stale[0] <= t <= stale[1]:
            m = thr * ratio * 0.9
        means.append(m)
    p.set_values(lognoisy(rng, means, sd=0.05, phi=0.6, spike_p=0.01))
    need(p.pending_since() == begin, "pending run does not start where planned")
    need(not p.violations() or p.violations()[-1][0] < begin - 600, "recent violations")
    need(bool(p.violations()) == bool(stale), "violations do not match the plan")
    if not stale:
        no_violations(p)
    s = Scenario(f"just-started-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} p99 latency went over its {num(thr)} s threshold at "
                     f"{s.clock(begin)}, {held} seconds before now, less than the {for_s} s `for`, "
                     "so the condition is only pending"
                     + (f"; an earlier incident ({s.clock(stale[0])}-{s.clock(stale[1])}) ended "
                        "long ago." if stale else "."))
    s.expect = no_plan("The breach has not yet held for the condition's `for`; the policy says "
                       "to wait before acting, and no violation is recorded for it.")
    return s


def slow_drift(rng, index, *, n, target, interval, thr, lo, hi, metric, what):
    p = Policy(f"{target}-{what.split()[0].lower()}", target, thr, interval, 60, 3,
               scaling(3), metric=metric)
    means = [lo + (hi - lo) * t / HOUR for t in p.times]
    p.set_values(addnoisy(rng, means, sd=0.01 * thr, phi=0.7, hi=1.0))
    no_violations(p)
    s = Scenario(f"slow-drift-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} {what} drifts slowly from {lo:.2f} to {hi:.2f} over the hour "
                     f"(the daily rise), still under its {num(thr)} threshold.")
    s.expect = no_plan("Nothing is breaching: a slow drift that stays within the threshold is "
                       "normal behaviour, not an incident.")
    return s


def single_spike(rng, index, *, n, target, interval, thr, ratio):
    p = Policy(f"{target}-latency", target, thr, interval, 0, 4, scaling(4), metric=LAT)
    values = lognoisy(rng, [thr * rng.uniform(0.35, 0.5)] * len(p.times), sd=0.07, phi=0.6)
    values[-1] = thr * ratio
    p.set_values(values)
    need(len(p.violations()) == 1 and p.breaching_now(), "not exactly one spike at the end")
    s = Scenario(f"single-spike-{n}", "", [p], None, index=index)
    s.description = (f"After a quiet hour, {poss(target)} p99 latency reads {num(p.values[-1])} "
                     f"({ratio:.1f}x its threshold) on the latest evaluation only.")
    s.expect = no_plan("One sample is not a persistent breach; the next evaluations will tell "
                       "whether it is an incident.")
    return s


def just_recovered(rng, index, *, n, target, interval, for_s, thr, ratio, replicas, minutes):
    p = Policy(f"{target}-latency", target, thr, interval, for_s, replicas, scaling(replicas),
               metric=LAT, severity="critical")
    base = thr * rng.uniform(0.45, 0.6)
    end = HOUR - 2 * interval
    begin = end - minutes * 60
    means = [thr * ratio if begin <= t < end else base for t in p.times]
    p.set_values(lognoisy(rng, means, sd=0.05, phi=0.5, spike_p=0.0))
    need(len(p.violations()) >= 5, "too few violations")
    need(p.violations()[-1][0] == end - interval, "the breach did not last until 2 evaluations ago")
    quiet_tail(p, 2 * interval, 0.8)
    s = Scenario(f"just-recovered-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} p99 latency breached at about {ratio:.1f}x its {num(thr)} s "
                     f"threshold for {minutes} minutes and the last two evaluations are back at "
                     f"about {num(sig(median(p.values[-2:]), 2))}.")
    s.expect = no_plan("The breach is over: the latest evaluations are back well within the "
                       "threshold, so there is no current problem to remediate.")
    return s


def idle_workers(rng, index, *, n, target, interval, for_s, thr, level, replicas, minutes):
    """A LessThan policy: the idle-worker ratio collapsed (saturated workers)."""
    p = Policy(f"{target}-idle-workers", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=12, step=4), metric="worker_idle_ratio",
               operator="LessThan", severity="critical")
    onset = HOUR - minutes * 60
    normal = rng.uniform(0.45, 0.6)
    p.set_values(addnoisy(rng, [level if t >= onset else normal for t in p.times],
                          sd=0.015, phi=0.5, lo=0.0, hi=1.0))
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    need(all(v > thr for t, v in zip(p.times, p.values) if t < onset), "earlier dips")
    s = Scenario(f"lessthan-idle-workers-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} share of idle workers fell at {s.clock(onset)} from about "
                     f"{normal:.2f} to {level:.2f}, under its {num(thr)} floor, and has stayed "
                     f"there for {minutes} minutes.")
    s.expect = plan(target, "SCALE_UP",
                    "Almost no idle workers for minutes means the pods are saturated by the "
                    "load; more replicas restore the spare capacity.")
    return s


def stalled_consumer(rng, index, *, n, target, interval, for_s, replicas, minutes,
                     with_load=True):
    """A LessThan policy: a queue consumer's throughput dropped to near zero and stays."""
    p = Policy(f"{target}-throughput", target, 50, interval, for_s, replicas,
               scaling(replicas, hi=8, step=2), metric="messages_consumed_per_second",
               operator="LessThan", severity="critical")
    onset = HOUR - minutes * 60
    normal = rng.uniform(120, 160)
    vals = addnoisy(rng, [normal] * len(p.times), sd=8, phi=0.6)
    vals = [v if t < onset else max(0.0, rng.gauss(1.0, 0.8)) for t, v in zip(p.times, vals)]
    p.set_values(vals)
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    if with_load:
        # The policy's load query: the rate producers publish at, steady all hour.
        p.set_load(addnoisy(rng, [normal] * len(p.times), sd=6, phi=0.6))
    s = Scenario(f"lessthan-stalled-consumer-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} consumption rate fell abruptly at {s.clock(onset)} from a steady "
                     f"{round(normal)} messages/s to almost zero and has stayed there for "
                     f"{minutes} minutes"
                     + (", while producers keep publishing at the same rate (its load query)."
                        if with_load else "."))
    s.expect = plan(target, "RESTART_SERVICE",
                    "Throughput collapsing to zero at once, rather than slowing under load, is a "
                    "stuck consumer; a restart reconnects it, more replicas of it would not.")
    return s


# --- 12-hour families: the long memory --------------------------------------

H12 = 12 * HOUR


def ago_text(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds < 2 * HOUR else f"{seconds / HOUR:.1f} hours"


def long_leak(rng, index, *, n, target, interval, for_s, lo, hi, thr, limit, replicas, shape,
              sd, gc_p, metric, unit):
    """Memory climbing for the whole 12 hours, no restart, over its threshold now."""
    p = Policy(f"{target}-memory", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=8, step=2), metric=metric, severity="critical", hours=12)
    end = p.times[-1]
    means = [lo + (hi - lo) * (t / end) ** shape for t in p.times]
    # Garbage collection shows as occasional dips below the trend.
    p.set_values(addnoisy(rng, means, sd=sd, phi=0.8, lo=0.0, hi=limit * 0.999, spike_p=gc_p,
                          spike=(-4 * sd, -2 * sd)))
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    need(max(means) < 0.98 * limit, "the leak would pass the memory limit")
    held = p.recorded_run() * interval + for_s
    s = Scenario(f"long-leak-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} memory working set has grown steadily for the whole 12 hours, "
                     f"from about {num(sig(lo, 3))}{unit} to {num(sig(median(p.values[-5:]), 3))}{unit}, "
                     f"with no restart and no drop, and has been over its {num(thr)}{unit} "
                     f"threshold for the last {held // 60} minutes.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "Memory that has climbed for 12 hours without ever coming down is a leak, "
                    "however close the level is to the day's median; restarting frees it, more "
                    "replicas would each leak the same way.")
    return s


def long_sawtooth(rng, index, *, n, target, interval, for_s, restarts, base, rate, thr,
                  replicas, sd, why):
    """Memory climbing between restarts for 12 hours; over its threshold again now."""
    p = Policy(f"{target}-memory", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=10, step=3), metric=MEM, severity="critical", hours=12)
    means = []
    for t in p.times:
        since = max([r for r in restarts if r <= t] or [2 * restarts[0] - restarts[1]])
        means.append(base + rate * (t - since))
    p.set_values(addnoisy(rng, means, sd=sd, phi=0.8, hi=0.999))
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    need(max(means) < 1.0, "the leak would pass the memory limit")
    ts, vs = p.window()
    drops = sum(1 for a, b in zip(vs, vs[1:]) if a - b > 0.15)
    need(drops >= len(restarts), f"{drops} drops in the window")
    peaks = [max(v for t, v in zip(p.times, p.values) if r - 600 <= t < r) for r in restarts]
    s = Scenario(f"long-sawtooth-leak-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} memory working set climbs steadily by about "
                     f"{round(rate * 360000)}% of its limit an hour and fell sharply at each "
                     f"restart ({', '.join(s.clock(r) for r in restarts)}; {why}, at "
                     f"{', '.join(f'{round(v * 100)}%' for v in peaks)}); it has climbed for "
                     f"{ago_text(p.times[-1] - restarts[-1])} since the last one and is over "
                     f"{round(thr * 100)}% again and still rising.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "A steady climb that each restart resets is a leak in every pod, whatever "
                    "level the earlier cycles reached; a restart frees the memory now, more "
                    "replicas would each leak the same way.")
    return s


def long_incident(rng, index, *, n, target, metric, thr, interval, for_s, replicas, ratio, hi,
                  step, minutes):
    """A sudden overload after hours of quiet: SCALE_UP sized like the HPA."""
    sc = bounds(2, hi, step)
    env = envelope(["SCALE_UP", "RESTART_SERVICE"], sc)
    p = Policy(f"{target}-{'latency' if metric == LAT else 'cpu'}", target, thr, interval, for_s,
               replicas, env, metric=metric, severity="critical", hours=12)
    end = p.times[-1]
    onset = end - minutes * 60
    level = rng.uniform(0.45, 0.6)
    phase = rng.uniform(0, 2 * math.pi)
    # The quiet hours follow the day's load: +-12% over a 24-hour cycle.
    means = [thr * level * (1 + 0.12 * math.sin(2 * math.pi * t / (24 * HOUR) + phase))
             if t < onset else thr * ratio for t in p.times]
    if metric == LAT:
        pre = lognoisy(rng, means, sd=0.06, phi=0.6, spike_p=0.02)
        post = lognoisy(rng, means, sd=0.02, phi=0.5, spike_p=0.0)
    else:
        pre = addnoisy(rng, means, sd=0.03 * thr, phi=0.6, hi=1.0, spike_p=0.01,
                       spike=(0.05 * thr, 0.15 * thr))
        post = addnoisy(rng, means, sd=0.015 * thr, phi=0.5, hi=1.0)
    p.set_values([a if t < onset else b for t, a, b in zip(p.times, pre, post)])
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    quiet = [v for t, v in zip(p.times, p.values) if t < onset]
    need(max(quiet) < thr * 0.95, "the quiet hours cross")
    post_v = [v for t, v in zip(p.times, p.values) if t >= onset + 2 * interval]
    answers = set()
    for window in (5, 10, len(post_v)):
        m = median(post_v[-window:])
        answers.add(hpa(replicas, m, thr, sc))
        answers.add(hpa(replicas, m, thr, sc, HEADROOM))
    need(len(answers) == 1, f"ambiguous size {answers}")
    want = answers.pop()
    s = Scenario(f"long-incident-{n}", "", [p], None, index=index)
    what = "p99 latency" if metric == LAT else "CPU utilisation"
    s.description = (f"After {onset / HOUR:.1f} quiet hours around {num(sig(median(quiet), 2))} (never "
                     f"over {num(sig(max(quiet), 2))}), {poss(target)} {what} jumped at "
                     f"{s.clock(onset)} to a steady {num(sig(median(post_v), 3))} ({ratio:.2f}x its "
                     f"{th(thr, metric)} threshold) and has stayed there for {minutes} minutes on "
                     f"{replicas} replicas.")
    s.expect = plan(target, "SCALE_UP",
                    "A level the metric has not reached all day, far beyond its usual range and "
                    "persisting now, is a real overload: capacity for it, "
                    f"ceil({replicas} x {ratio:.2f}) = {want} replicas.", replicas=want)
    return s


def long_daily_peaks(rng, index, *, n, target, metric, thr, interval, for_s, peaks, current,
                     rise, fall, level, minutes, what):
    """A metric whose normal day has peaks over its threshold; the current one reaches a
    level the last 8 hours reached several times: no plan."""
    p = Policy(f"{target}-{'latency' if metric == LAT else 'cpu'}", target, thr, interval, for_s,
               4, scaling(4, hi=10, step=3), metric=metric, hours=12)
    end = p.times[-1]
    onset = end - minutes * 60
    base = thr * level
    # (start, top, length at the top, ratio); the current peak is still rising or on top.
    shapes = [(a, a + rise, a + rise + length, r) for a, length, r in peaks]
    shapes.append((onset, onset + rise, end + HOUR, current))

    def mean(t):
        m = base
        for a, top, off, r in shapes:
            hgt = thr * r - base
            if a <= t < top:
                m = max(m, base + hgt * (t - a) / max(1, top - a))
            elif top <= t < off:
                m = max(m, base + hgt)
            elif off <= t < off + fall:
                m = max(m, base + hgt * (1 - (t - off) / fall))
        return m

    means = [mean(t) for t in p.times]
    if metric == LAT:
        p.set_values(lognoisy(rng, means, sd=0.07, phi=0.6, spike_p=0.02))
    else:
        p.set_values(addnoisy(rng, means, sd=0.03 * thr, phi=0.6, hi=1.0, spike_p=0.01,
                              spike=(0.05 * thr, 0.12 * thr)))
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    cur = max(v for t, v in zip(p.times, p.values) if t >= onset - 5 * 60)
    earlier = [max(v for t, v in zip(p.times, p.values) if a <= t < off + fall)
               for a, _, off, _ in shapes[:-1] if a >= end - 8 * HOUR]
    higher = sum(1 for v in earlier if v >= cur)
    need(higher >= 2, f"only {higher} earlier peaks in the last 8 h reach the current one")
    last_hour = [v for t, v in zip(p.times, p.values) if end - HOUR <= t < onset]
    need(all(not violates("GreaterThan", v, thr) for v in last_hour), "the last hour crosses")
    s = Scenario(f"long-daily-peaks-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} {what} sits around {num(sig(base, 2))} and peaks over its "
                     f"{th(thr, metric)} threshold {len(peaks)} times in 12 hours "
                     f"({', '.join(s.clock(a) for a, _, _ in peaks)}); the current peak began "
                     f"{minutes} minutes ago and reaches {num(sig(cur, 3))}, a level {higher} of "
                     "the peaks of the last 8 hours reached or passed.")
    s.expect = no_plan("The metric reaches this level several times a day and every earlier peak "
                       "passed on its own; it is the service's normal daily pattern (the "
                       "threshold sits inside it), not a new problem.")
    return s


# --- load signals: the policy's load query ------------------------------------


def load_jump(rng, index, *, n, target, interval, for_s, thr, floor, level, k, replicas, hi,
              step, minutes, rising):
    """p99 latency affine in the load per replica (`floor + c * load / replicas`) jumps
    at `onset`: with `rising`, because the request rate rose `k` times (an overload:
    SCALE_UP sized for the load); else at a flat request rate, with the same latency
    shape (not load: RESTART_SERVICE)."""
    sc = bounds(2, hi, step)
    p = Policy(f"{target}-latency", target, thr, interval, for_s, replicas,
               envelope(["SCALE_UP", "RESTART_SERVICE"], sc), metric=LAT, severity="critical")
    onset = HOUR - minutes * 60
    rps0 = rng.uniform(150, 400)
    c = (level * thr - floor) * replicas / rps0  # latency per request/s per replica
    if rising:
        ramp_means = [rps0 * (1 + (k - 1) * min(1.0, max(0.0, (t - onset) / (2 * interval) + 0.5)))
                      if t >= onset else rps0 for t in p.times]
    else:
        ramp_means = [rps0] * len(p.times)
    rps = addnoisy(rng, ramp_means, sd=0.03 * rps0, phi=0.6, lo=0.0)
    if rising:
        lat = [floor + c * r / replicas for r in rps]
    else:
        # The same shape at flat load: the pods got slower, not busier.
        lat = [floor + c * r / replicas * (k if t >= onset else 1.0) for t, r in zip(p.times, rps)]
    p.set_values(lognoisy(rng, lat, sd=0.03, phi=0.5, spike_p=0.0))
    p.set_load(rps)
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    quiet = [v for t, v in zip(p.times, p.values) if t < onset]
    need(max(quiet) < thr * 0.95, "the quiet part crosses")
    post = [v for t, v in zip(p.times, p.values) if t >= onset + 2 * interval]
    post_rps = [r for t, r in zip(p.times, p.load) if t >= onset + 2 * interval]
    s = Scenario(f"load-{'overload' if rising else 'flat-jump'}-{n}", "", [p], None, index=index)
    level_now = sig(median(post), 3)
    if rising:
        # The replicas at which the current rate brings latency back to the threshold
        # (the service's own model), with and without the engine's headroom, from
        # the medians of the last 5 and 10 evaluations.
        answers, hpas = set(), set()
        quiet_rps = [r for t, r in zip(p.times, p.load) if t < onset]
        m0, r0 = median(quiet), median(quiet_rps)
        for window in (5, 10):
            r_now = median(post_rps[-window:])
            m_now = median(post[-window:])
            # From the model, and as read off the data: the line through (rate,
            # latency) before and now reaches the threshold at `at` requests/s.
            at = r0 + (thr - m0) / (m_now - m0) * (r_now - r0)
            for need_r in (c * r_now / (thr - floor), replicas * r_now / at):
                for h in (1.0, HEADROOM):
                    want_w = math.ceil(need_r * h - 1e-9)
                    answers.add(max(replicas + 1, min(want_w, hi, replicas + step)))
            hpas.add(hpa(replicas, median(post[-window:]), thr, sc, HEADROOM))
        need(len(answers) == 1, f"ambiguous size {answers}")
        want = answers.pop()
        s.description = (f"{poss(target)} request rate (its load query) rose at {s.clock(onset)} "
                         f"from about {round(rps0)} to {round(median(post_rps))} requests/s "
                         f"({k:.1f}x), and its p99 latency with it, from about "
                         f"{num(sig(median(quiet), 2))} s to {num(level_now)} s over its {num(thr)} s "
                         f"threshold, for {minutes} minutes on {replicas} replicas.")
        s.expect = plan(target, "SCALE_UP",
                        f"Latency rising with a {k:.1f}x request rate is an overload. Latency here "
                        f"is about {num(sig(floor, 2))} s plus a part proportional to the requests "
                        f"per replica, so {replicas} replicas reach {num(thr)} s at about "
                        f"{round(rps0 * (thr - floor) / (level * thr - floor))} requests/s; "
                        f"{round(median(post_rps))} requests/s need {want} replicas"
                        + (f" (HPA's rule on the latency ratio would set {sorted(hpas)[0]})."
                           if want not in hpas else "."), replicas=want)
    else:
        s.description = (f"{poss(target)} p99 latency jumped at {s.clock(onset)} from about "
                         f"{num(sig(median(quiet), 2))} s to {num(level_now)} s, over its {num(thr)} s "
                         f"threshold, for {minutes} minutes on {replicas} replicas, while its "
                         f"request rate (its load query) stayed flat at about {round(rps0)} "
                         "requests/s.")
        s.expect = plan(target, "RESTART_SERVICE",
                        "The same requests now take longer: no more work arrived, so the pods got "
                        "slower (stuck workers, a degraded process, a bad change), not busier. More "
                        "replicas would not fix pods that are slow at flat load; a restart is the "
                        "cheap first remedy (if the cause is a bad release it will not help, and "
                        "the next evaluations show it).")
    return s


def load_cpu_climb(rng, index, *, n, target, interval, for_s, thr, level, k, climb_min,
                   replicas):
    """12 hours of CPU following the request rate (CPU per request constant); the rate
    climbs steadily for `climb_min` minutes to a new high for the day and CPU crosses
    its threshold: an overload, not a leak."""
    p = Policy(f"{target}-cpu", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=16, step=4), metric=CPU, hours=12)
    end = p.times[-1]
    start = end - climb_min * 60
    rps0 = rng.uniform(300, 900)
    phase = rng.uniform(0, 2 * math.pi)
    means = []
    for t in p.times:
        m = rps0 * (1 + 0.08 * math.sin(2 * math.pi * t / (6 * HOUR) + phase))
        if t >= start:
            m *= 1 + (k - 1) * (t - start) / (end - start)
        means.append(m)
    rps = addnoisy(rng, means, sd=0.02 * rps0, phi=0.6, lo=0.0)
    per = level * thr / rps0  # CPU per request/s at these replicas
    p.set_values(addnoisy(rng, [per * r for r in rps], sd=0.01 * thr, phi=0.5, hi=1.0))
    p.set_load(rps)
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    before = [v for t, v in zip(p.times, p.values) if t < start] or p.values[:60]
    need(max(before) < thr * 0.9, "the day before the climb crosses")
    s = Scenario(f"load-cpu-climb-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} request rate (its load query) has climbed steadily for "
                     f"{climb_min} minutes to {k:.2f}x its usual {round(rps0)} requests/s, the "
                     f"day's high, and its CPU utilisation has climbed with it from about "
                     f"{num(sig(median(before), 2))} to {num(sig(median(p.values[-5:]), 3))}, over its "
                     f"{num(thr)} threshold, on {replicas} replicas.")
    s.expect = plan(target, "SCALE_UP",
                    "CPU climbing in step with the request rate is the load, not a leak: the "
                    "cost per request is unchanged. More replicas carry it; a restart would "
                    "drop nothing and come back at once.")
    return s


def load_flat_leak(rng, index, *, n, target, interval, for_s, lo, hi, thr, replicas, hours):
    """Memory climbing steadily at a flat request rate: a leak, RESTART_SERVICE."""
    p = Policy(f"{target}-memory", target, thr, interval, for_s, replicas,
               scaling(replicas, hi=8, step=2), metric=MEM, severity="critical", hours=hours)
    end = p.times[-1]
    means = [lo + (hi - lo) * t / end for t in p.times]
    p.set_values(addnoisy(rng, means, sd=0.006, phi=0.7, hi=0.999))
    rps0 = rng.uniform(100, 600)
    p.set_load(addnoisy(rng, [rps0] * len(p.times), sd=0.03 * rps0, phi=0.6, lo=0.0))
    need(p.breaching_now() and p.recorded_run() >= 3, "not breaching now")
    s = Scenario(f"load-flat-leak-{n}", "", [p], None, index=index)
    s.description = (f"{poss(target)} memory working set has grown steadily from about "
                     f"{round(lo * 100)}% to {round(median(p.values[-5:]) * 100)}% of its limit over "
                     f"{hours} hour(s), with no drop, and is over its {round(thr * 100)}% "
                     f"threshold now, while its request rate (its load query) stayed flat at "
                     f"about {round(rps0)} requests/s.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "Memory climbing at a flat request rate is a leak, not load: restarting "
                    "frees it, more replicas would each leak the same way.")
    return s


# --- the catalogue ------------------------------------------------------------


# --- change awareness -----------------------------------------------------------
# A pod-template change (a new rollout revision, read from the Deployment's
# ReplicaSets) shortly before a breach that the previous revision did not have
# is a bad change: roll it back (ROLLBACK_REVISION) where the envelope allows it.


def change(target, t, revision, diff):
    return {"target": target, "t": t, "revision": revision, "diff": list(diff)}


def diff_words(diff):
    return ", ".join(f"{f} {json.dumps(b) if b is not None else 'unset'} -> "
                     f"{json.dumps(a) if a is not None else 'unset'}" for f, b, a in diff)


def rolling(replicas, rollback=True):
    extra = ("RESTART_SERVICE", "ROLLBACK_REVISION") if rollback else ("RESTART_SERVICE",)
    return scaling(replicas, hi=12, step=4, extra=extra)


def errors_policy(rng, target, interval, for_s, onset, replicas, env, hours=1, end=None):
    """The error ratio (threshold 2%) of `target` at about 0.4% until `onset`, then about
    5-10% (until `end`), and its flat request rate as the load query."""
    p = Policy(f"{target}-errors", target, 0.02, interval, for_s, replicas, env,
               component=f"{target}-api", metric=ERR, severity="critical", hours=hours)
    e_base, e_peak = rng.uniform(0.002, 0.006), rng.uniform(0.05, 0.1)
    bad = [onset <= t and (end is None or t < end) for t in p.times]
    p.set_values(addnoisy(rng, [e_peak if b else e_base for b in bad], sd=0.003, phi=0.5,
                          hi=1.0))
    rps0 = rng.uniform(200, 450)
    p.set_load(addnoisy(rng, [rps0] * len(p.times), sd=0.03 * rps0, phi=0.6, lo=0.0))
    quiet = [v for t, v in zip(p.times, p.values) if t < onset]
    need(max(quiet) < 0.02 * 0.8, "the quiet part crosses")
    return p, rps0


def change_errors(rng, index, *, n, name, target, interval, minutes, lead, replicas, revision,
                  diff, rollback):
    """The error ratio jumps `lead` seconds after an env change at flat load:
    ROLLBACK_REVISION, or (not allowed) no plan."""
    onset = HOUR - minutes * 60
    p, rps0 = errors_policy(rng, target, interval, 60, onset, replicas,
                            rolling(replicas, rollback))
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    s = Scenario(f"change-{name}-{n}", "", [p], None, index=index)
    s.changes = [change(target, onset - lead, revision, diff)]
    s.description = (f"At {s.clock(onset - lead)} revision {revision} of {target} changed "
                     f"{diff_words(diff)}; {lead // 60} minutes later, at {s.clock(onset)}, its "
                     f"error ratio jumped from about 0.4% to {num(sig(median(p.values[-10:]), 2))} "
                     f"(threshold 2%) and has stayed there for {minutes} minutes, at a flat "
                     f"request rate of about {round(rps0)}/s"
                     + ("." if rollback else "; the policy does not allow ROLLBACK_REVISION."))
    if rollback:
        s.expect = plan(target, "ROLLBACK_REVISION",
                        f"Errors that began minutes after a configuration change, which revision "
                        f"{revision - 1} ran without, at unchanged load, are the change's: undo it "
                        "(a restart would roll the same template again, more replicas would serve "
                        "the same errors).")
    else:
        s.expect = no_plan("The breach is the configuration change's and only undoing it would "
                           "help; the policy does not allow a rollback, and a restart or more "
                           "replicas would run the same bad template: leave it to a human.")
    return s


def change_latency(rng, index, *, n, target, interval, for_s, thr, floor, k, minutes, lead,
                   replicas, revision, diff):
    """p99 latency jumps `lead` seconds after an image change at flat load:
    ROLLBACK_REVISION."""
    p = Policy(f"{target}-latency", target, thr, interval, for_s, replicas, rolling(replicas),
               metric=LAT, severity="critical")
    onset = HOUR - minutes * 60
    rps0 = rng.uniform(150, 400)
    rps = addnoisy(rng, [rps0] * len(p.times), sd=0.03 * rps0, phi=0.6, lo=0.0)
    c = (0.6 * thr - floor) / rps0
    p.set_values(lognoisy(rng, [floor + c * r * (k if t >= onset else 1.0)
                                for t, r in zip(p.times, rps)], sd=0.03, phi=0.5, spike_p=0.0))
    p.set_load(rps)
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    quiet = [v for t, v in zip(p.times, p.values) if t < onset]
    need(max(quiet) < thr * 0.9, "the quiet part crosses")
    s = Scenario(f"change-image-latency-{n}", "", [p], None, index=index)
    s.changes = [change(target, onset - lead, revision, diff)]
    s.description = (f"At {s.clock(onset - lead)} revision {revision} of {target} rolled out "
                     f"({diff_words(diff)}); from {s.clock(onset)} its p99 latency is "
                     f"{num(sig(median(p.values[-10:]), 3))} s, over its {num(thr)} s threshold "
                     f"(about {num(sig(median(quiet), 2))} s before), for {minutes} minutes, at a "
                     f"flat request rate of about {round(rps0)}/s.")
    s.expect = plan(target, "ROLLBACK_REVISION",
                    f"The same requests got slower right after the new image, at flat load, and "
                    f"revision {revision - 1} served them within the threshold: roll the image "
                    "back.")
    return s


def change_long_before(rng, index, *, n, target, interval, minutes, replicas, revision, diff):
    """An env change two hours before the error ratio jumps: not the cause. The
    breach gets the judgement it would get without the change (a fault at flat
    load: RESTART_SERVICE)."""
    hours = 3
    onset = hours * HOUR - minutes * 60
    p, rps0 = errors_policy(rng, target, interval, 60, onset, replicas, rolling(replicas),
                            hours=hours)
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    s = Scenario(f"change-long-before-{n}", "", [p], None, index=index)
    at = onset - 2 * HOUR
    s.changes = [change(target, at, revision, diff)]
    s.description = (f"Revision {revision} of {target} ({diff_words(diff)}) rolled out at "
                     f"{s.clock(at)} and ran cleanly for two hours; at {s.clock(onset)} its error "
                     f"ratio jumped to about {num(sig(median(p.values[-10:]), 2))} (threshold 2%) "
                     f"and has stayed there for {minutes} minutes at a flat request rate.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "A change that ran healthy for two hours did not cause a breach that began "
                    "now; at flat load this is a fault of the running pods, and a restart is the "
                    "cheap first remedy (as for any flat-load breach).")
    return s


def change_during_breach(rng, index, *, n, target, interval, minutes, after, replicas,
                         revision, diff):
    """A change made while the breach was already running (someone turning up
    logging to investigate): not the cause; RESTART_SERVICE as without it."""
    onset = HOUR - minutes * 60
    p, rps0 = errors_policy(rng, target, interval, 60, onset, replicas, rolling(replicas))
    need(p.breaching_now() and p.recorded_run() >= 4, "not breaching now")
    need(all(violates(p.operator, v, p.threshold) for t, v in zip(p.times, p.values)
             if t >= onset), "the breach pauses")
    s = Scenario(f"change-during-breach-{n}", "", [p], None, index=index)
    s.changes = [change(target, onset + after, revision, diff)]
    s.description = (f"{poss(target)} error ratio jumped at {s.clock(onset)} and has stayed over "
                     f"its 2% threshold for {minutes} minutes at a flat request rate; revision "
                     f"{revision} ({diff_words(diff)}) rolled out at {s.clock(onset + after)}, "
                     f"{after // 60} minutes into the breach.")
    s.expect = plan(target, "RESTART_SERVICE",
                    "The breach began before the change, so the change did not cause it and "
                    "rolling it back would not end it; at flat load this is a fault of the pods: "
                    "restart them.")
    return s


def change_rising_load(rng, index, *, n, lead, revision, diff, **kw):
    """A change shortly before latency rose, but the request rate rose with it:
    an overload, SCALE_UP as without the change."""
    s = load_jump(rng, index, n=n, rising=True, **kw)
    p = s.policies[0]
    p.remediation = rolling(p.replicas)
    p.remediation["scale"] = bounds(2, kw["hi"], kw["step"])
    s.name = f"change-rising-load-{n}"
    onset = HOUR - kw["minutes"] * 60
    s.changes = [change(p.target, onset - lead, revision, diff)]
    s.description = (f"Revision {revision} of {p.target} ({diff_words(diff)}) rolled out at "
                     f"{s.clock(onset - lead)}, {lead // 60} minutes before its latency rose. "
                     + s.description)
    s.expect["reason"] = ("The change came just before, but the request rate rose with the "
                          "latency: the load explains the breach better than the change, and "
                          "rolling back would not add capacity. " + s.expect["reason"])
    return s


def change_noise(rng, index, *, n, target, interval, thr, spikes, lead, revision, diff):
    """A few isolated one-evaluation spikes after a change, none persistent, the
    last ones long ago: no plan."""
    p = Policy(f"{target}-latency", target, thr, interval, 0, 4, rolling(4), metric=LAT)
    values = lognoisy(rng, [thr * rng.uniform(0.4, 0.5)] * len(p.times), sd=0.06, phi=0.6,
                      spike_p=0.0)
    at = spikes[0] - lead
    for t in spikes:
        values[p.times.index(t)] = thr * rng.uniform(1.1, 1.4)
    p.set_values(values)
    need(len(p.violations()) == len(spikes), "not exactly the spikes")
    quiet_tail(p, HOUR - spikes[-1] - interval, 0.8)
    s = Scenario(f"change-noise-{n}", "", [p], None, index=index)
    s.changes = [change(target, at, revision, diff)]
    s.description = (f"Revision {revision} of {target} ({diff_words(diff)}) rolled out at "
                     f"{s.clock(at)}; since then its p99 latency crossed its {num(thr)} s threshold "
                     f"on {len(spikes)} single evaluations "
                     f"({', '.join(s.clock(t) for t in spikes)}), each back under it at the next, "
                     "and has been quiet since.")
    s.expect = no_plan("Isolated one-sample crossings are not a breach, whatever came before "
                       "them; nothing breaches now, so there is nothing to roll back.")
    return s


def change_short_breach(rng, index, *, n, target, interval, thr, ratio, lead, revision, diff):
    """A change a few minutes ago and one breaking evaluation now: not yet a
    persistent breach, no plan."""
    p = Policy(f"{target}-latency", target, thr, interval, 0, 4, rolling(4), metric=LAT)
    values = lognoisy(rng, [thr * rng.uniform(0.35, 0.5)] * len(p.times), sd=0.06, phi=0.6,
                      spike_p=0.0)
    values[-1] = thr * ratio
    p.set_values(values)
    need(len(p.violations()) == 1 and p.breaching_now(), "not exactly one violation now")
    s = Scenario(f"change-short-breach-{n}", "", [p], None, index=index)
    at = HOUR - lead
    s.changes = [change(target, at, revision, diff)]
    s.description = (f"Revision {revision} of {target} ({diff_words(diff)}) rolled out at "
                     f"{s.clock(at)}; the latest evaluation of its p99 latency, {lead // 60} "
                     f"minutes later, reads {num(p.values[-1])} ({ratio:.1f}x its threshold), the "
                     "only one over it.")
    s.expect = no_plan("One sample is not a persistent breach, even after a change; the next "
                       "evaluations will tell whether the new revision is bad.")
    return s


# --- breach episodes: one incident, one plan -----------------------------------
# The policy's episode as the operator keeps it in the status (`episodes:`): a
# plan per incident, one escalation after an executed plan that did not end it,
# then nothing until the incident ends (the metric within its threshold for the
# resolve period), unless it gets much worse.

STAB = 120  # the operator's stabilization window, s
RESOLVE = 300  # the default resolve period (`keepFiringFor`), s
RECENT = 10  # the recent level: the median of the last 10 breaking evaluations


def shifted(rng, p, metric, segments, base):
    """`p`'s values: `base` x threshold before the first segment, then each
    segment's (from, ratio) until the next; quiet noise before, steadier after."""
    thr = p.threshold

    def ratio(t):
        r = base
        for a, x in segments:
            if t >= a:
                r = x
        return r

    means = [thr * ratio(t) for t in p.times]
    if metric == LAT:
        p.set_values(lognoisy(rng, means, sd=0.03, phi=0.5, spike_p=0.0))
    else:
        p.set_values(addnoisy(rng, means, sd=0.015 * thr, phi=0.5, hi=1.0))


def recent_level(p, t):
    """The breach's recent level at `t`, as the engine records it with a plan."""
    bad = [v for u, v in zip(p.times, p.values) if u <= t and violates(p.operator, v, p.threshold)]
    return sig(median(bad[-RECENT:]))


def ep_plan(rng, p, t, closed, state="Executed"):
    return {"name": f"{p.target}-{rng.getrandbits(24):06x}", "t": t,
            "level": recent_level(p, t), "state": state, "closedAt": closed}


def episode_of(p, since, plans, state, now):
    last = max(u for u, v in zip(p.times, p.values)
               if u < now and violates(p.operator, v, p.threshold))
    return {"policy": p.name, "since": since, "lastBreach": last, "state": state,
            "plans": plans}


def all_over(p, a, b):
    """Every evaluation in [a, b] breaks the threshold."""
    return all(violates(p.operator, v, p.threshold) for t, v in zip(p.times, p.values)
               if a <= t <= b)


def all_within(p, a, b, margin=0.95):
    return all(v < p.threshold * margin for t, v in zip(p.times, p.values) if a <= t <= b)


def shift_policy(target, metric, thr, interval, for_s, replicas, hours, hi=12, step=4):
    return Policy(f"{target}-{'latency' if metric == LAT else 'cpu'}", target, thr, interval,
                  for_s, replicas, scaling(replicas, hi=hi, step=step), metric=metric,
                  severity="critical", hours=hours)


def what_of(metric):
    return "p99 latency" if metric == LAT else "CPU utilisation"


def episode_shift(rng, index, *, n, kind, target, metric, thr, interval, for_s, replicas,
                  hours, ago, ratios, plans_ago=(), waits=None, max_plans=None):
    """A level shift `ago` minutes ago that has lasted since. `kind`: `new` (no
    episode), `escalate` (one executed plan), `exhausted` (two executed plans);
    each executed plan (`plans_ago`: minutes before now) scaled up by 2 and
    lowered the level to the next of `ratios`, still over the threshold."""
    end = hours * HOUR
    onset = end - ago * 60
    step_up = 2
    p = shift_policy(target, metric, thr, interval, for_s, replicas + step_up * len(plans_ago),
                     hours)
    if max_plans is not None:
        p.max_plans = max_plans
    since = onset + for_s + 2 * interval
    waits = waits or [rng.choice([60, 90, 120, 150]) for _ in plans_ago]
    times = [(end - a * 60, end - a * 60 + w) for a, w in zip(plans_ago, waits)]
    segments = [(onset, ratios[0])] + [(c + 60, r) for (_, c), r in zip(times, ratios[1:])]
    shifted(rng, p, metric, segments, rng.uniform(0.5, 0.62))
    need(all_within(p, 0, onset - interval, 0.9), "the quiet hours cross")
    need(all_over(p, onset + 2 * interval, end), "the shift dips under the threshold")
    s = Scenario(f"episode-shift-{n}", "", [p], None, index=index)
    plans = [ep_plan(rng, p, t, c) for t, c in times]
    if plans:
        s.episodes = [episode_of(p, since, plans, "Planned", end)]
        s.violations_after = times[-1][1]
    what = what_of(metric)
    level = num(sig(median(p.values[-10:]), 3))
    s.description = (f"{poss(target)} {what} shifted at {s.clock(onset)} from about "
                     f"{num(sig(median(p.values[:60]), 2))} to {ratios[0]:.2f}x its "
                     f"{th(thr, metric)} threshold and has stayed over it for {ago / 60:.1f} hours")
    if kind == "new":
        s.description += (f", on {p.replicas} replicas; no breach episode is recorded for the "
                          "policy (no plan was made for it).")
        s.expect = plan(target, "SCALE_UP",
                        "A shift that has held over the threshold for hours is a real, "
                        "persistent overload and nothing was done about it yet: add capacity.")
        return s
    done = "; ".join(f"plan {k + 1} ({pl['name']}), proposed at {s.clock(pl['t'])}, was executed "
                     f"at {s.clock(pl['closedAt'])}, scaling it up by {step_up}"
                     for k, pl in enumerate(plans))
    s.description += (f". Its episode began at {s.clock(since)}: {done}. The level is still "
                      f"{level}, over the threshold, now on {p.replicas} replicas"
                      + (f" (the policy allows {max_plans} plans per episode)." if max_plans
                         else "."))
    allowed = max_plans or 2
    if len(plans) < allowed:
        s.expect = plan(target, "SCALE_UP",
                        f"The executed plan {len(plans)} helped but did not end the incident, and "
                        "its effect has had time to show: one escalation, more capacity.")
    else:
        s.expect = no_plan(f"The episode had its {allowed} plans and the breach, though lower, "
                           "is the same incident and no worse: leave it to a human rather "
                           "than keep acting on it.")
    return s


def episode_worsen(rng, index, *, n, target, metric, thr, interval, for_s, replicas, hours, ago,
                   ratios, plans_ago, worse, worse_ago):
    """An exhausted shift (two executed plans) whose level rose `worse_ago` minutes
    ago to `worse`: past the worsening bar (2x as far beyond the threshold as at
    the last plan) a plan, under it none."""
    end = hours * HOUR
    onset = end - ago * 60
    p = shift_policy(target, metric, thr, interval, for_s, replicas + 2 * len(plans_ago), hours)
    since = onset + for_s + 2 * interval
    times = [(end - a * 60, end - a * 60 + rng.choice([60, 90, 120])) for a in plans_ago]
    segments = ([(onset, ratios[0])] + [(c + 60, r) for (_, c), r in zip(times, ratios[1:])]
                + [(end - worse_ago * 60, worse)])
    shifted(rng, p, metric, segments, rng.uniform(0.5, 0.62))
    need(all_within(p, 0, onset - interval, 0.9), "the quiet hours cross")
    need(all_over(p, onset + 2 * interval, end), "the shift dips under the threshold")
    plans = [ep_plan(rng, p, t, c) for t, c in times]
    s = Scenario(f"episode-worsen-{n}", "", [p], None, index=index)
    s.episodes = [episode_of(p, since, plans, "Exhausted", end)]
    s.violations_after = times[-1][1]
    then = plans[-1]["level"]
    now_level = recent_level(p, end)
    factor = (now_level - thr) / (then - thr)
    # The level at the last plan is the one before its effect.
    over = worse > 1 + 2 * (ratios[-2] - 1)
    need(factor >= 2.2 if over else factor <= 1.8, f"factor {factor:.2f} too near the bar")
    what = what_of(metric)
    s.description = (f"{poss(target)} {what} shifted at {s.clock(onset)} over its "
                     f"{th(thr, metric)} threshold; two executed plans of its episode "
                     f"({s.clock(plans[0]['t'])}, {s.clock(plans[1]['t'])}) each scaled it up by 2, "
                     f"the last one proposed at a level of {num(then)}; it stayed over, so the "
                     "episode is exhausted. "
                     f"Since {s.clock(end - worse_ago * 60)} it has risen to {num(now_level)}, "
                     f"{factor:.1f}x as far beyond the threshold as at the last plan, on "
                     f"{p.replicas} replicas.")
    if over:
        s.expect = plan(target, "SCALE_UP",
                        f"The incident got much worse ({factor:.1f}x as far over the threshold "
                        "as when the last plan ran): that is new information, worth one more "
                        "plan for more capacity.")
    else:
        s.expect = no_plan(f"The level rose, but only {factor:.1f}x as far over the threshold as "
                           "at the last plan, under the 2x bar: the same exhausted incident, "
                           "left to a human.")
    return s


def episode_declined(rng, index, *, n, target, metric, thr, interval, for_s, replicas, hours,
                     ago, ratios, plans_ago, states, waits):
    """A running episode whose last plan a human rejected (or let expire): no plan."""
    end = hours * HOUR
    onset = end - ago * 60
    executed = states.count("Executed")
    p = shift_policy(target, metric, thr, interval, for_s, replicas + 2 * executed, hours)
    since = onset + for_s + 2 * interval
    times = [(end - a * 60, end - a * 60 + w) for a, w in zip(plans_ago, waits)]
    segments = [(onset, ratios[0])] + [(c + 60, r) for (_, c), r, st
                                       in zip(times, ratios[1:], states) if st == "Executed"]
    shifted(rng, p, metric, segments, rng.uniform(0.5, 0.62))
    need(all_within(p, 0, onset - interval, 0.9), "the quiet hours cross")
    need(all_over(p, onset + 2 * interval, end), "the shift dips under the threshold")
    plans = [ep_plan(rng, p, t, c, st) for (t, c), st in zip(times, states)]
    s = Scenario(f"episode-{'rejected' if 'Rejected' in states else 'expired'}-{n}", "", [p],
                 None, index=index)
    s.episodes = [episode_of(p, since, plans, "Exhausted", end)]
    s.violations_after = times[-1][1]
    last = plans[-1]
    how = ("a human rejected it" if last["state"] == "Rejected"
           else f"nobody approved it in {waits[-1] // 60} minutes and it expired")
    s.description = (f"{poss(target)} {what_of(metric)} shifted at {s.clock(onset)} over its "
                     f"{th(thr, metric)} threshold and is still at "
                     f"{num(sig(median(p.values[-10:]), 3))}. "
                     + ("Plan 1 of its episode was executed; " if executed else "")
                     + f"plan {len(plans)} ({last['name']}, {s.clock(last['t'])}) was proposed "
                     f"and {how} at {s.clock(last['closedAt'])}; the breach goes on.")
    s.expect = no_plan("Someone already decided about this incident (or let the proposal lapse); "
                       "asking again about the same, unchanged breach is noise: no plan until it "
                       "ends.")
    return s


def episode_dip(rng, index, *, n, target, metric, thr, interval, for_s, replicas, hours, ago,
                ratios, plans_ago, dip, dip_ago, keep=None):
    """An exhausted episode; the metric dipped within its threshold for `dip`
    seconds (less than the resolve period) `dip_ago` minutes ago and broke again:
    the same incident, no plan."""
    end = hours * HOUR
    onset = end - ago * 60
    p = shift_policy(target, metric, thr, interval, for_s, replicas + 2 * len(plans_ago), hours)
    p.keep_firing_for = keep
    since = onset + for_s + 2 * interval
    times = [(end - a * 60, end - a * 60 + rng.choice([60, 90, 120])) for a in plans_ago]
    d0 = end - dip_ago * 60
    segments = ([(onset, ratios[0])] + [(c + 60, r) for (_, c), r in zip(times, ratios[1:])]
                + [(d0, 0.75), (d0 + dip, ratios[-1])])
    shifted(rng, p, metric, segments, rng.uniform(0.5, 0.62))
    need(all_within(p, 0, onset - interval, 0.9), "the quiet hours cross")
    need(all_over(p, onset + 2 * interval, d0 - interval), "the shift dips before the dip")
    need(all_within(p, d0 + interval, d0 + dip - interval, 0.9), "the dip is not within")
    need(all_over(p, d0 + dip + interval, end), "the new run dips")
    plans = [ep_plan(rng, p, t, c) for t, c in times]
    s = Scenario(f"episode-dip-{n}", "", [p], None, index=index)
    s.episodes = [episode_of(p, since, plans, "Exhausted", end)]
    s.violations_after = times[-1][1]
    resolve = keep or RESOLVE
    s.description = (f"{poss(target)} {what_of(metric)} has been over its {th(thr, metric)} "
                     f"threshold since {s.clock(onset)}; two executed plans of its episode left "
                     f"it at about {ratios[-1]:.2f}x, and the episode is exhausted. At "
                     f"{s.clock(d0)} it dipped within the threshold for about {dip // 60} "
                     f"minutes, less than the policy's {resolve // 60}-minute resolve period"
                     + (" (keepFiringFor)" if keep else "")
                     + f", and has been over it again since {s.clock(d0 + dip)}.")
    s.expect = no_plan(f"A dip shorter than the {resolve // 60}-minute resolve period does not "
                       "end the incident: it is the same exhausted episode, not a new breach.")
    return s


def episode_recovered(rng, index, *, n, target, metric, thr, interval, for_s, replicas, hours,
                      ago, ratios, plans_ago, back_ago, new_ago, new_ratio, keep=None,
                      resolved=False):
    """An exhausted episode whose metric went back within its threshold
    `back_ago` minutes ago, for longer than the resolve period, and broke again
    `new_ago` minutes ago: a new incident, a plan. With `resolved` the operator
    already stored the episode as Resolved (it saw the recovery), else it still
    holds it as it was at the last breach."""
    end = hours * HOUR
    onset = end - ago * 60
    p = shift_policy(target, metric, thr, interval, for_s, replicas + 2 * len(plans_ago), hours)
    p.keep_firing_for = keep
    since = onset + for_s + 2 * interval
    times = [(end - a * 60, end - a * 60 + rng.choice([60, 90, 120])) for a in plans_ago]
    back, new = end - back_ago * 60, end - new_ago * 60
    quiet = rng.uniform(0.55, 0.65)
    segments = ([(onset, ratios[0])] + [(c + 60, r) for (_, c), r in zip(times, ratios[1:])]
                + [(back, quiet), (new, new_ratio)])
    shifted(rng, p, metric, segments, rng.uniform(0.5, 0.62))
    need(all_within(p, 0, onset - interval, 0.9), "the quiet hours cross")
    need(all_over(p, onset + 2 * interval, back - interval), "the first shift dips")
    need(all_within(p, back + interval, new - interval, 0.85), "the recovery is not quiet")
    need(all_over(p, new + interval, end), "the new breach dips")
    plans = [ep_plan(rng, p, t, c) for t, c in times]
    s = Scenario(f"episode-recovered-{n}", "", [p], None, index=index)
    resolve = keep or RESOLVE
    e = episode_of(p, since, plans, "Exhausted", back)
    if resolved:
        e["state"] = "Resolved"
        e["endedAt"] = min(t for t in p.times if t >= e["lastBreach"] + resolve)
    s.episodes = [e]
    s.violations_after = times[-1][1]
    s.description = (f"{poss(target)} {what_of(metric)} was over its {th(thr, metric)} "
                     f"threshold from {s.clock(onset)} to {s.clock(back)} (an episode with two "
                     f"executed plans, exhausted), then back at about {quiet:.2f}x for "
                     f"{(new - back) // 60} minutes, longer than the policy's "
                     f"{resolve // 60}-minute resolve period"
                     + (" (keepFiringFor)" if keep else "")
                     + f"; since {s.clock(new)} it is over again at about "
                     f"{num(sig(median(p.values[-8:]), 3))} ({new_ratio:.2f}x), on {p.replicas} "
                     "replicas.")
    s.expect = plan(target, "SCALE_UP",
                    "The earlier incident ended (within the threshold for longer than the "
                    "resolve period); this is a new, persistent breach and deserves its own "
                    "plan: more capacity.")
    return s


def chronic_duty(rng, index, *, n, name, target, metric, thr, interval, for_s, replicas,
                 level, sd, duty, dip):
    """An hour hovering at the threshold, over it on `duty` (a range) of the
    evaluations after a quiet hour; the last evaluation over it, or (`dip`)
    just under it. Duty over 60%: chronic, a plan; 20-40%: flapping, none."""
    p = shift_policy(target, metric, thr, interval, for_s, replicas, 2)
    if metric == LAT:
        p.set_values(lognoisy(rng, [thr * (0.55 if t < HOUR else level) for t in p.times],
                              sd=sd, phi=0.4, spike_p=0.0))
    else:
        p.set_values(addnoisy(rng, [thr * (0.55 if t < HOUR else level) for t in p.times],
                              sd=sd * thr, phi=0.4, hi=1.0))
    need(all_within(p, 0, HOUR - interval, 0.85), "the quiet hour crosses")
    hour = [violates(p.operator, v, thr) for t, v in zip(p.times, p.values) if t > HOUR]
    frac = sum(hour) / len(hour)
    need(duty[0] <= frac <= duty[1], f"duty {frac:.2f}")
    need(hour[-1] != dip and hour[-2], "the last evaluations do not show the case")
    chronic_ = duty[0] >= 0.5
    if not chronic_:
        longest = run = 0
        for o in hour:
            run = run + 1 if o else 0
            longest = max(longest, run)
        need(longest <= 4, "a long run of crossings")
    s = Scenario(f"chronic-{name}-{n}", "", [p], None, index=index)
    s.description = (f"After a quiet hour at about {num(sig(median(p.values[:100]), 2))}, "
                     f"{poss(target)} {what_of(metric)} has hovered around "
                     f"{num(sig(thr * level, 3))} for the last hour and was over its "
                     f"{th(thr, metric)} threshold on {round(frac * 100)}% of the evaluations, "
                     f"on {replicas} replicas; "
                     + ("the latest evaluation dipped just under it." if dip
                        else "the latest evaluation is over it."))
    if chronic_:
        s.expect = plan(target, "SCALE_UP",
                        "Over the threshold most of the last hour is a chronic breach, "
                        + ("and a momentary dip at the latest evaluation does not end it: "
                           if dip else "not noise: ")
                        + "the service lacks capacity for this load.")
    else:
        s.expect = no_plan("Crossing on a minority of evaluations in short scattered runs is "
                           "flapping around a tight threshold, not a breach that persists: "
                           "nothing to remediate.")
    return s


def catalogue():
    """(builder, base seed, params) of every scenario, in file order."""
    c = []
    add = lambda f, seed, **kw: c.append((f, seed, kw))  # noqa: E731

    add(stale_overload, 101, n=1, target="checkout", interval=30, for_s=60, thr=0.5, metric=LAT,
        unit="p99 latency", replicas=4, incidents=[(900, 1800)], peak=2.2)
    add(stale_overload, 102, n=2, target="search", interval=15, for_s=0, thr=0.8, metric=CPU,
        unit="CPU utilisation", replicas=6, incidents=[(2400, 2880)], peak=1.2)
    add(stale_overload, 103, n=3, target="cart", interval=60, for_s=120, thr=0.3, metric=LAT,
        unit="p99 latency", replicas=3, incidents=[(600, 2100)], peak=1.8)
    add(stale_overload, 104, n=4, target="payments", interval=30, for_s=0, thr=0.4, metric=LAT,
        unit="p99 latency", replicas=2, incidents=[(2700, 3120)], peak=3.5)
    add(stale_overload, 105, n=5, target="gateway", interval=30, for_s=60, thr=1.0, metric=LAT,
        unit="p99 latency", replicas=8, incidents=[(300, 900), (1500, 2400)], peak=1.6)

    add(noise_threshold, 201, n=1, target="catalog", interval=30, for_s=0, thr=0.5, level=0.95,
        sd=0.05, metric=LAT)
    add(noise_threshold, 202, n=2, target="reviews", interval=15, for_s=0, thr=0.7, level=0.96,
        sd=0.04, metric=CPU)
    add(noise_threshold, 203, n=3, target="search", interval=60, for_s=0, thr=0.3, level=0.93,
        sd=0.08, metric=LAT)
    add(noise_threshold, 204, n=4, target="profile", interval=30, for_s=60, thr=0.4, level=0.98,
        sd=0.05, metric=LAT)
    add(noise_threshold, 205, n=5, target="pricing", interval=15, for_s=30, thr=0.75, level=0.97,
        sd=0.035, metric=CPU)

    add(shared_glitch, 301, n=1, k=3, interval=30, ago=0)
    add(shared_glitch, 302, n=2, k=5, interval=30, ago=0)
    add(shared_glitch, 303, n=3, k=8, interval=30, ago=2)
    add(shared_glitch, 304, n=4, k=10, interval=30, ago=0)
    add(shared_glitch, 305, n=5, k=12, interval=15, ago=0)

    add(upstream, 401, n=1, inv_interval=30, inv_for=0, with_rps=False, replicas=4,
        episodes=[(420, 180), (1260, 150), (2010, 210), (2880, 180), (3390, 210)])
    add(upstream, 402, n=2, inv_interval=15, inv_for=30, with_rps=True, replicas=6,
        episodes=[(600, 150), (1260, 150), (1920, 150), (2460, 120), (2940, 150), (3420, 180)])
    add(upstream, 403, n=3, inv_interval=30, inv_for=30, with_rps=True, replicas=3,
        episodes=[(300, 150), (960, 180), (1740, 150), (2460, 180), (3000, 150), (3420, 180)])
    add(upstream, 404, n=4, inv_interval=15, inv_for=0, with_rps=False, replicas=5,
        episodes=[(840, 120), (1500, 150), (2220, 120), (2760, 150), (3360, 240)])

    add(sawtooth_leak, 501, n=1, target="recommendations", interval=30, for_s=60,
        restarts=[1140, 2340], base=0.38, rate=0.00045, thr=0.85, replicas=3)
    add(sawtooth_leak, 502, n=2, target="image-resizer", interval=60, for_s=120,
        restarts=[900, 2040], base=0.42, rate=0.0003, thr=0.8, replicas=4)
    add(sawtooth_leak, 503, n=3, target="search-indexer", interval=15, for_s=0,
        restarts=[1980, 2700], base=0.35, rate=0.00065, thr=0.85, replicas=2)
    add(sawtooth_leak, 504, n=4, target="session-store", interval=30, for_s=60,
        restarts=[600, 1680, 2640], base=0.4, rate=0.00052, thr=0.8, replicas=3)

    add(leak_linear, 551, n=1, target="pdf-renderer", interval=30, for_s=60, lo=700, hi=1960,
        thr=1800, replicas=3)
    add(leak_linear, 552, n=2, target="ledger", interval=60, for_s=120, lo=1100, hi=2900,
        thr=2600, replicas=2)

    add(sizing, 601, name="sizing-1.30x-4-replicas", target="checkout", metric=LAT, thr=0.5,
        interval=30, for_s=60, replicas=4, ratio=1.30, hi=10, step=6, minutes=12)
    add(sizing, 602, name="sizing-1.75x-3-replicas", target="cart", metric=CPU, thr=0.5,
        interval=15, for_s=30, replicas=3, ratio=1.75, hi=10, step=4, minutes=10)
    add(sizing, 603, name="sizing-2.12x-2-replicas", target="search", metric=LAT, thr=0.4,
        interval=60, for_s=120, replicas=2, ratio=2.12, hi=8, step=4, minutes=15)
    add(sizing, 604, name="sizing-1.24x-5-replicas", target="catalog", metric=CPU, thr=0.7,
        interval=30, for_s=0, replicas=5, ratio=1.235, hi=12, step=4, minutes=9)
    add(sizing, 605, name="sizing-1.45x-3-replicas", target="pricing", metric=LAT, thr=0.3,
        interval=60, for_s=60, replicas=3, ratio=1.45, hi=8, step=3, minutes=14)
    add(sizing, 606, name="sizing-clip-max-2.6x-4-replicas", target="gateway", metric=LAT,
        thr=0.5, interval=30, for_s=60, replicas=4, ratio=2.6, hi=8, step=6, minutes=11)
    add(sizing, 607, name="sizing-clip-step-1.9x-8-replicas", target="auth", metric=CPU,
        thr=0.45, interval=15, for_s=60, replicas=8, ratio=1.9, hi=24, step=3, minutes=8)

    add(chronic, 651, n=1, target="orders", metric=CPU, thr=0.7, interval=30, for_s=60,
        replicas=5, ratio=1.235, hi=12, step=4)
    add(chronic, 652, n=2, target="shipping", metric=LAT, thr=0.5, interval=60, for_s=120,
        replicas=4, ratio=1.31, hi=10, step=4)
    add(chronic, 653, n=3, target="notifications", metric=CPU, thr=0.6, interval=15, for_s=0,
        replicas=3, ratio=1.45, hi=8, step=3)

    add(component_fault, 701, n=1, target="payments", interval=30, minutes=10, replicas=4,
        with_rps=True)
    add(component_fault, 702, n=2, target="cart", interval=15, minutes=7, replicas=3,
        with_rps=False)
    add(component_fault, 703, n=3, target="auth", interval=60, minutes=14, replicas=6,
        with_rps=True)
    add(component_fault, 704, n=4, target="shipping", interval=30, minutes=20, replicas=2,
        with_rps=False)

    add(knowledge, 751, n=1, target="payments", interval=30, minutes=40, replicas=4,
        setting_=setting("DB_POOL_MAX", "40", ["UPDATE_CONFIGURATION"]))
    add(knowledge, 752, n=2, target="orders", interval=60, minutes=45, replicas=3,
        setting_=setting("mapek.io/feature-async-receipts", "off", ["UPDATE_CONFIGURATION"],
                         target="Annotation"))
    add(knowledge, 753, n=3, target="profile", interval=30, minutes=35, replicas=5,
        setting_=setting("CACHE_TTL_SECONDS", "30", ["UPDATE_CONFIGURATION"]))

    add(recurring, 801, n=1, target="reports", interval=30, for_s=60, period=600, duty=0.4,
        thr=0.75, peak=1.25, replicas=4, phase=3600 - 180 - 600 * 6)
    add(recurring, 802, n=2, target="feed", interval=15, for_s=30, period=480, duty=0.45,
        thr=0.7, peak=1.3, replicas=6, phase=3600 - 150 - 480 * 7)
    add(recurring, 803, n=3, target="pricing", interval=60, for_s=60, period=900, duty=0.4,
        thr=0.8, peak=1.15, replicas=3, phase=3600 - 240 - 900 * 4)
    add(recurring, 804, n=4, target="notifications", interval=30, for_s=0, period=720,
        duty=0.35, thr=0.65, peak=1.35, replicas=5, phase=3600 - 150 - 720 * 5)

    add(just_started, 851, n=1, target="checkout", interval=30, for_s=120, held=60, thr=0.5,
        ratio=1.6, stale=None)
    add(just_started, 852, n=2, target="search", interval=15, for_s=60, held=30, thr=0.4,
        ratio=2.0, stale=None)
    add(just_started, 853, n=3, target="cart", interval=60, for_s=120, held=60, thr=0.3,
        ratio=1.5, stale=(900, 1500))

    add(just_recovered, 871, n=1, target="catalog", interval=30, for_s=60, thr=0.5, ratio=1.7,
        replicas=4, minutes=12)
    add(just_recovered, 872, n=2, target="wishlist", interval=15, for_s=0, thr=0.3, ratio=2.2,
        replicas=2, minutes=8)
    add(just_recovered, 873, n=3, target="gateway", interval=60, for_s=120, thr=1.0, ratio=1.4,
        replicas=6, minutes=20)

    add(slow_drift, 901, n=1, target="orders", interval=60, thr=0.9, lo=0.62, hi=0.71,
        metric=MEM, what="memory working set ratio")
    add(slow_drift, 902, n=2, target="catalog", interval=30, thr=0.8, lo=0.48, hi=0.63,
        metric=CPU, what="CPU utilisation")

    add(single_spike, 951, n=1, target="checkout", interval=30, thr=0.5, ratio=3.2)
    add(single_spike, 952, n=2, target="profile", interval=15, thr=0.4, ratio=2.5)

    add(idle_workers, 961, n=1, target="storefront", interval=30, for_s=60, thr=0.15,
        level=0.05, replicas=4, minutes=10)
    add(idle_workers, 962, n=2, target="api-legacy", interval=60, for_s=120, thr=0.2,
        level=0.06, replicas=6, minutes=15)
    add(idle_workers, 963, n=3, target="search-frontend", interval=15, for_s=30, thr=0.1,
        level=0.03, replicas=3, minutes=7)

    add(stalled_consumer, 981, n=1, target="orders-worker", interval=30, for_s=60, replicas=3,
        minutes=9)

    # 12 hours of history: the long memory.
    add(long_leak, 1001, n=1, target="recommendations", interval=30, for_s=60, lo=0.42, hi=0.87,
        thr=0.85, limit=1.0, replicas=3, shape=1.0, sd=0.006, gc_p=0.0, metric=MEM, unit="")
    add(long_leak, 1002, n=2, target="pdf-renderer", interval=30, for_s=60, lo=900, hi=2650,
        thr=2560, limit=3072, replicas=3, shape=0.85, sd=12, gc_p=0.03,
        metric="container_memory_working_set_mib", unit=" MiB")
    add(long_leak, 1003, n=3, target="ledger", interval=60, for_s=120, lo=0.5, hi=0.83, thr=0.8,
        limit=1.0, replicas=2, shape=1.3, sd=0.008, gc_p=0.02, metric=MEM, unit="")

    add(long_sawtooth, 1011, n=1, target="session-store", interval=30, for_s=60,
        restarts=[9000, 21600, 34200], base=0.38, rate=4.68e-5, thr=0.75, replicas=3, sd=0.006,
        why="killed for running out of memory")
    add(long_sawtooth, 1012, n=2, target="image-resizer", interval=30, for_s=60,
        restarts=[7200, 16200, 25200], base=0.4, rate=2.5e-5, thr=0.8, replicas=4, sd=0.006,
        why="rolled by deploys")
    add(long_sawtooth, 1013, n=3, target="search-indexer", interval=60, for_s=120,
        restarts=[1200, 12000, 22800, 33600], base=0.35, rate=5.74e-5, thr=0.85, replicas=2,
        sd=0.01, why="killed for running out of memory")

    add(long_incident, 1021, n=1, target="checkout", metric=LAT, thr=0.5, interval=30, for_s=60,
        replicas=4, ratio=1.6, hi=10, step=6, minutes=10)
    add(long_incident, 1022, n=2, target="search", metric=CPU, thr=0.6, interval=30, for_s=0,
        replicas=3, ratio=1.45, hi=8, step=3, minutes=8)
    add(long_incident, 1023, n=3, target="payments", metric=LAT, thr=0.4, interval=60, for_s=120,
        replicas=2, ratio=2.1, hi=8, step=4, minutes=15)

    add(long_daily_peaks, 1031, n=1, target="feed", metric=LAT, thr=0.5, interval=30, for_s=0,
        peaks=[(3000, 1200, 1.3), (10800, 900, 1.4), (17400, 1500, 1.35), (24600, 1200, 1.45),
               (31800, 900, 1.3)],
        current=1.25, rise=120, fall=300, level=0.5, minutes=9, what="p99 latency")
    add(long_daily_peaks, 1032, n=2, target="catalog", metric=CPU, thr=0.7, interval=30, for_s=60,
        peaks=[(1800, 1500, 1.25), (9000, 1800, 1.3), (16200, 1200, 1.28), (23400, 1500, 1.3),
               (30600, 1800, 1.27)],
        current=1.2, rise=1200, fall=1200, level=0.6, minutes=20, what="CPU utilisation")
    add(long_daily_peaks, 1033, n=3, target="reports", metric=CPU, thr=0.75, interval=30,
        for_s=60,
        peaks=[(2400, 600, 1.25), (9600, 600, 1.28), (17400, 300, 1.3), (24600, 600, 1.26),
               (32400, 600, 1.3)],
        current=1.2, rise=2100, fall=30, level=0.45, minutes=33, what="CPU utilisation (a batch job)")

    # Load signals: the policy's load query tells an overload from a fault or a leak.
    for rising, base in ((True, 1101), (False, 1111)):
        add(load_jump, base, n=1, target="checkout", interval=30, for_s=60, thr=0.5, floor=0.3,
            level=0.75, k=3.5, replicas=4, hi=16, step=8, minutes=10, rising=rising)
        add(load_jump, base + 1, n=2, target="search", interval=15, for_s=30, thr=0.4, floor=0.2,
            level=0.7, k=3.4, replicas=3, hi=12, step=6, minutes=8, rising=rising)
        add(load_jump, base + 2, n=3, target="payments", interval=60, for_s=120, thr=0.8,
            floor=0.4, level=0.7, k=3.2, replicas=2, hi=10, step=6, minutes=14, rising=rising)

    add(load_cpu_climb, 1121, n=1, target="catalog", interval=30, for_s=60, thr=0.8, level=0.6,
        k=1.9, climb_min=90, replicas=5)
    add(load_cpu_climb, 1122, n=2, target="feed", interval=30, for_s=0, thr=0.75, level=0.55,
        k=2.05, climb_min=120, replicas=4)
    add(load_cpu_climb, 1123, n=3, target="search", interval=60, for_s=120, thr=0.7, level=0.65,
        k=1.75, climb_min=720, replicas=6)

    add(load_flat_leak, 1131, n=1, target="recommendations", interval=30, for_s=60, lo=0.45,
        hi=0.88, thr=0.85, replicas=3, hours=1)
    add(load_flat_leak, 1132, n=2, target="session-store", interval=15, for_s=30, lo=0.5,
        hi=0.84, thr=0.8, replicas=4, hours=1)
    add(load_flat_leak, 1133, n=3, target="ledger", interval=30, for_s=60, lo=0.4, hi=0.87,
        thr=0.85, replicas=2, hours=12)

    # Change awareness: a breach that began shortly after a pod-template change.
    mode = [("containers[{t}].env[MODE]", "lenient", "strict")]
    add(change_errors, 1201, n=1, name="env-errors", target="checkout", interval=30, minutes=12,
        lead=180, replicas=4, revision=7,
        diff=[("containers[checkout].env[PAYMENT_TIMEOUT_MS]", "5000", "500")], rollback=True)
    add(change_errors, 1202, n=2, name="env-errors", target="orders", interval=15, minutes=8,
        lead=300, replicas=3, revision=12,
        diff=[(f.format(t="orders"), b, a) for f, b, a in mode]
        + [("containers[orders].env[FEATURE_BATCHING]", None, "on")], rollback=True)
    add(change_latency, 1211, n=1, target="search", interval=30, for_s=60, thr=0.5, floor=0.1,
        k=2.4, minutes=10, lead=120, replicas=4, revision=21,
        diff=[("containers[search].image", "registry.local/search:2.8.1",
               "registry.local/search:2.9.0")])
    add(change_latency, 1212, n=2, target="catalog", interval=15, for_s=30, thr=0.4, floor=0.08,
        k=2.6, minutes=6, lead=240, replicas=3, revision=5,
        diff=[("containers[catalog].image", "registry.local/catalog:1.14",
               "registry.local/catalog:1.15"),
              ("containers[catalog].resources.limits.memory", "1Gi", "512Mi")])
    add(change_errors, 1221, n=1, name="rollback-not-allowed", target="payments", interval=30,
        minutes=10, lead=240, replicas=3, revision=9,
        diff=[("containers[payments].env[DB_POOL_MAX]", "40", "4")], rollback=False)
    add(change_long_before, 1231, n=1, target="cart", interval=30, minutes=12, replicas=4,
        revision=15, diff=[("containers[cart].env[CACHE_TTL_SECONDS]", "300", "60")])
    add(change_during_breach, 1241, n=1, target="shipping", interval=30, minutes=20, after=300,
        replicas=3, revision=4, diff=[("containers[shipping].env[LOG_LEVEL]", "info", "debug")])
    add(change_rising_load, 1251, n=1, target="gateway", interval=30, for_s=60, thr=0.5,
        floor=0.3, level=0.75, k=3.5, replicas=4, hi=16, step=8, minutes=10, lead=180,
        revision=33, diff=[("annotations[mapek.io/canary-weight]", "10", "50")])
    add(change_noise, 1261, n=1, target="profile", interval=30, thr=0.5,
        spikes=[1500, 2100, 2640], lead=240, revision=6,
        diff=[("containers[profile].image", "registry.local/profile:3.1",
               "registry.local/profile:3.2")])
    add(change_short_breach, 1271, n=1, target="reviews", interval=30, thr=0.5, ratio=2.4,
        lead=240, revision=11,
        diff=[("containers[reviews].env[RANKER]", "v1", "v2")])

    # Breach episodes: the policy's episode before now (`episodes:`).
    add(episode_shift, 1301, n=1, kind="new", target="checkout", metric=LAT, thr=0.5,
        interval=30, for_s=60, replicas=4, hours=4, ago=150, ratios=[1.5])
    add(episode_shift, 1302, n=2, kind="new", target="search", metric=CPU, thr=0.7,
        interval=30, for_s=0, replicas=3, hours=3, ago=130, ratios=[1.3])
    add(episode_shift, 1303, n=3, kind="new", target="payments", metric=LAT, thr=0.4,
        interval=15, for_s=30, replicas=5, hours=3, ago=100, ratios=[1.7])
    add(episode_shift, 1304, n=4, kind="escalate", target="catalog", metric=LAT, thr=0.5,
        interval=30, for_s=60, replicas=4, hours=3, ago=52, ratios=[1.6, 1.3],
        plans_ago=[49], waits=[49 * 60 - 150])
    add(episode_shift, 1305, n=5, kind="escalate", target="orders", metric=CPU, thr=0.65,
        interval=30, for_s=0, replicas=3, hours=3, ago=38, ratios=[1.35, 1.15],
        plans_ago=[36], waits=[36 * 60 - 200])
    add(episode_shift, 1306, n=6, kind="escalate", target="gateway", metric=LAT, thr=0.8,
        interval=30, for_s=60, replicas=6, hours=4, ago=140, ratios=[1.45, 1.3, 1.18],
        plans_ago=[137, 133], waits=[90, 120], max_plans=3)
    add(episode_shift, 1307, n=7, kind="exhausted", target="cart", metric=LAT, thr=0.5,
        interval=30, for_s=60, replicas=4, hours=4, ago=150, ratios=[1.6, 1.35, 1.2],
        plans_ago=[147, 142])
    add(episode_shift, 1308, n=8, kind="exhausted", target="auth", metric=CPU, thr=0.7,
        interval=30, for_s=0, replicas=5, hours=3, ago=120, ratios=[1.3, 1.2, 1.12],
        plans_ago=[118, 113])
    add(episode_shift, 1309, n=9, kind="exhausted", target="shipping", metric=LAT, thr=0.3,
        interval=60, for_s=120, replicas=3, hours=4, ago=170, ratios=[1.8, 1.5, 1.3],
        plans_ago=[165, 158])

    add(episode_worsen, 1321, n=1, target="checkout", metric=LAT, thr=0.5, interval=30,
        for_s=60, replicas=4, hours=4, ago=160, ratios=[1.5, 1.3, 1.2], plans_ago=[157, 152],
        worse=1.75, worse_ago=20)
    add(episode_worsen, 1322, n=2, target="search", metric=CPU, thr=0.6, interval=30,
        for_s=0, replicas=3, hours=3, ago=110, ratios=[1.3, 1.2, 1.1], plans_ago=[108, 103],
        worse=1.5, worse_ago=15)
    add(episode_worsen, 1323, n=3, target="pricing", metric=LAT, thr=0.4, interval=30,
        for_s=60, replicas=5, hours=3, ago=125, ratios=[1.7, 1.4, 1.25], plans_ago=[122, 117],
        worse=1.95, worse_ago=25)
    add(episode_worsen, 1324, n=4, target="feed", metric=LAT, thr=0.5, interval=30,
        for_s=60, replicas=4, hours=4, ago=150, ratios=[1.5, 1.3, 1.2], plans_ago=[147, 142],
        worse=1.45, worse_ago=20)
    add(episode_worsen, 1325, n=5, target="reviews", metric=CPU, thr=0.6, interval=30,
        for_s=0, replicas=3, hours=3, ago=120, ratios=[1.35, 1.25, 1.15], plans_ago=[118, 113],
        worse=1.38, worse_ago=15)

    add(chronic_duty, 1341, n=1, name="duty", target="orders", metric=CPU, thr=0.7,
        interval=30, for_s=0, replicas=4, level=1.03, sd=0.05, duty=(0.6, 0.8), dip=False)
    add(chronic_duty, 1342, n=2, name="duty", target="shipping", metric=LAT, thr=0.5,
        interval=30, for_s=0, replicas=3, level=1.06, sd=0.09, duty=(0.6, 0.8), dip=False)
    add(chronic_duty, 1343, n=1, name="dip", target="catalog", metric=CPU, thr=0.65,
        interval=30, for_s=0, replicas=5, level=1.04, sd=0.06, duty=(0.6, 0.8), dip=True)
    add(chronic_duty, 1344, n=2, name="dip", target="checkout", metric=LAT, thr=0.4,
        interval=30, for_s=0, replicas=4, level=1.05, sd=0.08, duty=(0.6, 0.8), dip=True)
    add(chronic_duty, 1345, n=1, name="flapping", target="search", metric=CPU, thr=0.7,
        interval=30, for_s=0, replicas=4, level=0.985, sd=0.04, duty=(0.2, 0.4), dip=False)
    add(chronic_duty, 1346, n=2, name="flapping", target="cart", metric=LAT, thr=0.5,
        interval=30, for_s=0, replicas=3, level=0.96, sd=0.07, duty=(0.2, 0.4), dip=False)
    add(chronic_duty, 1347, n=3, name="flapping", target="auth", metric=CPU, thr=0.6,
        interval=15, for_s=0, replicas=6, level=0.975, sd=0.05, duty=(0.2, 0.4), dip=False)

    add(episode_declined, 1361, n=1, target="payments", metric=LAT, thr=0.5, interval=30,
        for_s=60, replicas=4, hours=3, ago=45, ratios=[1.5], plans_ago=[42],
        states=["Rejected"], waits=[600])
    add(episode_declined, 1362, n=2, target="catalog", metric=CPU, thr=0.7, interval=30,
        for_s=0, replicas=3, hours=3, ago=90, ratios=[1.35, 1.2], plans_ago=[88, 83],
        states=["Executed", "Rejected"], waits=[90, 420])
    add(episode_declined, 1363, n=1, target="orders", metric=LAT, thr=0.4, interval=30,
        for_s=60, replicas=4, hours=3, ago=80, ratios=[1.6], plans_ago=[77],
        states=["Expired"], waits=[1800])

    add(episode_recovered, 1381, n=1, target="checkout", metric=LAT, thr=0.5, interval=30,
        for_s=60, replicas=4, hours=4, ago=170, ratios=[1.5, 1.3, 1.2], plans_ago=[167, 162],
        back_ago=60, new_ago=10, new_ratio=1.5)
    add(episode_recovered, 1382, n=2, target="search", metric=CPU, thr=0.7, interval=30,
        for_s=0, replicas=3, hours=3, ago=120, ratios=[1.3, 1.2, 1.12], plans_ago=[118, 113],
        back_ago=25, new_ago=12, new_ratio=1.3, resolved=True)
    add(episode_recovered, 1383, n=3, target="gateway", metric=LAT, thr=0.8, interval=30,
        for_s=60, replicas=6, hours=3, ago=100, ratios=[1.45, 1.3, 1.2], plans_ago=[97, 92],
        back_ago=30, new_ago=12, new_ratio=1.4, keep=900)

    add(episode_dip, 1391, n=1, target="cart", metric=LAT, thr=0.5, interval=30, for_s=60,
        replicas=4, hours=4, ago=150, ratios=[1.6, 1.35, 1.2], plans_ago=[147, 142], dip=150,
        dip_ago=12)
    add(episode_dip, 1392, n=2, target="auth", metric=CPU, thr=0.7, interval=30, for_s=0,
        replicas=5, hours=3, ago=120, ratios=[1.3, 1.2, 1.12], plans_ago=[118, 113], dip=210,
        dip_ago=15)
    add(episode_dip, 1393, n=3, target="pricing", metric=LAT, thr=0.4, interval=30, for_s=60,
        replicas=3, hours=3, ago=110, ratios=[1.6, 1.4, 1.25], plans_ago=[107, 102], dip=420,
        dip_ago=16, keep=600)
    return c


def build(index, f, seed, kw):
    for attempt in range(200):
        rng = random.Random(seed * 1000 + attempt)
        try:
            return f(rng, index, **kw), attempt
        except Retry as e:
            last = e
    raise SystemExit(f"{f.__name__} {kw.get('n') or kw.get('name')}: no draw in 200 seeds: {last}")


def main() -> int:
    # `--only PREFIX`: (re)write only the scenarios whose names start with PREFIX,
    # leaving the other files alone.
    only = sys.argv[2] if len(sys.argv) == 3 and sys.argv[1] == "--only" else None
    if len(sys.argv) > 1 and only is None:
        raise SystemExit("usage: decisions-scenarios.py [--only PREFIX]")
    OUT.mkdir(parents=True, exist_ok=True)
    if only is None:
        for old in OUT.glob("*.yaml"):
            old.unlink()
    names = set()
    for i, (f, seed, kw) in enumerate(catalogue()):
        s, _ = build(i, f, seed, kw)
        assert s.name not in names, s.name
        names.add(s.name)
        if only is not None and not s.name.startswith(only):
            continue
        (OUT / f"{s.name}.yaml").write_text(s.render())
    wrote = len(names) if only is None else sum(n.startswith(only) for n in names)
    print(f"wrote {wrote} scenarios to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
