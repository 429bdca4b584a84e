"""Per-rule per-file (caught, false, raw) for every single/pair rule -> R.npy, names.pkl"""
import pickle
from sweep import *
def per_file(mask):
    out = np.zeros((len(FILES), 3))
    sel = np.nonzero(mask)[0]; last = -10**12; seen = set()
    for j in sel:
        g = GI[j]
        if g < last + COOLDOWN_PTS: continue
        last = g
        if not POST[j]: continue
        f = FILE_OF[j]; w = WIN[j]
        if w >= 0:
            if w not in seen: seen.add(w); out[f, 0] += 1; out[f, 2] += TPW[j] + 1.0
        else: out[f, 1] += 1; out[f, 2] += FPW[j]
    return out
if __name__ == "__main__":
    P = prims(); names = []; R = []
    for name, m in all_rules(P):
        names.append(name); R.append(per_file(m))
    # the two baselines as rows too
    files = load()
    for nm, hold in [("BASE for:0", 0), ("BASE for:2m", FOR2M_PTS)]:
        o = np.zeros((len(FILES), 3))
        for f, k in enumerate(FILES):
            s = files[k]; n = len(s["values"])
            r, nw, c, fp = score(n, s["windows"], rule_detections(s["values"], s["th"], hold))
            o[f] = (c, fp, r + nw)
        names.append(nm); R.append(o)
    R = np.array(R); np.save("R.npy", R); pickle.dump(names, open("names.pkl", "wb"))
    NW = np.array([meta[k]["nw"] for k in FILES]); PERF = np.array([meta[k]["perfect"] for k in FILES])
    np.save("NWPERF.npy", np.stack([NW, PERF]))
    print(R.shape)
