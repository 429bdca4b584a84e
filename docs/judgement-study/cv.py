"""Part 2b: leave-half-of-the-files-out. Tune on 17 files, test on the other 17 (100 random splits,
both directions). Targets are recomputed on each half: caught >= for:0 caught, false <= floor(for:2m false/2),
NAB > for:2m NAB (all on that half)."""
import pickle, numpy as np
R = np.load("R.npy"); names = pickle.load(open("names.pkl", "rb")); NW, PERF = np.load("NWPERF.npy")
B0, B2 = names.index("BASE for:0"), names.index("BASE for:2m")
rules = np.arange(len(names) - 2)
def agg(idx, files):
    s = R[idx][:, files, :].sum(axis=1)
    return s[:, 0], s[:, 1], 100 * s[:, 2] / (PERF[files] + NW[files]).sum()
def targets(files):
    c0, _, _ = agg([B0], files); _, f2, n2 = agg([B2], files)
    return c0[0], np.floor(f2[0] / 2), n2[0]
rng = np.random.default_rng(0); rows = []
for s in range(100):
    perm = rng.permutation(34); halves = [np.sort(perm[:17]), np.sort(perm[17:])]
    for tune, test in [(0, 1), (1, 0)]:
        T, E = halves[tune], halves[test]
        ct, ft, nt = targets(T); ce, fe, ne = targets(E)
        c, f, n = agg(rules, T)
        meet = (c >= ct) & (f <= ft) & (n > nt)
        if meet.any(): pick = rules[meet][np.argmax(n[meet])]; how = "meets-on-tune"
        else:
            ok = f <= ft; key = c[ok] * 1000 + n[ok]; pick = rules[ok][np.argmax(key)]; how = "max-caught@false<=t"
        pn = rules[np.argmax(n)]
        c2, f2, n2 = agg([pick, pn], E)
        rows.append(dict(tune_meet=int(meet.sum()), how=how, pick=names[pick], test_c=c2[0], test_f=f2[0], test_n=n2[0],
                         tgt_c=ce, tgt_f=fe, tgt_n=ne, test_meet=(c2[0] >= ce) & (f2[0] <= fe) & (n2[0] > ne),
                         bn_pick=names[pn], bn_c=c2[1], bn_f=f2[1], bn_n=n2[1]))
import pandas as pd
d = pd.DataFrame(rows)
print(f"halves evaluated: {len(d)}; halves where SOME swept rule meets all 3 targets on the tune half: {(d.tune_meet>0).sum()}")
print(f"test-half: picked rule meets all 3 targets in {d.test_meet.sum()}/{len(d)}")
print("test half, target-picked rule: caught/target  mean %.1f/%.1f (min ratio %.2f); false/target mean %.1f/%.1f; NAB %.1f vs for2m %.1f"
      % (d.test_c.mean(), d.tgt_c.mean(), (d.test_c / d.tgt_c).min(), d.test_f.mean(), d.tgt_f.mean(), d.test_n.mean(), d.tgt_n.mean()))
print("  test caught >= target in %d, false <= target in %d, NAB > for2m in %d" % ((d.test_c >= d.tgt_c).sum(), (d.test_f <= d.tgt_f).sum(), (d.test_n > d.tgt_n).sum()))
print("test half, best-NAB-on-tune rule: NAB mean %.1f (min %.1f, median %.1f) vs for2m %.1f; beats for2m in %d/%d; caught %.1f false %.1f"
      % (d.bn_n.mean(), d.bn_n.min(), d.bn_n.median(), d.tgt_n.mean(), (d.bn_n > d.tgt_n).sum(), len(d), d.bn_c.mean(), d.bn_f.mean()))
print("most picked (target):", d.pick.value_counts().head(5).to_dict())
print("most picked (best NAB):", d.bn_pick.value_counts().head(5).to_dict())
d.to_csv("cv_rows.csv", index=False)
