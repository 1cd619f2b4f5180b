# One image for `vstream controller` and the `vstream auth` sidecar it injects into every stream pod.
# build: compile TypeScript to JavaScript (type stripping at run time would cost ~18 MiB of RSS per process)
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# deps: production dependencies only, from the lockfile
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./
# The chart and the stream pods run as UID 65532 with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["node", "/app/src/cli.js"]
CMD ["--help"]
