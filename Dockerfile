# syntax=docker/dockerfile:1
# The `roster` command in a container: `docker run IMAGE node --nats nats://…`,
# `docker run IMAGE gateway --config /etc/roster/gateway.yaml`, `docker run IMAGE --help`.
# docker-compose.yml builds it for the whole topology (docs/operations.md, "Containers").

# --- build: compile TypeScript to dist/ -------------------------------------------------------
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY protocol ./protocol
COPY transport ./transport
COPY nodes ./nodes
COPY client ./client
COPY gateway ./gateway
COPY cli ./cli
RUN npm run build

# --- runtime: production dependencies and dist/ only, as a non-root user ----------------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
USER node
# The registry node's and gateway's usual ports (each only when configured).
EXPOSE 8080 8500 9100 9901
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["--help"]
