# tests/setup.sh — sourced by tests/all.sh and tests/demo.sh: installs the
# Debian bookworm packages sessiongate builds and tests with, then builds.
# Idempotent: packages already present are not fetched again.

SG_PACKAGES="meson ninja-build pkg-config gcc clang-14 libclang-rt-14-dev
  libevent-dev libssl-dev zlib1g-dev libjansson-dev libyaml-dev check node-llhttp
  python3 python3-flask python3-flask-login python3-itsdangerous python3-fastapi
  python3-uvicorn python3-websockets python3-requests curl wrk nginx-light haproxy procps
  systemd python3-yaml"

sg_install_deps() {
	local missing=()
	local p
	for p in $SG_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "setup: installing ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# sg_build DIR [meson options...]: configure once, then build.
sg_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
}
