"""Fixed candidate rules on all files and on 200 random halves; which windows are the last to fall."""
import pickle, pandas as pd
from sweep import *
P = prims(); files = load()
R = np.load("R.npy"); names = pickle.load(open("names.pkl", "rb")); NW, PERF = np.load("NWPERF.npy")
def agg(i, fs):
    s = R[i][fs].sum(axis=0); return s[0], s[1], 100 * s[2] / (PERF[fs] + NW[fs]).sum()
B0, B2 = names.index("BASE for:0"), names.index("BASE for:2m")
rng = np.random.default_rng(1); halves = []
for _ in range(100):
    p = rng.permutation(34); halves += [np.sort(p[:17]), np.sort(p[17:])]
for rule in ["(novel959 AND z1440>=20)", "(novel959 AND run>=2)", "(novel959 OR z1440>=10)", "(novel959 AND z1440>=4)"]:
    i = names.index(rule); c, f, n = agg(i, np.arange(34))
    st = np.array([(agg(i, h), agg(B0, h)[0], agg(B2, h)) for h in halves], dtype=object)
    cc = np.array([a[0][0] for a in st]); ff = np.array([a[0][1] for a in st]); nn = np.array([a[0][2] for a in st])
    c0 = np.array([a[1] for a in st]); c2 = np.array([a[2][0] for a in st]); f2 = np.array([a[2][1] for a in st]); n2 = np.array([a[2][2] for a in st])
    print(f"{rule:28s} ALL: caught={c:.0f} false={f:.0f} nab={n:.1f} | 200 halves: caught>=for0 {np.sum(cc>=c0)}, "
          f"false<=for2m/2 {np.sum(ff<=np.floor(f2/2))}, NAB>for2m {np.sum(nn>n2)}, caught>for2m {np.sum(cc>c2)}, "
          f"false<for2m {np.sum(ff<f2)}, all3(for2m-dominating) {np.sum((cc>=c2)&(ff<=f2)&(nn>n2))}; NAB half min/med {nn.min():.1f}/{np.median(nn):.1f}")
# which windows do the frontier rules miss?
def missed(mask):
    sel = np.nonzero(mask)[0]; last = -10**12; seen = set()
    for j in sel:
        if GI[j] >= last + COOLDOWN_PTS:
            last = GI[j]
            if POST[j] and WIN[j] >= 0: seen.add(WIN[j])
    allw = set(WIN[(WIN >= 0) & POST])
    return sorted(f"{FILES[w//10].split('/')[1]}#{w%10}" for w in allw - seen)
for nm, m in [("novel959 OR z1440>=20 (47)", P["novel959"] | P["z1440>=20"]), ("novel959 OR z120>=15 (49)", P["novel959"] | P["z120>=15"]),
              ("novel959 AND z1440>=20 (31)", P["novel959"] & P["z1440>=20"])]:
    print("missed by", nm, ":", missed(m))
v = files["artificialWithAnomaly/art_daily_nojump.csv"]; vals = v["values"]
print("art_daily_nojump: th=%.3f window=%s; violations post-probation (i:value):" % (v["th"], v["windows"]),
      [(int(i), round(float(vals[i]), 2)) for i in np.nonzero(vals > v["th"])[0] if i >= 604])
