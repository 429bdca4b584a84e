"""Which swept rules the engine could run on the history it keeps today: a policy's
status holds its last 120 samples (one hour at 30 s), so rules whose windows reach
further back (novelN, zH, dM, ctH with N, H, M > 120; CUSUM against the probationary
period; quiet gaps over 120 points) are left out. Reads sweep_res.pkl (sweep.py)."""
import pickle, re

res = pickle.load(open("sweep_res.pkl", "rb"))


def fits(name, most=120):
    if "cp" in name:  # CUSUM against the probationary period: the whole history
        return False
    for m in re.finditer(r"(novel|z|d|ct|gap>=)(\d+)", name):
        if int(m.group(2)) > most:
            return False
    return True


short = [r for r in res if fits(r[0])]
print(f"{len(short)} of {len(res)} rules need at most 120 points of history")
best = max((r for r in short if r[2] <= 51), key=lambda r: (r[1], -r[2]))
print("most caught at false<=51:", best[0], "caught", best[1], "false", best[2], f"NAB {best[3]:.1f}")
nab = max(short, key=lambda r: r[3])
print("best NAB:", nab[0], "caught", nab[1], "false", nab[2], f"NAB {nab[3]:.1f}")
for r in sorted((r for r in short if r[1] > 28 and r[2] < 103 and r[3] > 30.4), key=lambda r: -r[3]):
    print("beats for:2m on caught, false and NAB:", r[0], "caught", r[1], "false", r[2], f"NAB {r[3]:.1f}")
