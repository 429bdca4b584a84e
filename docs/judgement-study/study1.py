"""Part 1: what the 51 caught windows' violations look like vs out-of-window episodes."""
import pickle, collections
from nabcore import *
files = load(); rows = pickle.load(open("feats.pkl", "rb"))
F = ["gap", "run", "rec", "exc", "z24", "z60", "z120", "z240", "z480", "z1440"]
post = [r for r in rows if r["post"]]
W = collections.defaultdict(list); E = collections.defaultdict(list)
for r in post:
    (W[(r["file"], r["win"])] if r["win"] >= 0 else E[(r["file"], r["ep"])]).append(r)
print(f"caught windows={len(W)} out-of-window episodes={len(E)} (for:0 false=2512 counts episodes split by window edges)")
print("\nPer window: nviol, first-viol offset (pts from window start / width), gap before 1st viol, max over in-window violations of each feature")
print(f"{'file':34s} {'win':>3} {'nv':>4} {'off':>9} " + " ".join(f"{f:>7}" for f in F))
wmax = {}
for key, rs in sorted(W.items(), key=lambda kv: kv[0]):
    a, b = files[key[0]]["windows"][key[1]]
    m = {f: max(r[f] for r in rs) for f in F}
    wmax[key] = m
    print(f"{key[0].split('/')[1][:34]:34s} {key[1]:>3} {len(rs):>4} {rs[0]['i']-a:>4}/{b-a+1:<4} " + " ".join(f"{m[f]:7.3g}" for f in F))
emax = {key: {f: max(r[f] for r in rs) for f in F} for key, rs in E.items()}
print("\nSingle-feature oracle: t = min over the 51 windows of the window's best value (needed for caught=51);")
print("out-of-window episodes whose best value >= t (each would be >= 1 false plan, before cooldown merging)")
for f in F:
    t = min(m[f] for m in wmax.values())
    hard = sorted(wmax, key=lambda k: wmax[k][f])[:3]
    ne = sum(1 for m in emax.values() if m[f] >= t)
    # quantiles of windows' best values vs episodes
    wv = np.array([m[f] for m in wmax.values()]); ev = np.array([m[f] for m in emax.values()])
    # best tradeoff at 49/50 windows
    ts = sorted(wv)
    print(f"{f:6s} t51={t:9.3g} episodes>=t: {ne:5d}/{len(emax)} | t50={ts[1]:9.3g} -> {sum(ev>=ts[1]):5d} | t45={ts[6]:9.3g} -> {sum(ev>=ts[6]):5d} | hardest: " + ", ".join(f"{k[0].split('/')[1][:22]}#{k[1]}" for k in hard))
print("\nfraction with gap>=G before the episode: windows(first in-window viol) vs episodes")
for G in [2, 5, 20, 60, 120, 240, 480]:
    wf = sum(1 for rs in W.values() if any(r['gap'] >= G for r in rs)); ef = sum(1 for rs in E.values() if any(r['gap'] >= G for r in rs))
    print(f"  G={G:4d} pts: windows with some viol after gap>=G {wf}/51, episodes {ef}/{len(E)}")
pickle.dump((wmax, emax), open("wmax.pkl", "wb"))
