"""Part 2: sweep causal rules (single primitives, AND/OR pairs, and X AND run>=2) through the
engine loop (plan only at a violating point, 10-min = 20-pt cooldown after each plan)."""
import pickle, itertools, sys, json
from nabcore import *
df, meta = pickle.load(open("prims.pkl", "rb"))
df = df.sort_values(["file", "i"]).reset_index(drop=True)
FILES = sorted(meta)
fidx = {f: j for j, f in enumerate(FILES)}
GI = (df["file"].map(fidx).values.astype(np.int64) * 10**6 + df["i"].values)
POST = df["post"].values.astype(bool)
WIN = np.where(df["win"].values >= 0, df["file"].map(fidx).values * 10 + df["win"].values, -1)
TPW, FPW = df["tpw"].values, df["fpw"].values
FILE_OF = df["file"].map(fidx).values

def prims():
    P = {}
    for G in [2, 3, 5, 10, 20, 40, 60, 120, 240, 480]: P[f"gap>={G}"] = df.gap.values >= G
    for R in [2, 5, 10, 20, 35, 60, 120, 240, 480, 960, 2880]: P[f"novel{R-1}"] = df.rec.values >= R  # v > max(last R-1 pts)
    for H in [24, 60, 120, 240, 480, 1440]:
        for Z in [2, 3, 4, 5, 6, 8, 10, 15, 20]: P[f"z{H}>={Z}"] = df[f"z{H}"].values >= Z
    for E in [0.1, 0.25, 0.5, 1, 2, 4]: P[f"exc>={E}"] = df.exc.values >= E
    for r in [2, 3, 5]: P[f"run>={r}"] = df.run.values >= r
    for c in ["cp0.5", "cp1", "cp2", "cp4"]:
        for h in [5, 20, 50, 100, 200, 500]: P[f"{c}>={h}"] = df[c].values >= h
    for c in ["ct120_1", "ct120_3", "ct480_1", "ct480_3"]:
        for h in [5, 10, 20, 50, 100, 200]: P[f"{c}>={h}"] = df[c].values >= h
    for M, cs in [(10, [2, 3, 5]), (20, [3, 5, 8]), (60, [5, 10, 20])]:
        for c in cs: P[f"d{M}>={c}"] = df[f"d{M}"].values >= c
    return P

def evaluate(mask, files=None):
    """greedy cooldown over passing points -> (caught, false, nab) on the given file subset"""
    sel = np.nonzero(mask)[0]
    if files is not None:
        sel = sel[np.isin(FILE_OF[sel], files)]
    plans, last = [], -10**12
    for j in sel:
        g = GI[j]
        if g >= last + COOLDOWN_PTS: plans.append(j); last = g
    plans = np.array(plans, dtype=int)
    plans = plans[POST[plans]] if len(plans) else plans
    fs = files if files is not None else range(len(FILES))
    nw = sum(meta[FILES[f]]["nw"] for f in fs); perf = sum(meta[FILES[f]]["perfect"] for f in fs)
    raw = -nw; caught = 0; seen = set(); false = 0
    for j in plans:
        w = WIN[j]
        if w >= 0:
            if w not in seen: seen.add(w); caught += 1; raw += TPW[j] + 1.0
        else:
            false += 1; raw += FPW[j]
    return caught, false, normalized(raw, -nw, perf)

def all_rules(P):
    names = list(P)
    for a in names: yield a, P[a]
    for a, b in itertools.combinations(names, 2):
        yield f"({a} OR {b})", P[a] | P[b]
        yield f"({a} AND {b})", P[a] & P[b]

if __name__ == "__main__":
    P = prims(); res = []
    for name, m in all_rules(P):
        res.append((name, *evaluate(m)))
    # X OR Y, AND run>=2 (engine-like persistence) for the pairs
    pickle.dump(res, open("sweep_res.pkl", "wb"))
    print("rules evaluated:", len(res))
