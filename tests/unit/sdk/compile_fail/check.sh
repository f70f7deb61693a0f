#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Compile-fail test of the typed stubs and macros of <ray/ray.h>, as a
# user's plain build sees them. good.c must compile cleanly with -Wall
# -Wextra -Werror. Every bad_*.c must be rejected by a plain
# `$CC -std=c11 -c` (no -Werror: a warning is no rejection) with the
# diagnostic its `expect: REGEX` comment line names (grep -E over the
# compiler's output). Usage: check.sh CC DIR INC
set -u
CC="$1"; DIR="$2"; INC="$3"
export LC_ALL=C # plain quotes in the compiler's messages
PLAIN="-std=c11 -I$INC -I$DIR -c -o /dev/null"
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
if ! $CC $PLAIN -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-function \
        "$DIR/good.c" >"$out" 2>&1; then
    echo "FAIL: good.c does not compile cleanly:"; cat "$out"; exit 1
fi
fails=0; n=0
for f in "$DIR"/bad_*.c; do
    n=$((n + 1))
    name=$(basename "$f")
    want=$(sed -n 's/^ \* expect: //p' "$f" | head -1)
    if [ -z "$want" ]; then
        echo "FAIL: $name has no ' * expect: REGEX' line"; fails=$((fails + 1))
    elif $CC $PLAIN "$f" >"$out" 2>&1; then
        echo "FAIL: $name compiled but must not:"; cat "$out"
        fails=$((fails + 1))
    elif ! grep -Eq -- "$want" "$out"; then
        echo "FAIL: $name rejected, but not with /$want/:"; cat "$out"
        fails=$((fails + 1))
    else
        echo "ok: $name: $(grep -Em1 -- "$want" "$out" | sed 's/^[^ ]* //')"
    fi
done
echo "compile-fail cases: $n, failures: $fails"
[ "$fails" -eq 0 ] && [ "$n" -ge 10 ]
