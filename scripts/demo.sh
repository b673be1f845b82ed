#!/usr/bin/env bash
# One command from a fresh clone: set up .venv, then run dropctl on the bundled sample_models/.
# Exits non-zero only if dropctl itself fails to run (exit 2); findings (exit 1) are the point.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh || exit 2
set +e  # setup.sh runs with -e; here a finding (exit 1) must not end the demo
export PATH="$PWD/.venv/bin:$PATH"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0

step() {  # step "title" command... : print the command, run it, fail the demo only on exit >= 2
  printf '\n\033[1m$ %s\033[0m\n' "${*:2}"
  "${@:2}"
  local rc=$?
  [ "$rc" -ge 2 ] && { echo "(exit $rc)"; failed=1; }
  return 0
}

echo "== 1. Is dropout active when I call predict()?  (static, no TensorFlow) =="
for model in sample_models/*.keras sample_models/*.h5 sample_models/keras1_style.json; do
  step inspect dropctl inspect "$model"
done

echo; echo "== 2. The CI gate over every sample (default policy: predict() must be deterministic) =="
step check dropctl check sample_models/

echo; echo "== 3. MC dropout: only dropout on, BatchNormalization in inference mode =="
step mc dropctl mc-predict sample_models/bn_dropout.keras --synthetic 8 --samples 100 --seed 0
step diff dropctl diff sample_models/pinned_training.keras --synthetic 16 --samples 50

echo; echo "== 4. Fix the artifact: the Keras 2 PermaDropout Lambda, then MC dropout on the CNN =="
step convert dropctl convert sample_models/lstm_permadropout_tfkeras.h5 "$out/lstm_standard.keras" --standard
step inspect dropctl inspect "$out/lstm_standard.keras"
step convert dropctl convert sample_models/cnn.keras "$out/cnn_mc.keras" --perma
step diff dropctl diff "$out/cnn_mc.keras" --synthetic 8 --samples 20

exit $failed
