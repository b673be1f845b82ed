#!/usr/bin/env bash
# The version/backend matrix: dropctl's runtime tests in one plain venv per Keras x backend combination.
#
#   scripts/matrix.sh                 # every combination below
#   scripts/matrix.sh tf-oldest jax   # some of them
#
# Each combination gets .matrix/<name>/ (a venv with dropctl's core, pytest and that combination only:
# the jax and torch venvs have no TensorFlow at all), runs RUNTIME_TESTS there with KERAS_BACKEND set
# (on every core: pytest-xdist -n auto, a test file per worker),
# and logs to .matrix/<name>.log. With both tf-newest and tf-oldest selected it also converts every
# sample with the newest Keras (--target-keras <oldest>) and loads + predicts each result with the
# oldest. The last lines are a table: combination, installed versions, result, seconds.
# nightly-tf / nightly-jax: Keras 3.16 before its release. keras-nightly provides the `keras` package
# under another distribution name, so the venv gets its backend first, then pip removes the `keras`
# that TensorFlow pulls in and installs keras-nightly (KERAS_NIGHTLY=latest: the newest nightly
# instead of the measured pin). After the runtime tests, keras-hub 0.32 is added without its
# `keras>=3.15` requirement, as a user upgrading Keras would have it: it fails to import on the
# nightly, and HUB_TESTS check that dropctl says so in one line naming both versions.
# hub-nightly: Keras 3.15 + TensorFlow with the pinned keras-hub nightly (HUB_NIGHTLY=latest: the
# newest), the next keras_hub before its release: HUB_ROW_TESTS check that it builds every catalogued
# class at the paths the catalogue's history records for it, and that inspect equals what it builds.
# hub-oldest: the same checks with keras-hub 0.31.1 (older than the `hub` extra's >=0.32, so not for
# running models, but the catalogue's history records it for files made with it): its training=True
# calls must be the recorded ones (its Swin DropPath raises: DC408), and dropctl must say so in one
# line where a command runs such a site. CI runs it (.ci/run: about 3 minutes here, venv build included).
# MATRIX_DIR=DIR builds the venvs there instead of .matrix/.
# torch: the CPU wheel is pinned to 2.13.0 because that file lies on this machine's disk (pip takes it
# from there); the package index's default Linux torch wheel is the CUDA build (several GB).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
OLDEST_KERAS=3.6.0
KERAS_NIGHTLY=${KERAS_NIGHTLY:-3.16.0.dev2026102704}
HUB_NIGHTLY=${HUB_NIGHTLY:-0.33.0.dev202610250352}
OLDEST_HUB=0.31.1
MATRIX=${MATRIX_DIR:-.matrix}
declare -A SPEC=(
  [tf-oldest]="tensorflow    keras==${OLDEST_KERAS} tensorflow==2.17.*"
  [tf-newest]="tensorflow    keras>=3.15,<4 tensorflow>=2.21,<3"
  [jax]="jax           keras>=3.15,<4 jax>=0.4.26"
  [torch]="torch         keras>=3.15,<4 torch==2.13.0"
  [jax-oldest]="jax           keras==${OLDEST_KERAS} jax==0.4.31 jaxlib==0.4.31"
  [nightly-tf]="tensorflow    tensorflow>=2.21,<3"
  [nightly-jax]="jax           jax>=0.4.26"
  [hub-nightly]="tensorflow    keras>=3.15,<4 tensorflow>=2.21,<3"
  [hub-oldest]="tensorflow    keras>=3.15,<4 tensorflow>=2.21,<3"
)
# keras_hub's own requirements but Keras (keras-hub 0.32.0's metadata; tensorflow-text only with TF).
HUB_DEPS="absl-py packaging regex kagglehub!=1.0.1 kagglesdk==0.1.28 sentencepiece tokenizers"
ORDER=(tf-newest tf-oldest jax torch)
RUNTIME_TESTS=(tests/mc/test_mc.py tests/mc/test_lifted_holder.py tests/runtime tests/conversion/test_convert.py
               tests/conversion/test_target.py tests/policy/test_check_probe.py tests/test_versions.py
               tests/test_one_verdict.py tests/reader/test_semantics.py)
HUB_TESTS=(tests/runtime/test_compat.py)
HUB_ROW_TESTS=(tests/reader/test_semantics.py tests/runtime/test_hub_models.py)
[ $# -gt 0 ] && ORDER=("$@")
CROSS=0
if [[ " ${ORDER[*]} " == *" cross "* ]]; then  # only the conversion cross-check, venvs already built
  CROSS=1; ORDER=()
elif [[ " ${ORDER[*]} " == *" tf-newest "* && " ${ORDER[*]} " == *" tf-oldest "* ]]; then
  CROSS=1
fi
mkdir -p "$MATRIX"
declare -A RESULT TIME VERSIONS
for name in "${ORDER[@]+"${ORDER[@]}"}"; do
  spec=${SPEC[$name]:-}
  if [ -z "$spec" ]; then echo "Error: unknown combination '$name' (known: ${!SPEC[*]})" >&2; exit 2; fi
  read -r backend pkgs <<<"$spec"
  venv=$MATRIX/$name
  log=$MATRIX/$name.log
  start=$(date +%s)
  {
    [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
    # shellcheck disable=SC2086 - pkgs is a word list of requirement specifiers
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e . pytest pytest-xdist hypothesis $pkgs &&
    if [[ $name == nightly-* ]]; then
      nightly="keras-nightly==$KERAS_NIGHTLY"; [ "$KERAS_NIGHTLY" = latest ] && nightly=keras-nightly
      # Removing `keras` deletes the files both distributions own: reinstall the nightly's.
      "$venv/bin/python" -m pip uninstall -q -y keras &&
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --pre "$nightly" &&
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --pre --no-deps \
        --force-reinstall "$nightly"
    fi &&
    if [[ $name == hub-nightly ]]; then
      hub="keras-hub-nightly==$HUB_NIGHTLY"; [ "$HUB_NIGHTLY" = latest ] && hub=keras-hub-nightly
      # --pre for the nightly alone: with it pip also takes pre-releases of its requirements
      # (tokenizers 1.0.0rc3, which keras_hub cannot import).
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --pre --no-deps "$hub" &&
      "$venv/bin/python" -m pip install -q --disable-pip-version-check "keras-hub-nightly==$(
        "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("keras-hub-nightly"))')"
    fi &&
    if [[ $name == hub-oldest ]]; then
      # shellcheck disable=SC2086 - a word list of requirement specifiers
      "$venv/bin/python" -m pip install -q --disable-pip-version-check $HUB_DEPS tensorflow-text &&
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "keras-hub==$OLDEST_HUB"
    fi
  } >"$log" 2>&1
  installed=$?
  tests=("${RUNTIME_TESTS[@]}")
  [[ $name == hub-* ]] && tests=("${HUB_ROW_TESTS[@]}")
  VERSIONS[$name]=$("$venv/bin/python" -c "
import importlib.metadata as m
def version(n):
    try:
        return f'{n} {m.version(n)}'
    except m.PackageNotFoundError:
        return ''
names = ['keras', 'keras-nightly', '$backend', 'keras-hub', 'keras-hub-nightly']
print(' '.join(v for v in map(version, names) if v))" 2>/dev/null || echo "not installed")
  if [ $installed -ne 0 ]; then
    RESULT[$name]="install failed (see $log)"
  elif KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=$ROOT \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider -n auto --dist loadfile "${tests[@]}" >>"$log" 2>&1; then
    RESULT[$name]=$(tail -1 "$log" | sed 's/=//g; s/^ *//; s/ *$//')
    if [[ $name == nightly-* ]]; then
      # shellcheck disable=SC2086 - a word list of requirement specifiers
      if "$venv/bin/python" -m pip install -q --disable-pip-version-check $HUB_DEPS >>"$log" 2>&1 &&
         "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
           keras-hub==0.32.0 >>"$log" 2>&1 &&
         KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=$ROOT \
           "$venv/bin/python" -m pytest -q -p no:cacheprovider "${HUB_TESTS[@]}" >>"$log" 2>&1; then
        RESULT[$name]+="; with keras-hub 0.32: $(tail -1 "$log" | sed 's/=//g; s/^ *//; s/ *$//')"
      else
        RESULT[$name]="FAILED with keras-hub 0.32: $(tail -1 "$log" | sed 's/=//g; s/^ *//') (see $log)"
      fi
      # The runtime tests skip keras_hub models where it is not installed, not where it is broken.
      "$venv/bin/python" -m pip uninstall -q -y keras-hub >>"$log" 2>&1
    fi
  else
    RESULT[$name]="FAILED: $(tail -1 "$log" | sed 's/=//g; s/^ *//') (see $log)"
  fi
  TIME[$name]=$(( $(date +%s) - start ))
  echo "$name: ${RESULT[$name]} (${TIME[$name]} s)" >&2
done

# Forward compatibility: convert with the newest Keras, load and predict with the oldest.
cross=""
if [ $CROSS -eq 1 ] && [ -x "$MATRIX/tf-newest/bin/python" ] && [ -x "$MATRIX/tf-oldest/bin/python" ]; then
  start=$(date +%s)
  out=$MATRIX/converted
  rm -rf "$out" && mkdir -p "$out"
  ok=0; bad=0; skipped=0
  for f in sample_models/*.keras sample_models/*.h5; do
    for mode in standard perma; do
      base=$(basename "$f"); dest=$out/${base%.*}_${base##*.}_$mode.keras  # cnn.keras and cnn.h5 apart
      if ! TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=$ROOT "$MATRIX/tf-newest/bin/python" -m dropctl convert "$f" \
          "$dest" --$mode --target-keras $OLDEST_KERAS >>"$MATRIX/cross.log" 2>&1; then
        skipped=$((skipped + 1)); continue  # convert refused (its own tests cover why)
      fi
      if TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=$ROOT "$MATRIX/tf-oldest/bin/python" -c "
import sys, numpy as np, keras, dropctl.layers
m = keras.models.load_model(sys.argv[1])
xs = [np.zeros((2, *[d or 8 for d in t.shape[1:]]), t.dtype) for t in m.inputs]
m.predict(xs if len(xs) > 1 else xs[0], verbose=0)" "$dest" >>"$MATRIX/cross.log" 2>&1; then
        ok=$((ok + 1))
      else
        bad=$((bad + 1)); echo "cross: $dest does not load/predict in Keras $OLDEST_KERAS" >&2
      fi
    done
  done
  cross="converted with the newest Keras, loaded+predicted with Keras $OLDEST_KERAS: $ok ok, $bad failed, $skipped not converted ($(( $(date +%s) - start )) s)"
  [ $ok -gt 0 ] || RESULT[cross]="FAILED"
  [ $bad -eq 0 ] || RESULT[cross]="FAILED"
fi

echo
printf '%-11s %-34s %6s  %s\n' combination versions secs result
status=0
for name in "${ORDER[@]+"${ORDER[@]}"}"; do
  printf '%-11s %-34s %6s  %s\n' "$name" "${VERSIONS[$name]}" "${TIME[$name]}" "${RESULT[$name]}"
  [[ "${RESULT[$name]}" == *passed* && "${RESULT[$name]}" != *FAILED* ]] || status=1
done
[ -n "$cross" ] && echo "$cross"
[ "${RESULT[cross]:-}" != "FAILED" ] || status=1
exit $status
