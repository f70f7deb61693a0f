#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Compile-fail test of the RAY_REMOTE typed stubs: good.c must compile and
# every bad_*.c must be rejected by the compiler (wrong argument count,
# incompatible argument type, unsupported type). Usage: check.sh CC DIR INC
set -u
CC="$1"; DIR="$2"; INC="$3"
FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-function -I$INC -I$DIR -c -o /dev/null"
if ! $CC $FLAGS "$DIR/good.c" 2>/tmp/rayc_cf_good.$$; then
    echo "FAIL: good.c does not compile:"; cat /tmp/rayc_cf_good.$$
    rm -f /tmp/rayc_cf_good.$$; exit 1
fi
rm -f /tmp/rayc_cf_good.$$
fails=0; n=0
for f in "$DIR"/bad_*.c; do
    n=$((n + 1))
    if $CC $FLAGS "$f" 2>/dev/null; then
        echo "FAIL: $(basename "$f") compiled but must not"; fails=$((fails + 1))
    else
        echo "ok: $(basename "$f") rejected"
    fi
done
echo "compile-fail cases: $n, unexpected successes: $fails"
[ "$fails" -eq 0 ] && [ "$n" -ge 10 ]
