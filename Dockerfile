# One image for every Ebb process: the API, the workers (EBB_ROLE), the one-shot migrations and the
# dashboard (another command, see docker-compose.yml). Built from the repository root: docker build -t ebb .
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /ebb
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.base.json ./
COPY packages/ packages/
COPY apps/ apps/
COPY prisma/ prisma/
COPY scripts/ scripts/
# --ignore-scripts: package.json's allowScripts denies every install script, and the image's npm may
# predate that policy. The dashboard is built once, by `npm run build`, as a standalone Next server that
# carries the few modules it needs (apps/dashboard/next.config.ts).
RUN npm ci --ignore-scripts --no-audit --no-fund && EBB_DASHBOARD_STANDALONE=1 npm run build

# The API's and workers' production dependencies only: no Next, React, TypeScript or test tools.
FROM ${NODE_IMAGE} AS deps
WORKDIR /ebb
COPY package.json package-lock.json .npmrc ./
COPY apps/api/package.json apps/api/
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/lab/package.json apps/lab/
COPY packages/cli/package.json packages/cli/
COPY packages/contracts/package.json packages/contracts/
COPY packages/core/package.json packages/core/
COPY packages/drivers/package.json packages/drivers/
COPY packages/engine/package.json packages/engine/
COPY packages/l4/package.json packages/l4/
COPY packages/testkit/package.json packages/testkit/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      -w @ebb/api -w @ebb/contracts -w @ebb/core -w @ebb/drivers -w @ebb/engine -w @ebb/l4

FROM ${NODE_IMAGE}
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1
WORKDIR /ebb
# openssh-client is not needed: the ssh executor speaks SSH itself (ssh2). redis-server is not installed:
# a production Ebb is given REDIS_URL. What runs, and nothing else: compiled code, the SQL migrations,
# the built-in runbooks (read from packages/core/src/runbook/builtin at run time) and the dashboard.
COPY --from=deps /ebb/node_modules node_modules/
COPY --from=build /ebb/package.json ./
COPY --from=build /ebb/prisma/migrations prisma/migrations/
COPY --from=build /ebb/apps/api/package.json apps/api/
COPY --from=build /ebb/apps/api/dist apps/api/dist/
COPY --from=build /ebb/packages/contracts/package.json packages/contracts/
COPY --from=build /ebb/packages/contracts/dist packages/contracts/dist/
COPY --from=build /ebb/packages/core/package.json packages/core/
COPY --from=build /ebb/packages/core/dist packages/core/dist/
COPY --from=build /ebb/packages/core/src/runbook/builtin packages/core/src/runbook/builtin/
COPY --from=build /ebb/packages/drivers/package.json packages/drivers/
COPY --from=build /ebb/packages/drivers/dist packages/drivers/dist/
COPY --from=build /ebb/packages/engine/package.json packages/engine/
COPY --from=build /ebb/packages/engine/dist packages/engine/dist/
COPY --from=build /ebb/packages/l4/package.json packages/l4/
COPY --from=build /ebb/packages/l4/dist packages/l4/dist/
# The `ebb` CLI, for CI jobs that run in this image (no dependency of its own).
COPY --from=build /ebb/packages/cli/package.json packages/cli/
COPY --from=build /ebb/packages/cli/bin packages/cli/bin/
COPY --from=build /ebb/packages/cli/dist packages/cli/dist/
# The standalone dashboard keeps the monorepo layout under its own root: server.js in apps/dashboard,
# static assets beside it (Next leaves copying them to us).
COPY --from=build /ebb/apps/dashboard/.next/standalone dashboard/
COPY --from=build /ebb/apps/dashboard/.next/static dashboard/apps/dashboard/.next/static/
# The code stays root-owned and read-only to the `node` user; it may write only Ebb's data folder (lock
# files, PGlite when there is no DATABASE_URL) and the dashboard's cache.
RUN mkdir -p .ebb dashboard/apps/dashboard/.next/cache \
  && chown -R node:node .ebb dashboard/apps/dashboard/.next/cache
USER node
EXPOSE 4000 3000
CMD ["node", "apps/api/dist/main.js"]
