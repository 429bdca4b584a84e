"""Lower bound on false plans for ANY rule that is monotone (non-decreasing) in a feature set:
if the rule fires at in-window violation p, it must fire at every out-of-window violation q
with feat(q) >= feat(p) componentwise, unless q lies in a cooldown. Points within 20 pts after
a window end are dropped (an in-window plan could cover them); the rest need >= greedy-cover
count of 20-pt cooldown intervals, each opened by a false plan. For a window, the rule may pick
its easiest point: bound_w = min over its violations p. Overall bound >= max_w bound_w (valid);
we also report the sum over the k hardest files taken separately (files are independent)."""
import pickle, collections, sys
from nabcore import *
files = load(); rows = pickle.load(open("feats.pkl", "rb"))
SETS = {
 "all(gap,rec,exc,run,z24..z1440)": ["gap","rec","exc","run","z24","z60","z120","z240","z480","z1440"],
 "gap,rec,exc,run": ["gap","rec","exc","run"],
 "rec,z240": ["rec","z240"], "gap,z120": ["gap","z120"], "rec,run": ["rec","run"],
}
def cover(idx):
    c, last = 0, -10**9
    for i in sorted(idx):
        if i >= last + COOLDOWN_PTS: c += 1; last = i
    return c
byfile = collections.defaultdict(list)
for r in rows:
    if r["post"]: byfile[r["file"]].append(r)
for sname, F in SETS.items():
    perfile = collections.defaultdict(int); worst = []
    for k, rs in byfile.items():
        wins = files[k]["windows"]
        out = [r for r in rs if r["win"] < 0 and not any(0 < r["i"] - b < COOLDOWN_PTS for a, b in wins)]
        X = np.array([[r[f] for f in F] for r in out]) if out else np.zeros((0, len(F)))
        for w in sorted(set(r["win"] for r in rs if r["win"] >= 0)):
            best = None
            for p in (r for r in rs if r["win"] == w):
                pv = np.array([p[f] for f in F])
                dom = [out[j]["i"] for j in np.nonzero((X >= pv).all(axis=1))[0]] if len(out) else []
                c = cover(dom)
                if best is None or c < best[0]: best = (c, p["i"])
            worst.append((best[0], k.split("/")[1], w, best[1]))
            perfile[k] = max(perfile[k], best[0])
    worst.sort(reverse=True)
    print(f"[{sname}] false lower bound at caught=51: >= {sum(perfile.values())} (sum over files of the max per-window bound)")
    print("   hardest windows (bound, file, window, point):", worst[:6])
