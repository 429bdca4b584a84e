from nabcore import *
files = load()
d0 = {k: rule_detections(s["values"], s["th"], 0) for k, s in files.items()}
d2 = {k: rule_detections(s["values"], s["th"], FOR2M_PTS) for k, s in files.items()}
# for:0 with engine-like cooldown (what the brief described), for comparison
dc = {k: simulate(s["values"], s["th"], lambda i, v: True) for k, s in files.items()}
t0, t2, tc = total(files, d0), total(files, d2), total(files, dc)
print(f"files={len(files)} windows={t0['windows']}")
print(f"for0  caught={t0['caught']} false={t0['false']} nab={t0['nab']:.1f}")
print(f"for2m caught={t2['caught']} false={t2['false']} nab={t2['nab']:.1f}")
print(f"for0+cooldown10m caught={tc['caught']} false={tc['false']} nab={tc['nab']:.1f}")
