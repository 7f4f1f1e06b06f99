#!/bin/sh
# make demo: etrn -v against the project's scripted SMTP server on loopback,
# replying as Postfix does.  The server stops with this script.
etrn=${1:-./etrn}
dir=$(mktemp -d) || exit 1
# The file exists before the server writes it: grep never misses it.
: >"$dir/port"
python3 test/smtpd.py --host 127.0.0.1 --port 0 --profile postfix \
    --lifetime 60 >"$dir/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ $i -lt 50 ] && ! grep -q '^port ' "$dir/port"; do
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's/^port //p' "$dir/port")
[ -n "$port" ] || { echo "demo: the scripted server did not start" >&2; exit 1; }
echo "\$ $etrn -v 127.0.0.1:$port example.org"
"$etrn" -v "127.0.0.1:$port" example.org
status=$?
echo "exit status $status"
exit $status
