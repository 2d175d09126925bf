#!/usr/bin/env bash
# Build, test, sanitize and benchmark zkern on a machine with an NVIDIA GPU.
#   scripts/gpu-check.sh [build] [test] [memcheck] [racecheck] [bench] [torch]
# (no argument = all of them).  Logs go to $OUT (default: gpu-logs/).
# Where the Debian packages of scripts/install-deps.sh cannot be installed
# (a GPU machine without network), the .deb files in .debs/ are unpacked
# into a private prefix instead: fetch them beforehand with
#   mkdir -p .debs && (cd .debs && apt-get download libdlpack-dev libcmocka-dev libcmocka0 \
#     libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
BUILD=${BUILD:-build-gpu}
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test memcheck racecheck bench torch)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
status=0

prefix_args=()
if [ ! -f /usr/include/dlpack/dlpack.h ] || [ ! -f /usr/include/cmocka.h ] ||
   [ ! -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ]; then
  root=/tmp/zkern-prefix
  if [ ! -d $root ]; then
    mkdir -p $root
    for f in .debs/*.deb; do dpkg -x "$f" $root; done
  fi
  prefix_args=(-DCMAKE_PREFIX_PATH=$root/usr)
  export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu/openblas-pthread:$root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
fi

if want build; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DZK_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90-real} "${prefix_args[@]}" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
  echo "build: ok"
fi

if want test; then
  # The CPU suite is CI's job (and slow on the GPU host): here the cuda label.
  (cd "$BUILD" && ctest -L cuda -j "$(nproc)" --output-on-failure) > "$OUT/ctest.log" 2>&1 || status=1
  grep -E "tests passed|Failed|\*\*\*|Skipped" "$OUT/ctest.log" | tail -20
  "$BUILD/zkern" check --backend cuda > "$OUT/check-cuda.log" 2>&1 || status=1
  tail -3 "$OUT/check-cuda.log"
fi

# Each family's CUDA suite under the tool, the families side by side.
sanitize() {
  local tool=$1 fam pids=() fams=()
  for fam in $(cd tests && ls *_test.c | sed 's/_test\.c$//' | grep -vx 'core\|header'); do
    ZK_SWEEP=sanitizer timeout 900 compute-sanitizer --tool "$tool" --error-exitcode 3 \
      "$BUILD/zk_family_test" "$fam" cuda > "$OUT/$tool-$fam.log" 2>&1 &
    pids+=($!)
    fams+=("$fam")
  done
  local i rc
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    rc=$?
    echo "$tool ${fams[$i]}: exit $rc"
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && status=1
  done
  cat "$OUT/$tool"-*.log | grep -E "ERROR SUMMARY|RACECHECK SUMMARY" | sort | uniq -c
}
want memcheck && sanitize memcheck
want racecheck && sanitize racecheck

if want bench; then
  "$BUILD/zkern" bench --backend cuda --out "$OUT/bench-cuda.json" > "$OUT/bench-cuda.txt" 2>&1 || status=1
  cat "$OUT/bench-cuda.txt"
fi

if want torch; then
  PYTHONUNBUFFERED=1 python3 bench/peers/torch_compare.py --lib "$BUILD/libzkern.so" \
    --json "$OUT/torch.json" > "$OUT/torch.txt" 2>&1 || status=1
  cat "$OUT/torch.txt"
fi
exit $status
