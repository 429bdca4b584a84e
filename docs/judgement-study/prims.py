"""Per-violation-point causal features (incl. CUSUM, density) + scoring weights -> prims.pkl"""
import pickle, pandas as pd
from nabcore import *
from features import feats

def rstats(x):
    med = np.median(x); mad = 1.4826 * np.median(np.abs(x - med))
    if mad <= 0: mad = np.std(x)
    return med, (mad if mad > 0 else 1e-9)

def build():
    files = load(); rows = feats(files); df = pd.DataFrame(rows)
    extra = []
    for k, s in files.items():
        v = s["values"]; n = len(v); p = probation(n); th = s["th"]; W = s["windows"]
        ser = pd.Series(v)
        med_p, s_p = rstats(v[:p])
        zp = (v - med_p) / s_p
        cz = {}
        for kk in [0.5, 1, 2, 4]:
            S = np.zeros(n); acc = 0.0
            for t in range(n):
                acc = max(0.0, acc + zp[t] - kk); S[t] = acc
            cz[f"cp{kk}"] = S
        for H in [120, 480]:
            rm = ser.rolling(H, min_periods=10).median().shift(1)
            rmad = (ser - rm).abs().rolling(H, min_periods=10).median().shift(1) * 1.4826
            z = ((ser - rm) / rmad.replace(0, np.nan)).fillna(0).clip(-50, 50).values
            for kk in [1, 3]:
                S = np.zeros(n); acc = 0.0
                for t in range(n):
                    acc = max(0.0, acc + z[t] - kk); S[t] = acc
                cz[f"ct{H}_{kk}"] = S
        isv = (v > th).astype(int); cs = np.concatenate([[0], np.cumsum(isv)])
        for i in np.nonzero(v > th)[0]:
            e = dict(file=k, i=int(i))
            for nm, S in cz.items(): e[nm] = S[i]
            for M in [10, 20, 60]: e[f"d{M}"] = cs[i+1] - cs[max(0, i+1-M)]
            w = [j for j, (a, b) in enumerate(W) if a <= i <= b]
            if w:
                a, b = W[w[0]]; e["tpw"] = sig(-(b - i + 1) / (b - a + 1)) / MAX_TP; e["fpw"] = 0.0
            else:
                prev = [x for x in W if x[1] < i]
                pos = (i - prev[-1][1]) / (prev[-1][1] - prev[-1][0]) if prev and prev[-1][1] > prev[-1][0] else 3.0
                e["tpw"] = 0.0; e["fpw"] = sig(pos) * FP
            extra.append(e)
    df = df.merge(pd.DataFrame(extra), on=["file", "i"])
    meta = {k: dict(n=len(s["values"]), nw=sum(1 for a, b in s["windows"] if b >= probation(len(s["values"]))),
                    perfect=perfect_score(len(s["values"]), s["windows"])) for k, s in files.items()}
    return df, meta

if __name__ == "__main__":
    df, meta = build()
    pickle.dump((df, meta), open("prims.pkl", "wb"))
    print(df.shape); print(df.describe().T.to_string())
