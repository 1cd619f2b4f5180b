# syntax=docker/dockerfile:1
# One image for `vstream controller` and the `vstream auth` sidecar it injects into every stream pod.
# Its file system comes from scripts/image-rootfs.ts, the recipe the real-node tier also builds it with (dev/images.ts,
# no container engine there): a distroless-style base from Debian 12 packages (glibc, libstdc++, CA certificates,
# tzdata; no shell, no package manager), Node 24 from the `node` npm package, and the JavaScript `npm run build`
# compiles (type stripping at run time would cost ~18 MiB of RSS per process) with the production dependencies only.
# test/unit/image.test.ts checks that this file and the recipe agree (layers, user, workdir, entrypoint, inputs).
FROM node:24-bookworm-slim AS build
WORKDIR /src
# apt lists for `apt-get download` (the packages are unpacked with dpkg-deb -x; none is installed here)
RUN apt-get update
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY scripts/image-rootfs.ts ./scripts/image-rootfs.ts
RUN npm run build && node scripts/image-rootfs.ts /rootfs --debs /tmp/debs

FROM scratch
COPY --from=build /rootfs/base/ /
COPY --from=build /rootfs/node/ /
COPY --from=build /rootfs/app/ /
# COPY makes everything root's; the non-root user's home is its own, as in the recipe.
COPY --from=build --chown=65532:65532 /rootfs/base/home/nonroot/ /home/nonroot/
ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The chart and the stream pods run as UID 65532 with a read-only root filesystem.
USER 65532:65532
WORKDIR /app
ENTRYPOINT ["/usr/local/bin/node", "/app/src/cli.js"]
CMD ["--help"]
