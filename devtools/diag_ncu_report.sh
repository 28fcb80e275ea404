#!/usr/bin/env bash
# Which ncu_report module loads a report on the GPU machine without crashing? (flashsight segfaulted there.)
set -u
source .devkit/setup.sh
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
R=/tmp/dec.ncu-rep; gunzip -c tests/data/ncu/dec.ncu-rep.gz > $R
mkdir -p /tmp/alt && python3 -m pip install -q --no-deps --target /tmp/alt .devkit/alt/*.whl >/dev/null 2>&1
EXTRAS=$(ls -d /opt/nvidia/nsight-compute/*/extras/python | tail -1); echo "extras: $EXTRAS"; ls $EXTRAS
try() { echo "--- $1"; shift; timeout 120 python3 -X faulthandler -c "$@" 2>&1 | tail -6; echo "rc=${PIPESTATUS[0]}"; }
LOAD='r=ncu_report.load_report("'$R'"); a=r.range_by_idx(0).action_by_idx(0); print(ncu_report.__file__, a.name(), len(a.metric_names()))'
try "kit wheel alone"            "import ncu_report; $LOAD"
try "kit wheel after pandas"     "import pandas, pyarrow; import ncu_report; $LOAD"
try "kit wheel, sass_by_pc"      "import ncu_report; $LOAD; print(len(list(a.sass_by_pc())))"
try "ncu extras module"          "import sys; sys.path.insert(0, '$EXTRAS'); import ncu_report; $LOAD"
try "2026.3.1 wheel"             "import sys; sys.path.insert(0, '/tmp/alt'); import ncu_report; $LOAD"
try "flashsight read_ncu (kit)"  "from flashsight.parsers import read_input; t=read_input('$R'); print({k: len(v) for k, v in t.items()})"
try "flashsight read_ncu (2026)" "import sys; sys.path.insert(0, '/tmp/alt'); from flashsight.parsers import read_input; t=read_input('$R'); print({k: len(v) for k, v in t.items()})"
try "flashsight read_ncu (extras)" "import sys; sys.path.insert(0, '$EXTRAS'); from flashsight.parsers import read_input; t=read_input('$R'); print({k: len(v) for k, v in t.items()})"
