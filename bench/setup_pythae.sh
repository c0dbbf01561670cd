#!/usr/bin/env bash
# Create the pythae side venv for the benchmarks: pythae 0.1.2 with torch pinned by constraints.txt
# (the same torch build as vaekit's side). pythae's side does not need vaekit: it reads the data
# splits and weights the harness exports. Measured here: ~45 s (torch from the local wheel cache).
#   bench/setup_pythae.sh              # -> bench/.pythae-venv (ignored by git)
#   PYTHAE_VENV=/work/pythae-venv bench/setup_pythae.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PYTHAE_VENV:-bench/.pythae-venv}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pythae, torch" 2>/dev/null; then
    echo "pythae venv ready: $VENV"; exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -c constraints.txt pythae==0.1.2
"$VENV/bin/python" -c "import pythae, torch; print('pythae venv ready:', '$VENV', 'torch', torch.__version__)"
