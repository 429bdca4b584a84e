"""Extend the best pair rules with a third primitive (AND / OR) -- full data, in-sample (optimistic)."""
import pickle
from sweep import *
P = prims(); res = pickle.load(open("sweep_res.pkl", "rb"))
def mask_of(name):
    name = name.strip("()")
    if " OR " in name: a, b = name.split(" OR "); return P[a] | P[b]
    if " AND " in name: a, b = name.split(" AND "); return P[a] & P[b]
    return P[name]
hi = sorted([r for r in res if r[1] >= 47], key=lambda r: r[2])[:120]     # high caught, try to cut false
lo = sorted([r for r in res if r[2] <= 120], key=lambda r: -r[1])[:120]   # low false, try to add catches
out = []
for base in hi:
    m = mask_of(base[0])
    for p, pm in P.items(): out.append((f"{base[0]} AND {p}", *evaluate(m & pm)))
for base in lo:
    m = mask_of(base[0])
    for p, pm in P.items(): out.append((f"{base[0]} OR {p}", *evaluate(m | pm)))
allr = res + out
pickle.dump(out, open("triples_res.pkl", "wb"))
print("triples evaluated:", len(out))
print("meet caught>=51 & false<=51:", [r for r in allr if r[1] >= 51 and r[2] <= 51][:5])
for c in [45, 47, 48, 49, 50, 51]:
    b = min([r for r in allr if r[1] >= c], key=lambda r: (r[2], -r[3])); print(f"  min false at caught>={c}: {b[0]}  caught={b[1]} false={b[2]} nab={b[3]:.1f}")
for F in [51, 60, 80, 103]:
    b = max([r for r in allr if r[2] <= F], key=lambda r: (r[1], r[3])); print(f"  max caught at false<={F}: {b[0]}  caught={b[1]} false={b[2]} nab={b[3]:.1f}")
b = max(allr, key=lambda r: r[3]); print(f"  best NAB: {b[0]} caught={b[1]} false={b[2]} nab={b[3]:.1f}")
