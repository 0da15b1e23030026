# syntax=docker/dockerfile:1
#
# Geowarden in a container.
#
#   docker build -t geowarden .
#   docker run -d --name geowarden --network host --cap-add NET_RAW --cap-add NET_ADMIN \
#     -v /etc/geowarden:/etc/geowarden:ro -v geowarden-state:/var/lib/geowarden geowarden
#
# The short form (the config directory must hold geowarden.yaml):
#   docker run --network host --cap-add NET_RAW --cap-add NET_ADMIN -v /etc/geowarden:/etc/geowarden:ro geowarden
#
# --network host: the container must see the gateway's LAN interface itself; in a bridge network
# it would only see its own veth. Both --cap-add flags are required, see the runtime stage.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
# Build: compile TypeScript, build the pcap binding and the capture-file reader against
# libpcap-dev, build geoip/asn.mmdb,
# then drop the dev dependencies so node_modules can be copied as it is.
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not redo npm ci (and the native builds). npm ci
# also builds the project's own capture-file reader (binding.gyp), so its source comes first too.
COPY package.json package-lock.json binding.gyp ./
COPY src/capture/native ./src/capture/native
RUN npm ci --no-audit --no-fund
# scripts/ and bench/ import test/support (scenario builders), so tsc needs test/ too.
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY test ./test
COPY bench ./bench
COPY config ./config
COPY geoip ./geoip
RUN npm run build \
 && npm run build-geoip \
 && npm prune --omit=dev

# ---------------------------------------------------------------------------------------------
# Runtime: libpcap and Node only.
FROM ${NODE_IMAGE} AS runtime

# The daemon runs as the unprivileged user geowarden. --cap-add puts CAP_NET_RAW/CAP_NET_ADMIN in
# the container's bounding set, but a process of a non-root USER starts with empty permitted and
# effective sets, so capture would still fail with EPERM. File capabilities on the node binary
# grant them at exec. setcap comes from libcap2-bin, installed and purged in the same layer; it
# runs here rather than in the build stage because COPY --from is not guaranteed to carry the
# security.capability xattr across stages.
# Consequence: the kernel refuses to exec a binary whose file capabilities are outside the
# bounding set, so without BOTH --cap-add flags every node command in this image, the
# HEALTHCHECK included, fails with "operation not permitted". Docker grants NET_RAW by default,
# NET_ADMIN it does not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 libcap2-bin \
 && setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/node \
 && apt-get purge -y --auto-remove libcap2-bin \
 && rm -rf /var/lib/apt/lists/*

# StateDirectory of the systemd unit, likewise: geoip.update downloads go to /var/lib/geowarden/geoip.
RUN groupadd --system geowarden \
 && useradd --system --gid geowarden --home-dir /var/lib/geowarden --shell /usr/sbin/nologin geowarden \
 && install -d -o geowarden -g geowarden -m 0750 /var/lib/geowarden /var/lib/geowarden/geoip \
 && install -d -m 0755 /etc/geowarden

WORKDIR /opt/geowarden
# package.json: read for --version, and how the code finds its install root (geoip/, config/).
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/build/Release/capture_file_reader.node ./build/Release/
COPY --from=build /src/dist ./dist
COPY --from=build /src/geoip ./geoip
COPY --from=build /src/config ./config
# Memory (README "Memory"): the daemon keeps V8's heap at about 1.25 times its live tables; with
# every table full at the default sizes the RSS is about 570 MiB, 128 MiB of it the capture ring.
# Tune with -e GEOWARDEN_HEAP_GROWING_PERCENT=N (0: V8's own defaults) or cap the heap with
# -e NODE_OPTIONS=--max-old-space-size=MiB; give --memory at least the expected RSS plus 100 MiB.

USER geowarden
VOLUME ["/var/lib/geowarden"]
# server.listen; the default 127.0.0.1:9847 is reachable on the host with --network host. The
# HEALTHCHECK asks the same address: change both if the config listens elsewhere.
EXPOSE 9847
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9847/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run", "--config", "/etc/geowarden/geowarden.yaml"]
