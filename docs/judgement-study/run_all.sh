#!/bin/sh
# docs/judgement-study/run_all.sh: reruns the whole NAB feasibility study (about
# 1.5 min on one core). Needs Python 3 with numpy and pandas; writes its
# intermediate files to $OUT (default /tmp/judge-study), nothing in the repo.
# NAB_DIR overrides the dataset (default: the repo's datasets/nab-open).
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/judge-study}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
cd "$OUT"
$PY "$HERE/baselines.py"                      # for0 51/2512, for2m 28/103 NAB 30.4 (exact)
$PY "$HERE/features.py"; $PY "$HERE/study1.py" # part 1: windows vs out-of-window episodes
$PY "$HERE/dominance.py"                      # lower bounds for monotone rules
$PY "$HERE/prims.py" >/dev/null 2>&1; $PY "$HERE/sweep.py"; $PY "$HERE/frontier.py" # part 2
$PY "$HERE/memory_limit.py"                   # the rules that fit in the one hour the engine keeps
$PY "$HERE/triples.py"                        # 33,840 three-primitive extensions
$PY "$HERE/perfile.py"; $PY "$HERE/cv.py"; $PY "$HERE/final_checks.py" # half-split CV
