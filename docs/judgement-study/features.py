"""Causal features at every violating point (uses values[:i+1] only; labels used only for reporting)."""
import pickle, sys
from nabcore import *

HS = [24, 60, 120, 240, 480, 1440]   # trailing windows in points (x30s engine time: 12min..12h)

def robust_z(v, past):
    if len(past) < 5: return np.inf
    med = np.median(past); mad = 1.4826 * np.median(np.abs(past - med))
    if mad <= 0:
        sd = np.std(past)
        if sd <= 0: return np.inf if v > med else 0.0
        return (v - med) / sd
    return (v - med) / mad

def feats(files):
    rows = []
    for k, s in files.items():
        v = s["values"]; th = s["th"]; n = len(v); p = probation(n)
        viol = np.nonzero(v > th)[0]
        prev = -10**9; run = 0; ep = -1
        for i in viol:
            gap = i - prev            # points since previous violation (1 = consecutive)
            run = run + 1 if gap == 1 else 1
            if gap > 1: ep += 1
            prev = i
            ge = np.nonzero(v[:i] >= v[i])[0]
            rec = i - ge[-1] if len(ge) else i + 1   # record age: points since a value >= v[i]
            r = dict(file=k, i=int(i), v=v[i], th=th, gap=int(min(gap, 10**6)), run=run, ep=ep, rec=int(rec),
                     post=i >= p, exc=(v[i]-th)/max(1e-12, th - np.median(v[:p])))
            for H in HS:
                r[f"z{H}"] = robust_z(v[i], v[max(0, i-H):i])
            w = [j for j, (a, b) in enumerate(s["windows"]) if a <= i <= b]
            r["win"] = w[0] if w else -1
            rows.append(r)
    return rows

if __name__ == "__main__":
    files = load()
    rows = feats(files)
    pickle.dump(rows, open("feats.pkl", "wb"))
    print(len(rows))
