#!/usr/bin/env bash
# dockerfile_packages: the Dockerfile installs exactly the build packages of
# scripts/setup (its BUILD_PKGS array), so the image builds what a developer
# builds. Both files are parsed as text; nothing is installed or built.
# Exit: 0 pass, 1 fail.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
dockerfile=$root/Dockerfile
setup=$root/scripts/setup

# BUILD_PKGS=(a b
#	c d)  ->  one name a line
setup_pkgs()
{
	awk '/^[[:space:]]*BUILD_PKGS=\(/ { on = 1; sub(/.*BUILD_PKGS=\(/, "") }
	     on { line = $0; if (sub(/\).*/, "", line)) { print line; exit } ; print line }' "$setup" |
		tr -s ' \t' '\n' | grep -v '^$' | sort
}

# The words after "apt-get install" in the Dockerfile, continuation lines
# joined, up to the next "&&", options dropped.
docker_pkgs()
{
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" |
		grep -E '^RUN .*apt-get( -[^ ]+)* install' |
		sed -E 's/.*apt-get( -[^ ]+)* install//; s/&&.*//' |
		tr -s ' \t' '\n' | grep -v -e '^$' -e '^-' | sort
}

[ -r "$setup" ] || { echo "FAIL: $setup not readable"; exit 1; }
[ -r "$dockerfile" ] || { echo "FAIL: $dockerfile not readable"; exit 1; }

want=$(setup_pkgs)
got=$(docker_pkgs)
nwant=$(printf '%s\n' "$want" | grep -c .)
ngot=$(printf '%s\n' "$got" | grep -c .)
echo "scripts/setup BUILD_PKGS ($nwant): $(echo $want)"
echo "Dockerfile apt-get install ($ngot): $(echo $got)"

# An empty parse on either side would make the comparison meaningless.
if [ "$nwant" -lt 3 ] || [ "$ngot" -lt 3 ]; then
	echo "FAIL: could not parse the package lists (found $nwant and $ngot packages)"
	exit 1
fi
if ! grep -qE '^FROM debian:12([[:space:]]|$)' "$dockerfile"; then
	echo "FAIL: the Dockerfile's base is not debian:12"
	exit 1
fi

dups=$(printf '%s\n' "$got" | uniq -d)
only_setup=$(comm -23 <(printf '%s\n' "$want" | sort -u) <(printf '%s\n' "$got" | sort -u))
only_docker=$(comm -13 <(printf '%s\n' "$want" | sort -u) <(printf '%s\n' "$got" | sort -u))
status=0
[ -z "$only_setup" ] || { echo "FAIL: in scripts/setup but not in the Dockerfile: $(echo $only_setup)"; status=1; }
[ -z "$only_docker" ] || { echo "FAIL: in the Dockerfile but not in scripts/setup: $(echo $only_docker)"; status=1; }
[ -z "$dups" ] || { echo "FAIL: listed twice in the Dockerfile: $(echo $dups)"; status=1; }
[ $status -ne 0 ] || echo "dockerfile_packages: pass (same $ngot packages, base debian:12)"
exit $status
