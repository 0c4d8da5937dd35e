# dpdk-devourer in a container: Debian 12 with exactly the build packages of
# scripts/setup (BUILD_PKGS; tests/ops/dockerfile_packages.sh keeps the two
# lists equal), built with meson and installed under /usr. One stage: the
# build packages pull in the DPDK, libpcap, Jansson, libcurl and OpenSSL
# runtime libraries the program needs anyway.
#
#   docker build -t dpdk-devourer .
#   docker run --rm -v "$PWD:/data" dpdk-devourer --read /data/trace.pcap
#
# Live capture needs privileges and mounts: see docs/docker.md.
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
	gcc meson ninja-build pkg-config libdpdk-dev dpdk libpcap-dev libjansson-dev \
	uuid-dev libcurl4-openssl-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler ca-certificates libgrpc-dev \
	libsystemd-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN meson setup /build --prefix=/usr -Dtests=false \
 && ninja -C /build \
 && meson install -C /build \
 && rm -rf /build

# The spool must outlive the container: mount a volume here.
VOLUME /var/lib/devourer
WORKDIR /var/lib/devourer
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/dpdk-devourer"]
CMD ["--help"]
