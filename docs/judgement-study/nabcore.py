"""Python port of crates/mapek-engine/src/decisions/{replay,nab}.rs (scoring + baselines).

Point i is evaluated at i*30s; windows map NAB timestamps to point indices
(first = #times < start, last = #times <= end - 1); threshold = linear-interpolated
0.99 quantile of the first probation(n) = min(n*15//100, 750) points; violation = v > th.
"""
import json, os, bisect, math
from datetime import datetime
import numpy as np

NAB_DIR = os.environ.get("NAB_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "datasets", "nab-open"))
INTERVAL_S = 30
COOLDOWN_PTS = 20          # 600 s / 30 s : no run while now < close + 600 s
FOR2M_PTS = 4              # at(i) - since >= 120 s  <=> i - first >= 4
TP, FP, FN = 1.0, 0.11, 1.0


def parse_time(s):
    return datetime.fromisoformat(s.strip())


def probation(n):
    return min(n * 15 // 100, 750)


def quantile(vals, q):
    v = sorted(vals)
    last = len(v) - 1
    pos = q * last
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def threshold(values):
    return quantile(values[:probation(len(values))], 0.99)


def load(d=NAB_DIR):
    labels = json.load(open(os.path.join(d, "combined_windows.json")))
    out = {}
    for name in sorted(labels):
        rows = []
        with open(os.path.join(d, name)) as f:
            hdr = f.readline()
            assert hdr.strip() == "timestamp,value"
            for line in f:
                if not line.strip():
                    continue
                t, v = line.split(",", 1)
                rows.append((parse_time(t), float(v)))
        times = [r[0] for r in rows]
        wins = []
        for s, e in labels[name]:
            s, e = parse_time(s), parse_time(e)
            first = bisect.bisect_left(times, s)
            after = bisect.bisect_right(times, e)
            assert after > first
            wins.append((first, after - 1))
        vals = np.array([r[1] for r in rows], dtype=float)
        out[name] = dict(values=vals, windows=wins, th=threshold(list(vals)))
    return out


def sig(x):
    return -1.0 if x >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


MAX_TP = sig(-1.0)


def score(n, windows, dets):
    """returns (raw, nwindows, caught, false)"""
    p = probation(n)
    dets = sorted(set(i for i in dets if p <= i < n))
    raw, nw, caught, fp = 0.0, 0, 0, 0
    for (a, b) in windows:
        if b < p:
            continue
        nw += 1
        hit = next((i for i in dets if a <= i <= b), None)
        if hit is None:
            raw -= FN
        else:
            caught += 1
            width = b - a + 1
            raw += sig(-(b - hit + 1) / width) * TP / MAX_TP
    for i in dets:
        if any(a <= i <= b for a, b in windows):
            continue
        fp += 1
        prev = [w for w in windows if w[1] < i]
        if prev and prev[-1][1] - prev[-1][0] + 1 > 1:
            a, b = prev[-1]
            pos = (i - b) / (b - a)
        else:
            pos = 3.0
        raw += sig(pos) * FP
    return raw, nw, caught, fp


def null_score(n, windows):
    return score(n, windows, [])[0]


def perfect_score(n, windows):
    p = probation(n)
    return score(n, windows, [max(a, p) for a, b in windows if b >= p])[0]


def normalized(raw, null, perfect):
    return 100.0 * (raw - null) / (perfect - null) if perfect - null > 0 else 0.0


def rule_detections(values, th, hold_pts):
    """Prometheus alert: points where it goes to firing (no cooldown in the engine's baseline)."""
    out, since, firing = [], None, False
    for i, v in enumerate(values):
        if not v > th:
            since, firing = None, False
            continue
        if since is None:
            since = i
        if not firing and i - since >= hold_pts:
            firing = True
            out.append(i)
    return out


def simulate(values, th, decide, cooldown=COOLDOWN_PTS):
    """The engine's loop: at each violating point outside cooldown, decide(i, since_close_viol_idx)
    -> bool; a plan closes at once; violations list restarts after the close."""
    out, closed, viol = [], None, []
    for i, v in enumerate(values):
        if not v > th:
            continue
        viol.append(i)
        if closed is not None and i < closed + cooldown:
            continue
        if decide(i, viol):
            out.append(i)
            closed = i
            viol = []
    return out


def total(files, dets_by_file, names=None):
    names = names or list(files)
    raw = null = perf = 0.0
    c = f = w = 0
    for nm in names:
        s = files[nm]
        n = len(s["values"])
        r, nw, cc, ff = score(n, s["windows"], dets_by_file[nm])
        raw += r; c += cc; f += ff; w += nw
        null += null_score(n, s["windows"]); perf += perfect_score(n, s["windows"])
    return dict(windows=w, caught=c, false=f, nab=normalized(raw, null, perf))
