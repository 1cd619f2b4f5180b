# One image for `vstream controller` and the `vstream auth` sidecar it injects into every stream pod.
# Node 24 runs the TypeScript sources directly (type stripping), so there is no compile stage: the build stage only
# installs production dependencies from the lockfile.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# The node image's unprivileged user; the chart and the stream pods run as UID 65532 with a read-only root.
USER 65532:65532
ENTRYPOINT ["node", "/app/src/cli.ts"]
CMD ["--help"]
