#!/bin/sh
# Run etrn under valgrind's memcheck: any memory error or a leak that is
# definitely lost makes the run exit 99, which no test expects.  For the
# integration suites: ETRN=test/valgrind-etrn.sh ETRN_SLACK=2 python3 ...
# ETRN_BIN names the binary (default: ./etrn beside this folder).
here=$(cd "$(dirname "$0")/.." && pwd)
exec valgrind --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --track-fds=no -q "${ETRN_BIN:-$here/etrn}" "$@"
