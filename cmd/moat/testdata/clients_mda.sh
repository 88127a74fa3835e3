#!/bin/sh
# clients_mda.sh DIR — minimal MDA for the fetchmail end-to-end test (from
# ../shared/bench/clients/mda_to_dir.sh): stores the message on stdin as
# DIR/<epoch-ns>-<pid>.eml through a temporary file and a rename, so a reader
# never sees a partial file. Exit 0 = delivered; anything else makes fetchmail
# keep the message on the server.
set -eu
dir=${1:?usage: clients_mda.sh DIR}
mkdir -p "$dir"
name="$(date +%s%N)-$$.eml"
cat > "$dir/.$name.tmp"
mv "$dir/.$name.tmp" "$dir/$name"
