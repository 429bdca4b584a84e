import pickle
from sweep import *
# sanity: all violations -> engine loop with for:0-like decide, must equal simulate()
print("check all-true:", evaluate(np.ones(len(df), bool)), "(expect 51, 1395, -36.7)")
files = load(); P = prims()
m = P["gap>=20"] | P["novel479"]
ref = {}
for k, s in files.items():
    sub = df[df.file == k].set_index("i")
    ref[k] = simulate(s["values"], s["th"], lambda i, v: bool(sub.loc[i, "gap"] >= 20 or sub.loc[i, "rec"] >= 480))
t = total(files, ref); print("check gap>=20 OR novel479: evaluate", evaluate(m), "simulate", (t["caught"], t["false"], round(t["nab"], 2)))
res = pickle.load(open("sweep_res.pkl", "rb"))
def simple(n): return n.count(" ") // 2  # for tie-break
front = []
for c in range(52):
    cand = [r for r in res if r[1] >= c]
    if cand:
        best = min(cand, key=lambda r: (r[2], -r[3]))
        front.append((c, best))
print("\nPareto frontier (min false for caught >= c):")
prev = None
for c, r in front:
    if prev is None or r[0] != prev:
        print(f"  caught>={c:2d}: {r[0]:55s} caught={r[1]} false={r[2]} nab={r[3]:.1f}")
    prev = r[0]
ok = [r for r in res if r[1] >= 51 and r[2] <= 51]
print("\nrules meeting caught>=51 AND false<=51:", len(ok))
print("best caught at false<=51:", sorted([r for r in res if r[2] <= 51], key=lambda r: (-r[1], -r[3]))[:5])
print("least false at caught>=51:", sorted([r for r in res if r[1] >= 51], key=lambda r: (r[2], -r[3]))[:5])
print("best NAB:", sorted(res, key=lambda r: -r[3])[:8])
print("best NAB at false<=51:", sorted([r for r in res if r[2] <= 51], key=lambda r: -r[3])[:5])
print("NAB>30.4 count:", sum(r[3] > 30.4 for r in res), " with caught>=51:", sum(r[3] > 30.4 and r[1] >= 51 for r in res))
