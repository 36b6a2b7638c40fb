# One image for every Ebb process: the API, the workers (EBB_ROLE) and the dashboard (another command).
# Built from the repository root: docker build -t ebb .
FROM node:20-bookworm-slim AS build
WORKDIR /ebb
COPY package.json package-lock.json ./
COPY packages/ packages/
COPY apps/ apps/
COPY prisma/ prisma/
COPY tsconfig.json tsconfig.base.json ./
RUN npm ci --ignore-scripts && npm run build && npm run build -w @ebb/dashboard && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /ebb
# openssh-client is not needed: the ssh executor speaks SSH itself (ssh2). redis-server is not installed:
# a production Ebb is given REDIS_URL.
COPY --from=build /ebb /ebb
USER node
EXPOSE 4000 3000
CMD ["node", "apps/api/dist/main.js"]
