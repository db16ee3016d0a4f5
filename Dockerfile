# Roster: `roster serve` in a container. Runs the TypeScript sources through tsx (no build step).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
# connectors/ holds each source's connector and its simulator (product code: `roster demo`, `roster sim`).
COPY connectors ./connectors
COPY migrations ./migrations
COPY reports ./reports
USER node
ENTRYPOINT ["node", "bin/roster.js"]
CMD ["serve", "--host", "0.0.0.0"]
